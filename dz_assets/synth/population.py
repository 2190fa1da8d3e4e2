"""Households and persons: who lives in each occupied room, their ID numbers, names, births,
relations to the head, hukou and status (正常 / 死亡 / 迁出 / 出国境定居) with the dates that the
cancellation tables (HZ_SWZXHKXX, HZ_QHCXX, HZ_CGJDJZXHKXX) will carry."""

from __future__ import annotations

import random
from array import array
from datetime import date, timedelta

from dz_assets.catalog import idcard, load_catalogue

from . import names
from .geography import COUNTIES, Building
from .rng import weighted_table

EPOCH = date(1900, 1, 1)
N_DAYS = 47_000  # 1900 … 2028: every birth, event and change date of the city


# Every day's ``YYYYMMDD`` made once (~47k strings, ~3 MB): strftime was the generator's hottest
# call, and a table filled up front keeps memory the same whatever the city's size.
_DAY_TEXT = [(EPOCH + timedelta(days=i)).strftime("%Y%m%d") for i in range(N_DAYS)]


def day_text(day: int) -> str:
    """``YYYYMMDD`` of a day index."""
    if 0 <= day < N_DAYS:
        return _DAY_TEXT[day]
    return (EPOCH + timedelta(days=day)).strftime("%Y%m%d")


def day_index(d: date | str) -> int:
    if isinstance(d, str):
        d = date(int(d[:4]), int(d[4:6]), int(d[6:8]))
    return (d - EPOCH).days


_SIZES = weighted_table({"1": 18, "2": 28, "3": 27, "4": 15, "5": 8, "6": 4})
_ETHNIC = weighted_table({"01": 980, "15": 12, "03": 4, "06": 4})  # 汉, 土家, 回, 苗


def _pick_codes(dict_name: str, wanted: list[str]) -> list[str]:
    """``wanted`` codes that the catalogue's code table has (all of them when it has none yet)."""
    table = load_catalogue().code_tables.get(dict_name)
    if table is None:
        return wanted
    return [c for c in wanted if c in table.codes] or sorted(table.codes)[:1]


class IdAllocator:
    """Hands out order codes per (region, birth day) like a real registry: sequential, so ID
    numbers are unique. Counters sit in one flat array (regions × days × 2 bytes, ~2 MB), so
    memory does not grow with the number of persons."""

    def __init__(self, regions: list[str], first: int = 0, limit: int = 500) -> None:
        self.regions = {r: i for i, r in enumerate(sorted(set(regions)))}
        self.first, self.limit = first, limit  # order codes 2*first … 2*limit-1
        self.next = array("H", bytes(2 * N_DAYS * len(self.regions)))

    def allocate(self, region: str, day: int, sex: str) -> str:
        base = self.regions[region] * N_DAYS
        while self.next[base + day] >= self.limit - self.first:  # the day is full: next day
            day += 1
        k = self.next[base + day]
        self.next[base + day] = k + 1
        k += self.first
        seq = 2 * k + (1 if sex == "1" else 0)
        return idcard.make_id(region, day_text(day), seq)


class Person:
    __slots__ = ("rybh", "gmsfhm", "xm", "xb", "mz", "birth", "rel", "status", "event_day",
                 "event_to", "photo", "hukou_local", "reg_day", "attrs", "member")

    def __init__(self) -> None:
        self.status = "1"
        self.event_day = None  # death / move-out / exit day for status 2/3/4
        self.event_to = None  # where they moved (division) or went (country)
        self.photo = False
        self.attrs = ()  # ZDR attribute codes


class Household:
    __slots__ = ("index", "hh", "building", "unit", "floor", "room", "dzbm", "dzmc", "county",
                 "members", "local", "hukou_dzbm", "hukou_county", "hukou_dzmc", "smart")

    @property
    def gajg(self) -> str:
        return self.building.street.gajg


