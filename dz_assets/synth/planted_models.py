"""Planted cases of the fourteen rule models (spec/rule-models.md): for every model, persons or
places that must be found (positives) and ones a single condition short of it (near misses),
written into the tables the spec names.

They live apart from the city's households, on a planted street of their own (building numbers
far above any the city reaches) and with ID numbers of region ``511700``, which no resident or
outsider of the city draws; so they are the same at every scale and do not depend on the city's
random draws. Every date is relative to the evaluation day ``D``, the day before the city's day
(the FULL package's date): ``planted_as_of(date)``.

``planted_model_rows(seed, date)`` gives the rows (table, row), ``planted_model_cases(seed, date)``
the record tests and the demo check findings against.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass
from functools import cache

from dz_assets.catalog import idcard

from . import names
from .geography import COUNTIES, Geography
from .population import day_index, day_text
from .rng import sub_seed
from .tables import dt

EVAL_REGION = "511700"  # the city draws residents' and outsiders' IDs from county codes only
PLANTED_BUILDING_BASE = 900_000_000  # building indexes the city never reaches (~10^5 at 5.5M)
PLANTED_STREET_BASE = 9_900_000  # street indexes likewise (~10^4 at 5.5M)


@dataclass(frozen=True)
class PlantedCase:
    model_code: str
    kind: str  # "positive" or "near_miss"
    subject_gmsfhm: str | None
    subject_dzbm: str | None
    note: str

    def as_json(self) -> dict:
        return asdict(self)


def planted_as_of(date: str) -> str:
    """The evaluation day (YYYY-MM-DD) the planted cases are built for: the day before ``date``."""
    t = day_text(day_index(date) - 1)
    return f"{t[:4]}-{t[4:6]}-{t[6:]}"


class _Planter:
    def __init__(self, seed: int, date: str) -> None:
        self.rng = random.Random(sub_seed(seed, "planted-models"))
        self.geo = Geography(seed)
        self.D = day_index(date) - 1
        self.rows: list[tuple[str, dict]] = []
        self.cases: list[PlantedCase] = []
        self._seq = 0
        self._buildings: dict[str, int] = {}
        self._keys: dict[str, int] = {}
        self.outside = self.geo.other_divisions[0]

    # -- helpers -----------------------------------------------------------------------------
    def key(self, prefix: str) -> str:
        n = self._keys.get(prefix, 0) + 1
        self._keys[prefix] = n
        return f"{prefix}PM{n:06d}"

    def person(self, sex: str = "1") -> tuple[str, str]:
        self._seq += 1
        born = day_text(day_index("19800101") + self._seq * 37)
        gm = idcard.make_id(EVAL_REGION, born, self._seq * 2, sex)
        return gm, names.full_name(self.rng, sex)

    def _town(self, county: str):
        return self.geo.towns[county][0]

    def building(self, county: str) -> str:
        """The planted building (门楼) of a county, created on first use."""
        if county not in self._buildings:
            b = PLANTED_BUILDING_BASE + list(COUNTIES).index(county)
            self._buildings[county] = b
            town = self._town(county)
            street = f"{town.code}J{PLANTED_STREET_BASE + b % 100:07d}"
            self.rows.append(("YBSS_BZDZJLXXX", {
                "DZBM": street, "DZMC": f"四川省达州市{COUNTIES[county][0]}{town.name}核查路",
                "XZQHDM": county, "GAJGJGDM": self.geo.stations[county][0], "DZZTDM": "1",
                "DJSJ": dt(self.D - 2000, 36000), "GXSJ": dt(self.D - 1000, 36000)}))
            self.rows.append(("YBSS_BZDZMLXX", {
                "DZBM": f"{town.code}M{b:09d}", "DZMC": f"四川省达州市{COUNTIES[county][0]}{town.name}核查路{b % 100}号",
                "XZQHDM": county, "GAJGJGDM": self.geo.stations[county][0], "DZZTDM": "1",
                "SJDZBM": street, "DJSJ": dt(self.D - 2000, 36000), "GXSJ": dt(self.D - 1000, 36000)}))
        b = self._buildings[county]
        return f"{self._town(county).code}M{b:09d}"

    def room(self, county: str = "511702") -> str:
        """A new planted room (层户) in the county's planted building."""
        building = self.building(county)
        n = self._keys.get("room" + county, 0) + 1
        self._keys["room" + county] = n
        b = self._buildings[county]
        town = self._town(county)
        dzbm = f"{town.code}H{b:09d}1{n // 10 + 1:02d}{n % 10 + 1:02d}"
        self.rows.append(("YBSS_BZDZCHXX", {
            "DZBM": dzbm, "DZMC": f"四川省达州市{COUNTIES[county][0]}{town.name}核查路{b % 100}号1单元{n}室",
            "XZQHDM": county, "GAJGJGDM": self.geo.stations[county][0], "DZZTDM": "1", "SJDZBM": building,
            "LC": str(n // 10 + 1), "SH": f"{n:03d}", "DJSJ": dt(self.D - 2000, 36000), "GXSJ": dt(self.D - 1000, 36000)}))
        return dzbm

    def community(self, county: str = "511702") -> tuple[str, str]:
        """A planted smart community (its own room as its address)."""
        dzbm = self.room(county)
        xqbm = self.key("XQ")
        self.rows.append(("ZHXQ_ZHXQJCXX", {"XQBM": xqbm, "XQMC": f"核查{xqbm[-2:]}小区", "DZBM": dzbm,
                                             "XZQHDM": county}))
        return xqbm, dzbm

    def hukou(self, gm: str, xm: str, dzbm: str, county: str = "511702", status: str = "1") -> None:
        self.rows.append(("HZ_HJRKJBXX", {
            "RYBH": self.key("R"), "GMSFHM": gm, "XM": xm, "XBDM": "1" if int(gm[16]) % 2 else "2", "MZDM": "01",
            "CSRQ": gm[6:14], "HH": self.key("HH")[:20], "YHZGXDM": "02", "HJDZ_DZBM": dzbm, "HJDZ_XZQHDM": county,
            "HJDZ_DZMC": None, "RYZTDM": status, "DJSJ": dt(self.D - 3000, 36000), "XP": None}))

    def resident(self, gm: str, xm: str, dzbm: str, county: str = "511702", active: bool = True) -> None:
        self.rows.append(("YBSS_SYRKXX", {
            "SYRKBH": self.key("S"), "GMSFHM": gm, "XM": xm, "RYLBDM": "1", "JZDZ_DZBM": dzbm,
            "JZDZ_XZQHDM": county, "DJRQ": day_text(self.D - 1500), "ZXBS": "0" if active else "1"}))

    def access(self, gm: str, xqbm: str, day: int, secs: int = 36000, direction: str = "1") -> None:
        self.rows.append(("ZHXQ_ZHXQRYJCJLXX", {"JLBH": self.key("JL"), "XQBM": xqbm, "GMSFHM": gm,
                                                "CRSJ": dt(day, secs), "CRFXDM": direction}))

    def registration(self, gm: str, xm: str, xqbm: str, dzbm: str | None, lx: str, day: int) -> None:
        self.rows.append(("ZHXQ_ZHXQRYZCXX", {"ZCBH": self.key("ZC"), "XQBM": xqbm, "GMSFHM": gm, "XM": xm,
                                              "ZZDZ_DZBM": dzbm, "RYLXDM": lx, "ZCSJ": dt(day, 32400)}))

    def visit(self, gm: str, xm: str, dzbm: str, day: int, sf: str = "1") -> None:
        zfbh = self.key("ZF")
        self.rows.append(("EZC_RHZFJBXX", {"ZFBH": zfbh, "DZBM": dzbm, "ZFSJ": dt(day, 36000)}))
        self.rows.append(("EZC_RHZFRYXX", {"ZFRYBH": self.key("ZFRY"), "ZFBH": zfbh, "GMSFHM": gm, "XM": xm,
                                           "RYSFDM": sf}))

    def attribute(self, gm: str, code: str, start: int, end: int | None = None) -> None:
        self.rows.append(("ZDR_TDDXSXXX", {"SXBH": self.key("SX"), "GMSFHM": gm, "SXDM": code,
                                           "YXQSRQ": day_text(start), "YXQZRQ": day_text(end) if end else None}))

    def track(self, gm: str, dzbm: str, start: int, end: int | None = None) -> None:
        self.rows.append(("ZDR_TDDXRYJZGJXX", {"GJBH": self.key("GJ"), "GMSFHM": gm, "DZBM": dzbm,
                                               "KSRQ": day_text(start), "JSRQ": day_text(end) if end else None}))

    def dispute(self, gm: str, xm: str, dzbm: str, day: int, police: bool = False) -> None:
        jfbh = self.key("JF")
        self.rows.append(("EZC_MDJFFXYHJBXX", {"JFBH": jfbh, "JFLXDM": "01", "FSSJ": dt(day, 50000), "DZBM": dzbm,
                                               "SJQBS": "1" if police else "0",
                                               "JQBH": f"JQ{jfbh}" if police else None}))
        self.rows.append(("EZC_MDJFFXYHDSRXX", {"DSRBH": self.key("DSR"), "JFBH": jfbh, "GMSFHM": gm, "XM": xm}))

    def case(self, gm: str, dzbm: str, day: int) -> None:
        self.rows.append(("YBSS_AJXX", {"AJBH": self.key("AJ"), "SARYGMSFHM": gm, "AJLBDM": "02",
                                        "FASJ": dt(day, 40000), "FADZ_DZBM": dzbm}))

    def expect(self, code: str, kind: str, gm: str | None, dzbm: str | None, note: str) -> None:
        self.cases.append(PlantedCase(code, kind, gm, dzbm, note))

    # -- the models --------------------------------------------------------------------------
    def xz01(self) -> None:
        D = self.D
        xqbm, qdz = self.community()
        gm, _ = self.person()
        for k in range(10):
            self.access(gm, xqbm, D - 3 * k)
        self.expect("XZ01", "positive", gm, qdz, "10 个不同日出入同一智慧小区，无实有人口")
        gm, _ = self.person()
        for k in range(9):
            self.access(gm, xqbm, D - 3 * k)
        self.expect("XZ01", "near_miss", gm, qdz, "只有 9 个出入日")
        gm, xm = self.person("2")
        self.registration(gm, xm, xqbm, self.room(), "2", D - 400)
        self.expect("XZ01", "positive", gm, qdz, "登记为租户，无实有人口")
        gm, xm = self.person("2")
        self.registration(gm, xm, xqbm, self.room(), "6", D - 40)
        self.expect("XZ01", "near_miss", gm, qdz, "登记为访客")
        gm, xm = self.person()
        room = self.room()
        self.registration(gm, xm, xqbm, room, "1", D - 400)
        self.resident(gm, xm, room)
        self.expect("XZ01", "near_miss", gm, qdz, "登记为业主但已有实有人口")

    def xz02(self) -> None:
        a = self.room()
        h1, x1 = self.person()
        h2, x2 = self.person("2")
        self.hukou(h1, x1, a)
        self.hukou(h2, x2, a)
        self.resident(h1, x1, a)
        self.expect("XZ02", "positive", h2, a, "同址两人户籍正常、一人实有人口，本人未登记")
        b = self.room()
        h3, x3 = self.person()
        h4, x4 = self.person("2")
        o5, x5 = self.person()
        self.hukou(h3, x3, b)
        self.hukou(h4, x4, b)
        self.resident(h3, x3, b)
        self.resident(o5, x5, b)
        self.expect("XZ02", "near_miss", h4, b, "同址两人实有人口")

    def xz03(self) -> None:
        D = self.D
        xqbm, _ = self.community()
        gm, xm = self.person()
        room = self.room()
        self.registration(gm, xm, xqbm, room, "5", D - 10)
        self.expect("XZ03", "positive", gm, room, "90 日内登记为学生，无实有人口、无居住轨迹")
        gm, xm = self.person("2")
        room = self.room()
        self.visit(gm, xm, room, D - 20, sf="4")
        self.expect("XZ03", "positive", gm, room, "90 日内走访为从业人员，无实有人口、无居住轨迹")
        gm, xm = self.person()
        room = self.room()
        self.registration(gm, xm, xqbm, room, "4", D - 10)
        self.track(gm, room, D - 500, D - 300)
        self.expect("XZ03", "near_miss", gm, room, "有居住轨迹")
        gm, xm = self.person()
        room = self.room()
        self.registration(gm, xm, xqbm, room, "5", D - 95)
        self.expect("XZ03", "near_miss", gm, room, "登记在 90 日之前")

    def zx01(self) -> None:
        D = self.D
        xqbm, _ = self.community()
        for after in (False, True):
            gm, xm = self.person()
            room = self.room()
            self.hukou(gm, xm, room, status="2")
            self.resident(gm, xm, room)
            self.rows.append(("HZ_SWZXHKXX", {"YWLSH": self.key("SW"), "GMSFHM": gm, "XM": xm,
                                              "SWRQ": day_text(D - 60), "ZXRQ": day_text(D - 50)}))
            self.access(gm, xqbm, D - 70)
            if after:
                self.access(gm, xqbm, D - 10)
                self.expect("ZX01", "near_miss", gm, room, "死亡日期后仍有出入记录")
            else:
                self.expect("ZX01", "positive", gm, room, "死亡注销、实有人口有效、死亡后无轨迹")
        # (status 死亡 without a death record is not planted: in the city every 死亡 has its
        # cancellation record; tests insert that case themselves)

    def zx02(self) -> None:
        D = self.D
        xqbm, _ = self.community()
        for visited in (False, True):
            gm, xm = self.person()
            room = self.room()
            self.resident(gm, xm, room)
            self.hukou(gm, xm, room, status="4")  # the city's registers agree with each other
            self.rows.append(("HZ_CGJDJZXHKXX", {"YWLSH": self.key("CJ"), "GMSFHM": gm, "XM": xm,
                                                 "CJRQ": day_text(D - 300), "QWGJDQDM": self.geo.countries[0],
                                                 "ZXRQ": day_text(D - 200)}))
            self.access(gm, xqbm, D - 200)
            if visited:
                self.visit(gm, xm, room, D - 30)
                self.expect("ZX02", "near_miss", gm, room, "180 日内有入户走访")
            else:
                self.expect("ZX02", "positive", gm, room, "出国境定居注销、实有人口有效、180 日无轨迹")
        gm, xm = self.person("2")
        room = self.room()
        self.resident(gm, xm, room)
        self.attribute(gm, "0401", D - 400)
        self.expect("ZX02", "positive", gm, room, "出国留学属性有效、180 日无轨迹")

    def zx03(self) -> None:
        D = self.D
        for to, note, kind in ((self.outside, "迁往市外、实有人口有效、90 日无达州轨迹", "positive"),
                               ("511703", "迁往达州市内", "near_miss"),
                               (self.outside, "90 日内在达州涉案", "near_miss")):
            gm, xm = self.person()
            room = self.room()
            self.resident(gm, xm, room)
            self.hukou(gm, xm, room, status="3")
            self.rows.append(("HZ_QHCXX", {"YWLSH": self.key("QC"), "GMSFHM": gm, "XM": xm,
                                           "QCRQ": day_text(D - 100), "QWDXZQHDM": to, "QWDXZ": None}))
            if note.startswith("90 日内"):
                self.case(gm, room, D - 20)
            self.expect("ZX03", kind, gm, room, note)

    def yj01(self) -> None:
        D = self.D
        for minutes, kind in (((0, 30, 60, 100, 119), "positive"), ((0, 30, 60, 90, 121), "near_miss")):
            xqbm, qdz = self.community("511703")
            for m in minutes:
                gm, _ = self.person()
                self.attribute(gm, "0901", D - 300)
                self.access(gm, xqbm, D, 9 * 3600 + 30 * 60 + m * 60)  # 09:30 on: across clock hours
            note = "120 分钟内 5 名重点人员进入" if kind == "positive" else "第 5 名在 121 分钟后进入"
            self.expect("YJ01", kind, None, qdz, note)

    def yj02(self) -> None:
        D = self.D
        xqbm, _ = self.community()
        for w, b, kind, note in ((21, 20, "positive", "近 7 日 21 条、此前 30 日 20 条"),
                                 (19, 0, "near_miss", "近 7 日只有 19 条"),
                                 (21, 31, "near_miss", "近 7 日 21 条、此前 30 日 31 条（不足 3 倍）")):
            gm, xm = self.person()
            home = self.room()
            self.resident(gm, xm, home)
            self.attribute(gm, "0901", D - 300)
            for k in range(w):
                self.access(gm, xqbm, D - k % 7, 28800 + k * 600, "1" if k % 2 == 0 else "2")
            for k in range(b):
                self.access(gm, xqbm, D - 7 - k % 30, 28800 + k * 60)
            self.expect("YJ02", kind, gm, home, note)

    def yj03(self) -> None:
        D = self.D
        for days, kind, note in (((10, 100, 300), "positive", "365 日内 3 起矛盾纠纷"),
                                 ((10, 100, 365), "near_miss", "第 3 起在 365 日之前")):
            gm, xm = self.person()
            home = self.room()
            self.resident(gm, xm, home)
            for k in days:
                self.dispute(gm, xm, home, D - k)
            self.expect("YJ03", kind, gm, home, note)

    def yj04(self) -> None:
        D = self.D
        gm, xm = self.person()
        hk, live = self.room("511702"), self.room("511725")
        self.hukou(gm, xm, hk, "511702")
        self.resident(gm, xm, live, "511725")
        self.expect("YJ04", "positive", gm, live, "户籍通川区、居住渠县")
        gm, xm = self.person()
        hk, live = self.room("511702"), self.room("511702")
        self.hukou(gm, xm, hk, "511702")
        self.resident(gm, xm, live, "511702")
        self.expect("YJ04", "near_miss", gm, live, "同一区县内人户分离")
        gm, xm = self.person("2")
        hk, live = self.room(), self.room()
        self.hukou(gm, xm, hk)
        self.track(gm, live, D - 100)
        self.expect("YJ04", "positive", gm, live, "无实有人口、180 日内居住轨迹在户籍地以外")
        gm, xm = self.person("2")
        hk, live = self.room(), self.room()
        self.hukou(gm, xm, hk)
        self.track(gm, live, D - 400, D - 200)
        self.expect("YJ04", "near_miss", gm, live, "户籍地以外的居住轨迹在 180 日之前结束")

    def yj05(self) -> None:
        D = self.D
        d = day_text(D)
        five_years = day_index(f"{int(d[:4]) - 5}{d[4:]}")  # D minus 5 calendar years
        cases = ((five_years + 1, False, None, "positive", "释放未满五年（差 1 天）、无实有人口"),
                 (five_years - 1, False, None, "near_miss", "释放已五年零一天"),
                 (D - 400, True, "elsewhere", "positive", "实有人口地址与落户地址不一致"),
                 (D - 400, True, "settled", "near_miss", "居住在落户地址、近期有走访"))
        for released, resident, where, kind, note in cases:
            gm, xm = self.person()
            lh = self.room()
            home = self.room() if where == "elsewhere" else lh
            self.rows.append(("HZ_XSJJLHXX", {"YWLSH": self.key("XS"), "GMSFHM": gm, "XM": xm,
                                              "SFRQ": day_text(released), "LHRQ": day_text(released + 20),
                                              "LHDZ_DZBM": lh}))
            if resident:
                self.resident(gm, xm, home)
                self.visit(gm, xm, home, D - 10)
                self.expect("YJ05", kind, gm, home, note)
            else:
                self.hukou(gm, xm, lh)
                self.visit(gm, xm, lh, D - 10)
                self.expect("YJ05", kind, gm, lh, note)
        gm, xm = self.person("2")
        home = self.room()
        self.resident(gm, xm, home)
        self.attribute(gm, "0201", D - 200)
        self.expect("YJ05", "positive", gm, home, "刑满释放属性 200 日、60 日内无轨迹")

    def yj06(self) -> None:
        D = self.D
        cases = ((True, (1, 4), 10, "positive", "最近一次风险评定 4 级"),
                 (False, (1,), 10, "positive", "无监护人"),
                 (True, (1,), 120, "positive", "90 日内无走访"),
                 (True, (5, 2), 10, "near_miss", "有监护人、最近评定 2 级、近期走访"))
        for guardian, risks, visit_ago, kind, note in cases:
            gm, xm = self.person()
            home = self.room()
            self.resident(gm, xm, home)
            self.attribute(gm, "0301", D - 500)
            if guardian:
                g, gx = self.person("2")
                self.rows.append(("ZDR_GARYJHRXX", {"JHBH": self.key("JH"), "BJHRGMSFHM": gm,
                                                    "JHRGMSFHM": g, "JHRXM": gx}))
            for k, level in enumerate(risks):
                self.rows.append(("ZDR_GARYFXPDXX", {"PDBH": self.key("PD"), "GMSFHM": gm, "FXDJ": str(level),
                                                     "PDRQ": day_text(D - 200 + 150 * k)}))
            self.visit(gm, xm, home, D - visit_ago)
            self.expect("YJ06", kind, gm, home, note)

    def yj07(self) -> None:
        D = self.D
        for flags, kind, note in (((True, True, True), "positive", "3 起涉警情矛盾纠纷"),
                                  ((True, True, False), "near_miss", "只有 2 起涉警情")):
            gm, xm = self.person()
            home = self.room()
            self.resident(gm, xm, home)
            for k, police in zip((1000, 600, 5), flags, strict=True):
                self.dispute(gm, xm, home, D - k, police)
            self.expect("YJ07", kind, gm, home, note)

    def yj08(self) -> None:
        D = self.D
        for what, kind, note in (("dispute", "positive", "50 日前涉警情矛盾纠纷"),
                                 ("case", "positive", "100 日前涉案"),
                                 ("old", "near_miss", "涉警情纠纷在 365 日之前、近期纠纷未涉警"),
                                 ("expired", "near_miss", "患者属性已过期")):
            gm, xm = self.person()
            home = self.room()
            self.resident(gm, xm, home)
            self.attribute(gm, "0301", D - 700, D - 30 if what == "expired" else None)
            if what == "dispute":
                self.dispute(gm, xm, home, D - 50, police=True)
            elif what == "case":
                self.case(gm, home, D - 100)
            elif what == "old":
                self.dispute(gm, xm, home, D - 400, police=True)
                self.dispute(gm, xm, home, D - 10, police=False)
            else:
                self.case(gm, home, D - 10)
            # a guardian and a recent visit keep YJ06 out of the picture: no bearing on YJ08
            g, gx = self.person("2")
            self.rows.append(("ZDR_GARYJHRXX", {"JHBH": self.key("JH"), "BJHRGMSFHM": gm, "JHRGMSFHM": g,
                                                "JHRXM": gx}))
            self.visit(gm, xm, home, D - 5)
            self.expect("YJ08", kind, gm, home, note)


MODELS = ("xz01", "xz02", "xz03", "zx01", "zx02", "zx03", "yj01", "yj02", "yj03", "yj04", "yj05", "yj06",
          "yj07", "yj08")


@cache
def _plant(seed: int, date: str) -> tuple[tuple[tuple[str, dict], ...], tuple[PlantedCase, ...]]:
    p = _Planter(seed, date)
    for m in MODELS:
        getattr(p, m)()
    return tuple(p.rows), tuple(p.cases)


def planted_model_rows(seed: int, date: str) -> list[tuple[str, dict]]:
    """The planted rows (table, row) for the city of ``seed`` on ``date`` (fresh copies)."""
    return [(t, dict(r)) for t, r in _plant(int(seed), date)[0]]


def planted_model_cases(seed: int, date: str) -> list[PlantedCase]:
    """What the models must report (positives) and must not (near misses) as of
    ``planted_as_of(date)``."""
    return list(_plant(int(seed), date)[1])


__all__ = ["PlantedCase", "planted_as_of", "planted_model_cases", "planted_model_rows"]
