"""A day of changes to the city: deaths, moves out, births, new migrants, record corrections,
deletions and the day's smart-community access records, each an I/U/D change with a growing
``seq`` and a commit time ``ts``. The same stream feeds INCR packages and change messages, so
both channels describe the same evolution of the city.

Day ``k`` (1, 2, …) after the FULL day touches the households whose event slot is ``k`` modulo
``period``: about one household in ``period`` per day, and no household twice within a period.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from . import names
from .city import City
from .population import Person, day_index, day_text
from .rng import sub_seed
from .tables import dt, person_row, resident_row

SEQ_PER_DAY = 100_000_000  # seq = day index × this + position in the day: grows across days


def seq_base(date: str) -> int:
    """The change-log position at the start of ``date`` (a FULL of that day reflects it)."""
    return day_index(date) * SEQ_PER_DAY


@dataclass(frozen=True)
class Change:
    table: str
    op: str  # I, U, D
    seq: int
    ts: str  # YYYYMMDDHHMMSS, Beijing time
    row: dict  # the whole row for I/U; the key fields for D


class _ChangeCity(City):
    """Replays the base city's households (rows are not built) and turns the targeted ones into
    changes; replay is needed because ID numbers are allocated in household order."""

    def __init__(self, persons, seed, base_date, day: int) -> None:
        super().__init__(persons, seed, base_date, tables=set())
        self.k = day
        self.day = self.today + day
        self.period = max(20, min(1000, int(persons / 2.8) // 50))
        self.expected_households = max(1, int(persons / 2.8))
        self.pending: list[tuple[str, str, dict, int]] = []

    def _planted(self):
        return iter(())  # the planted cases do not change from day to day

    def _household(self, bld, unit, floor, room, xqbm):
        h = self.households
        self.households += 1
        rng = self.streams.get("hh", h)
        hh = self.model.household(rng, h, bld, unit, floor, room)
        self.generated_persons += len(hh.members)
        secs = min(86399, 21600 + h * 64800 // self.expected_households)  # 06:00 … 24:00 by position
        slot = sub_seed(self.seed, "ev", h) % self.period
        crng = self.streams.fresh("chg", h * 4096 + self.k)
        out = []
        if slot == self.k % self.period:
            out = self._event(crng, hh)
        touched = 0 < slot < self.k and self.k < self.period
        if xqbm is not None and not touched:
            for p in hh.members:
                if p.status == "1" and crng.random() < 0.15:
                    t_in = crng.randint(21600, 72000)
                    jl = f"JL{p.rybh[1:]}D{self.day}"
                    out.append(("ZHXQ_ZHXQRYJCJLXX", "I", {"JLBH": jl + "1", "XQBM": xqbm, "GMSFHM": p.gmsfhm,
                                                           "CRSJ": dt(self.day, t_in), "CRFXDM": "1"}))
                    out.append(("ZHXQ_ZHXQRYJCJLXX", "I", {"JLBH": jl + "2", "XQBM": xqbm, "GMSFHM": p.gmsfhm,
                                                           "CRSJ": dt(self.day, min(86399, t_in + 3600)),
                                                           "CRFXDM": "2"}))
        for table, op, row in out:
            yield "change", (table, op, row, secs)

    def _event(self, rng, hh) -> list:
        living = [p for p in hh.members if p.status == "1"]
        if not living:
            return []
        day, out = self.day, []
        roll = rng.random()
        if not hh.local:  # migrants: a new member registers, or one leaves 实有人口
            p = living[-1]
            out.append(("YBSS_SYRKXX", "U", resident_row(hh, p, False, day)))
            return out
        if roll < 0.3:
            p = min(living, key=lambda m: m.birth)
            p.status, p.event_day = "2", day - rng.randint(0, 5)
            out += [("HZ_HJRKJBXX", "U", person_row(hh, p)),
                    ("HZ_SWZXHKXX", "I", {"YWLSH": f"SW{p.rybh[1:]}", "GMSFHM": p.gmsfhm, "XM": p.xm,
                                          "SWRQ": day_text(p.event_day), "ZXRQ": day_text(day)}),
                    ("YBSS_SYRKXX", "U", resident_row(hh, p, False, day))]
        elif roll < 0.45:
            p = max(living, key=lambda m: m.birth)
            p.status, p.event_day = "3", day
            p.event_to = rng.choice(self.geo.other_divisions)
            out += [("HZ_HJRKJBXX", "U", person_row(hh, p)),
                    ("HZ_QHCXX", "I", {"YWLSH": f"QC{p.rybh[1:]}", "GMSFHM": p.gmsfhm, "XM": p.xm,
                                       "QCRQ": day_text(day), "QWDXZQHDM": p.event_to, "QWDXZ": None}),
                    ("YBSS_SYRKXX", "U", resident_row(hh, p, rng.random() < 0.3, day))]
        elif roll < 0.65:
            baby = self._newborn(rng, hh, day)
            out += [("HZ_HJRKJBXX", "I", person_row(hh, baby)),
                    ("YBSS_SYRKXX", "I", resident_row(hh, baby, True, day + 1))]
        elif roll < 0.9:  # a record corrected twice the same day: seq settles the order
            p = rng.choice(living)
            p.reg_day = day
            row = person_row(hh, p)
            out += [("HZ_HJRKJBXX", "U", dict(row, XM=p.xm + "某")), ("HZ_HJRKJBXX", "U", row)]
        else:
            p = rng.choice(living)
            out.append(("YBSS_SYRKXX", "D", {"SYRKBH": "S" + p.rybh[1:]}))
        return out

    def _newborn(self, rng, hh, day) -> Person:
        p = Person()
        p.member = 90 + self.k % 10
        p.rybh = f"R{hh.county}{hh.index:010d}{p.member:02d}"
        p.xb = "1" if rng.random() < 0.52 else "2"
        p.birth = day - 1
        p.gmsfhm = self.model.ids.allocate(hh.county, p.birth, p.xb)
        family = hh.members[0].xm[0]

        p.xm = names.full_name(rng, p.xb, family)
        p.mz, p.rel, p.hukou_local, p.reg_day = hh.members[0].mz, self.model.rel["son" if p.xb == "1" else "daughter"], True, day
        return p


def day_changes(persons: int, seed: int, date: str, base_date: str) -> Iterator[Change]:
    """The changes of ``date`` (a day after ``base_date``, the FULL's day), in seq order."""
    k = day_index(date) - day_index(base_date)
    if k < 1:
        raise ValueError(f"change day {date} must follow the base day {base_date}")
    city = _ChangeCity(persons, seed, base_date, k)
    seq = seq_base(date)
    day = day_index(date)
    for _, (table, op, row, secs) in city.rows():
        seq += 1
        yield Change(table, op, seq, dt(day, secs), row)