class PopulationModel:
    """Draws households for rooms. ``today`` is the city's as-of day (the FULL package date)."""

    def __init__(self, geo, today: str) -> None:
        self.geo = geo
        self.today = day_index(today)
        # migrants' ID regions: county-level codes elsewhere (a province code is no birthplace)
        # (most migrants to Dazhou come from elsewhere in Sichuan and from Chongqing)
        local = [r for r in geo.other_divisions if not r.endswith("00")] or geo.other_divisions
        self.migrant_regions = [r for r in local for _ in range(6 if r.startswith("51") else
                                                                  3 if r.startswith("50") else 1)]
        # residents and outsiders (dispute parties, property staff) draw disjoint order codes, so
        # that a replay of the residents alone (the change generator) gives them the same IDs
        self.ids = IdAllocator(list(COUNTIES) + local, 0, 420)
        self.outsider_ids = IdAllocator(list(COUNTIES) + local, 420, 500)
        self.rel = {k: _pick_codes("GB/T 4761", [v])[0] for k, v in
                    {"head": "02", "spouse": "10", "son": "20", "daughter": "30",
                     "father": "51", "mother": "52"}.items()}
        self.ethnic = [c for c in _ETHNIC if c in set(_pick_codes("GB/T 3304", sorted(set(_ETHNIC))))]

    def household(self, rng: random.Random, h: int, bld: Building, unit: int, floor: int,
                  room: int) -> Household:
        hh = Household()
        hh.index, hh.building, hh.unit, hh.floor, hh.room = h, bld, unit, floor, room
        hh.county = bld.street.county
        hh.hh = f"{hh.county}{h:010d}"
        hh.dzbm = bld.room_dzbm(unit, floor, room)
        hh.dzmc = bld.room_dzmc(unit, floor, room)
        roll = rng.random()
        hh.local = roll < 0.86  # else 流动人口: hukou elsewhere, no HZ rows here
        hh.hukou_dzbm, hh.hukou_county, hh.hukou_dzmc = hh.dzbm, hh.county, hh.dzmc
        if hh.local and bld.index > 0 and rng.random() < 0.08:
            # 人户分离: hukou at another (earlier, so existing) address, often another county
            other = self.geo.building(max(0, bld.index - rng.randint(1, 5000)))
            hh.hukou_dzbm = other.room_dzbm(1, 1, 1)
            hh.hukou_dzmc = other.room_dzmc(1, 1, 1)
            hh.hukou_county = other.street.county
        hh.members = self._members(rng, hh)
        return hh

    def _members(self, rng: random.Random, hh: Household) -> list[Person]:
        size = int(rng.choice(_SIZES))
        today = self.today
        region = hh.county if hh.local else rng.choice(self.migrant_regions)
        head_age = rng.randint(24, 82) if size > 1 else rng.randint(19, 90)
        family = names.surname(rng)
        out: list[Person] = []
        head_sex = "1" if rng.random() < 0.78 else "2"
        plan = [("head", head_sex, head_age)]
        if size >= 2:
            plan.append(("spouse", "2" if head_sex == "1" else "1", max(19, head_age + rng.randint(-5, 4))))
        for _ in range(max(0, size - len(plan) - (1 if size >= 5 else 0))):
            sex = "1" if rng.random() < 0.52 else "2"
            age = head_age - rng.randint(22, 36)
            plan.append(("son" if sex == "1" else "daughter", sex, max(0, age)))
        if size >= 5:
            sex = "1" if rng.random() < 0.45 else "2"
            plan.append(("father" if sex == "1" else "mother", sex, min(100, head_age + rng.randint(22, 32))))
        for m, (rel, sex, age) in enumerate(plan, 1):
            p = Person()
            p.member = m
            p.rybh = f"R{hh.county}{hh.index:010d}{m:02d}"
            p.xb = sex
            born = today - age * 365 - rng.randint(1, 364)
            p.birth = born
            p.gmsfhm = self.ids.allocate(region, born, sex)
            shares_name = rel in ("head", "son", "daughter") or (rel == "father")
            p.xm = names.full_name(rng, sex, family if shares_name else None)
            p.mz = rng.choice(self.ethnic)
            p.rel = self.rel[rel]
            p.hukou_local = hh.local
            p.reg_day = max(born, today - rng.randint(30, 9000))
            p.photo = hh.local and rng.random() < 0.02
            self._status(rng, p, age, hh.local)
            out.append(p)
        return out

    def _status(self, rng: random.Random, p: Person, age: int, local: bool) -> None:
        """Deaths, moves and exits of the last three years (recent enough for the models to see
        them); only hukou persons of Dazhou have a status here."""
        roll = rng.random() if local else 1.0
        if age >= 55 and roll < 0.025:
            p.status, p.event_day = "2", self.today - rng.randint(1, 1000)
        elif 18 <= age <= 50 and roll < 0.02:
            p.status, p.event_day = "3", self.today - rng.randint(1, 1000)
            p.event_to = (rng.choice(self.geo.other_divisions) if rng.random() < 0.7
                          else rng.choice(list(COUNTIES)))
        elif 20 <= age <= 60 and roll < 0.0225:
            p.status, p.event_day = "4", self.today - rng.randint(30, 1000)
            p.event_to = rng.choice(self.geo.countries)
        else:
            r2 = rng.random()
            if age >= 18 and r2 < 0.003:
                p.attrs = ("0201",)
            elif age >= 16 and r2 < 0.007:
                p.attrs = ("0301",)
            elif 18 <= age <= 30 and r2 < 0.012:
                p.attrs = ("0401",)
            elif r2 < 0.014:
                p.attrs = ("0901",)
