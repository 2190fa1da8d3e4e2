"""Row builders of the tables the rule models read: one function per table (or family), each
turning a household, person or address into rows, i.e. dicts of field code → BCP text value
(None = NULL). The same builders feed FULL packages, INCR packages and change messages.

Fields a table has in the catalogue but a builder does not set are filled by ``generic.py``.
Every date a builder writes is on or before the city's day (later ones become NULL), so that
clean output raises no ``date after created`` flag.
"""

from __future__ import annotations

import random

from dz_assets.catalog import load_catalogue

from .population import Household, Person, day_text


def division_name(code: str) -> str:
    table = load_catalogue().code_tables.get("GB/T 2260")
    return table.codes.get(code, "") if table else ""


PERSON_TABLES = (
    "HZ_HJRKJBXX", "YBSS_SYRKXX", "HZ_SWZXHKXX", "HZ_QHCXX", "HZ_CGJDJZXHKXX", "HZ_XSJJLHXX",
    "ZDR_TDDXSXXX", "ZDR_GARYJHRXX", "ZDR_GARYFXPDXX", "ZDR_TDDXRYJZGJXX", "ZHXQ_ZHXQRYZCXX",
    "ZHXQ_ZHXQRYJCJLXX", "EZC_MDJFFXYHJBXX", "EZC_MDJFFXYHDSRXX", "EZC_RHZFJBXX", "EZC_RHZFRYXX",
    "YBSS_AJXX",
)
ADDRESS_TABLES = ("YBSS_BZDZJLXXX", "YBSS_BZDZMLXX", "YBSS_BZDZCHXX", "ZHXQ_ZHXQJCXX")
ACCESS_DAYS = 40  # smart-community access records cover the 40 days before the city's day


_CLOCK = [f"{s // 3600:02d}{s // 60 % 60:02d}{s % 60:02d}" for s in range(86400)]  # HHMMSS, ~5 MB once


def dt(day: int, secs: int = 0) -> str:
    """``YYYYMMDDHHMMSS`` of a day index plus seconds into it."""
    return day_text(day) + _CLOCK[secs]


d = day_text


def person_row(hh: Household, p: Person) -> dict:
    return {
        "RYBH": p.rybh, "GMSFHM": p.gmsfhm, "XM": p.xm, "XBDM": p.xb, "MZDM": p.mz,
        "CSRQ": d(p.birth), "HH": hh.hh, "YHZGXDM": p.rel, "HJDZ_DZBM": hh.hukou_dzbm,
        "HJDZ_XZQHDM": hh.hukou_county, "HJDZ_DZMC": hh.hukou_dzmc, "RYZTDM": p.status,
        "DJSJ": dt(p.reg_day, 36000 + (p.member * 977) % 20000),
        "XP": f"files/XP/{p.rybh}.png" if p.photo else None,
    }


def resident_row(hh: Household, p: Person, active: bool, today: int) -> dict:
    return {
        "SYRKBH": "S" + p.rybh[1:], "GMSFHM": p.gmsfhm, "XM": p.xm,
        "RYLBDM": "1" if hh.local else "2", "JZDZ_DZBM": hh.dzbm, "JZDZ_XZQHDM": hh.county,
        "DJRQ": d(min(today - 1, p.reg_day + 3)), "ZXBS": "0" if active else "1",
    }


def person_rows(rng: random.Random, hh: Household, p: Person, today: int, want) -> list:
    """(table, row) pairs of one person: hukou, 实有人口, cancellations, ZDR records, cases."""
    out = []
    alive = p.status == "1"
    key = p.rybh[1:]
    if hh.local and "HZ_HJRKJBXX" in want:
        out.append(("HZ_HJRKJBXX", person_row(hh, p)))
    # a cancelled person usually leaves 实有人口 too; ~12% linger (the ZX models' cases)
    active = alive or rng.random() < 0.12
    registered = hh.local or rng.random() >= 0.05  # some migrants are not registered yet
    if "YBSS_SYRKXX" in want and registered:
        out.append(("YBSS_SYRKXX", resident_row(hh, p, active, today)))
    if p.status == "2":
        out.append(("HZ_SWZXHKXX", {"YWLSH": "SW" + key, "GMSFHM": p.gmsfhm, "XM": p.xm,
                                     "SWRQ": d(p.event_day),
                                     "ZXRQ": d(min(today - 1, p.event_day + rng.randint(3, 30)))}))
    elif p.status == "3":
        out.append(("HZ_QHCXX", {"YWLSH": "QC" + key, "GMSFHM": p.gmsfhm, "XM": p.xm,
                                  "QCRQ": d(p.event_day), "QWDXZQHDM": p.event_to,
                                  "QWDXZ": f"{division_name(p.event_to)}人民路{rng.randint(1, 300)}号"}))
    elif p.status == "4":
        out.append(("HZ_CGJDJZXHKXX", {"YWLSH": "CJ" + key, "GMSFHM": p.gmsfhm, "XM": p.xm,
                                        "CJRQ": d(p.event_day - rng.randint(30, 400)),
                                        "QWGJDQDM": p.event_to, "ZXRQ": d(p.event_day)}))
    for i, attr in enumerate(p.attrs):
        out.extend(_zdr_rows(rng, hh, p, attr, i, today))
    if alive and rng.random() < 0.002 and p.birth < today - 16 * 365:
        day = today - rng.randint(1, 700)
        out.append(("YBSS_AJXX", {"AJBH": f"AJ{hh.index:010d}{p.member:02d}", "SARYGMSFHM": p.gmsfhm,
                                   "AJLBDM": rng.choice(("01", "02", "02", "09")),
                                   "FASJ": dt(day, rng.randint(0, 86399)), "FADZ_DZBM": hh.dzbm}))
    return out


def _zdr_rows(rng, hh: Household, p: Person, attr: str, i: int, today: int) -> list:
    key = p.rybh[1:]
    start = today - rng.randint(30, 3000)
    end = None
    if attr == "0201":
        end = start + 5 * 365
    elif attr == "0401":
        end = start + rng.randint(2, 4) * 365
    rows = [("ZDR_TDDXSXXX", {"SXBH": f"SX{key}{i}", "GMSFHM": p.gmsfhm, "SXDM": attr,
                              "YXQSRQ": d(start), "YXQZRQ": d(end) if end and end < today else None})]
    if attr == "0201" and rng.random() < 0.7:
        moved = rng.random() < 0.15
        rows.append(("HZ_XSJJLHXX", {"YWLSH": "XS" + key, "GMSFHM": p.gmsfhm, "XM": p.xm,
                                      "SFRQ": d(start), "LHRQ": d(min(today - 1, start + rng.randint(10, 60))),
                                      "LHDZ_DZBM": hh.building.room_dzbm(1, 1, 1) if moved else hh.hukou_dzbm}))
    if attr == "0301":
        others = [m for m in hh.members if m is not p and m.birth < today - 18 * 365]
        if others and rng.random() < 0.85:
            g = others[0]
            rows.append(("ZDR_GARYJHRXX", {"JHBH": "JH" + key, "BJHRGMSFHM": p.gmsfhm,
                                            "JHRGMSFHM": g.gmsfhm, "JHRXM": g.xm}))
        for k in range(rng.randint(1, 3)):
            rows.append(("ZDR_GARYFXPDXX", {"PDBH": f"PD{key}{k}", "GMSFHM": p.gmsfhm,
                                             "FXDJ": str(min(5, rng.randint(0, 4) + (rng.random() < 0.2))),
                                             "PDRQ": d(today - rng.randint(1, 900))}))
    ks = today - rng.randint(60, 2000)
    rows.append(("ZDR_TDDXRYJZGJXX", {"GJBH": f"GJ{key}{i}", "GMSFHM": p.gmsfhm, "DZBM": hh.dzbm,
                                       "KSRQ": d(ks), "JSRQ": None}))
    return rows


def smart_rows(rng: random.Random, hh: Household, xqbm: str, today: int, want) -> list:
    """Registrations and access records of a household in a smart community: each living member
    comes and goes on a few of the last 40 days, one entry and one exit per such day."""
    out = []
    for p in hh.members:
        key = p.rybh[1:]
        lx = ("1" if hh.local else "2") if p.member == 1 else "3"  # owner or tenant, then family
        if lx == "3" and 16 * 365 <= today - p.birth <= 22 * 365 and rng.random() < 0.3:
            lx = "5"  # 学生
        out.append(("ZHXQ_ZHXQRYZCXX", {"ZCBH": "ZC" + key, "XQBM": xqbm, "GMSFHM": p.gmsfhm,
                                         "XM": p.xm, "ZZDZ_DZBM": hh.dzbm, "RYLXDM": lx,
                                         "ZCSJ": dt(max(p.reg_day, today - 2000), 32400 + p.member * 611)}))
        if p.status != "1":
            continue
        for off in sorted(rng.sample(range(1, ACCESS_DAYS + 1), rng.randint(0, 10))):
            day = today - off
            rnd = rng.random  # random() is ~4× cheaper than randint() on this hottest loop
            t_in = 21600 + int(rnd() * 57600)
            t_out = min(86399, t_in + 600 + int(rnd() * 13800))
            jl = f"JL{key}{off:02d}"
            out.append(("ZHXQ_ZHXQRYJCJLXX", {"JLBH": jl + "1", "XQBM": xqbm, "GMSFHM": p.gmsfhm,
                                               "CRSJ": dt(day, t_in), "CRFXDM": "1"}))
            out.append(("ZHXQ_ZHXQRYJCJLXX", {"JLBH": jl + "2", "XQBM": xqbm, "GMSFHM": p.gmsfhm,
                                               "CRSJ": dt(day, t_out), "CRFXDM": "2"}))
    return out


def community_rows(rng: random.Random, hh: Household, today: int, outsider) -> list:
    """Disputes (with parties, some 涉警情) and home visits (with the persons met)."""
    out = []
    living = [p for p in hh.members if p.status == "1"]
    if not living:
        return out
    if rng.random() < 0.006:
        for j in range(1 + (rng.random() < 0.1)):  # a few households quarrel again
            jfbh = f"JF{hh.index:010d}{j}"
            sj = rng.random() < 0.25
            day = today - rng.randint(1, 700)
            out.append(("EZC_MDJFFXYHJBXX", {"JFBH": jfbh, "JFLXDM": rng.choice(("01", "02", "03", "04", "09")),
                                              "FSSJ": dt(day, rng.randint(28800, 79200)), "DZBM": hh.dzbm,
                                              "SJQBS": "1" if sj else "0",
                                              "JQBH": f"JQ{hh.county}{day:06d}{hh.index % 100000:05d}" if sj else None}))
            parties = [living[0]] + ([living[1]] if len(living) > 1 and rng.random() < 0.5 else [])
            for k, p in enumerate(parties):
                out.append(("EZC_MDJFFXYHDSRXX", {"DSRBH": f"{jfbh}{k}", "JFBH": jfbh,
                                                   "GMSFHM": p.gmsfhm, "XM": p.xm}))
            if len(parties) == 1:
                gm, xm = outsider(rng)
                out.append(("EZC_MDJFFXYHDSRXX", {"DSRBH": f"{jfbh}9", "JFBH": jfbh, "GMSFHM": gm, "XM": xm}))
    if rng.random() < 0.05:
        zfbh = f"ZF{hh.index:010d}"
        out.append(("EZC_RHZFJBXX", {"ZFBH": zfbh, "DZBM": hh.dzbm,
                                      "ZFSJ": dt(today - rng.randint(1, 200), rng.randint(32400, 64800))}))
        for p in living:
            age = (today - p.birth) // 365
            sf = "1" if p.member == 1 else ("5" if 6 <= age <= 22 else ("3" if not hh.local else "2"))
            if not hh.local and 18 <= age <= 55 and rng.random() < 0.4:
                sf = "4"
            out.append(("EZC_RHZFRYXX", {"ZFRYBH": f"{zfbh}{p.member:02d}", "ZFBH": zfbh,
                                          "GMSFHM": p.gmsfhm, "XM": p.xm, "RYSFDM": sf}))
    return out
