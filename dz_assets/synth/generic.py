"""Rows for every other catalogue table, made from its field list alone: each field's value is
chosen by what its code says it is (an ID number, a name, an address code …) and otherwise by
its type, so that a FULL package can hold all 143 tables with plausible, linked values.
No field list is repeated here: everything is read from the catalogue."""

from __future__ import annotations

import random

from dz_assets.catalog import Field, Table, load_catalogue

from .population import Household, Person, day_text
from .tables import ADDRESS_TABLES, PERSON_TABLES

GENERIC_PER_HOUSEHOLDS = 120  # one row per 120 households: ~3 rows per 1,000 persons per table

_WORDS = "综合治理社区服务登记审批受理变更核查办理完成正常在册有效备案复核更新采集"
# free-text values drawn whole from a fixed pool: one choice per value instead of one per character
_PHRASES = (lambda r: ["".join(r.choice(_WORDS) for _ in range(r.randint(2, 6))) for _ in range(512)])(
    random.Random(20261120))


def _context_getter(f: Field):
    """How to read this field's value off the household/person, when its code says what it
    holds (an ID number, a name, an address code …); None when nothing fits. Decided once per
    field: per row it is one call."""
    c = f.code
    if f.type == "idcard" or c.endswith("GMSFHM") or c.endswith("SFZH"):
        return lambda hh, p: p.gmsfhm
    if c.endswith("XM") and f.type == "string":  # XM, HZXM (户主), JHRXM … all name a person
        return lambda hh, p: p.xm
    if c in ("XBDM", "XB"):
        return lambda hh, p: p.xb
    if c == "MZDM":
        return lambda hh, p: p.mz
    if c == "HH":
        return lambda hh, p: hh.hh
    if c == "RYBH":
        return lambda hh, p: p.rybh
    if c.endswith("DZBM"):
        return lambda hh, p: hh.dzbm
    if c.endswith("DZMC") or c.endswith("XZ") and f.type == "string" and (f.length or 200) >= 60:
        return lambda hh, p: hh.dzmc
    if c.endswith("XZQHDM"):
        return lambda hh, p: hh.county
    if c.endswith("GAJGJGDM") or c.endswith("PCSDM"):
        return lambda hh, p: hh.gajg
    if c == "CSRQ":
        return lambda hh, p: day_text(p.birth)
    return None


# key fields that can carry the household's or person's own value (a table keyed by 户号 gets
# the real 户号): a generic table has at most one row per household, so they stay unique
_LINKED_KEYS = ("HH", "RYBH", "GMSFHM", "DZBM")


class GenericTable:
    """Row maker for one table; ``k`` (the table's row number) makes the key unique."""

    def __init__(self, table: Table, seed: int, today: int) -> None:
        self.table = table
        self.today = today
        self.key = set(table.key)
        cat = load_catalogue()
        self.codes = {f.code: sorted(cat.code_tables[f.dict].codes) for f in table.fields
                      if f.type == "code" and f.dict in cat.code_tables}
        self.prefix = "".join(w[0] for w in table.code.split("_"))[:4]
        self.getters = {f.code: _context_getter(f) for f in table.fields
                        if f.type in ("string", "code", "idcard", "date")}

    def value(self, f: Field, rng: random.Random, k: int, hh: Household, p: Person) -> str | None:
        if f.code in self.key and f.code in _LINKED_KEYS:
            return self.getters[f.code](hh, p)  # one generic row per household: still unique
        if f.code in self.key and f.type in ("string", "int"):
            v = f"{self.prefix}{k:08d}" if f.type == "string" else str(k + 1)
            return v[-f.length:] if f.length and len(v) > f.length else v
        get = self.getters.get(f.code)
        v = get(hh, p) if get is not None else None
        fits = v is not None and (
            f.type != "string" or not f.length or len(v) <= f.length) and (
            f.type != "code" or f.code not in self.codes or v in self.codes[f.code])
        if fits:
            return v
        return self.by_type(f, rng, k)

    def by_type(self, f: Field, rng: random.Random, k: int) -> str | None:
        t = f.type
        if t == "code":
            pool = self.codes.get(f.code)
            return rng.choice(pool) if pool else "1"
        if t == "int":
            return str(rng.randint(0, 99))
        if t == "decimal":
            return f"{rng.uniform(0, 1000):.2f}"
        if t == "date":
            return day_text(self.today - rng.randint(1, 1500))
        if t == "datetime":
            s = rng.randint(0, 86399)
            return f"{day_text(self.today - rng.randint(1, 1500))}{s // 3600:02d}{s // 60 % 60:02d}{s % 60:02d}"
        if t == "file" or t == "idcard":
            return None
        if f.code.endswith("BH") or f.code.endswith("DM") or f.code.endswith("ID"):
            v = f"{self.prefix}{k:06d}"
            return v[: f.length] if f.length else v
        return rng.choice(_PHRASES)[: f.length or 20]

    def row(self, rng: random.Random, k: int, hh: Household, p: Person) -> dict:
        return {f.code: self.value(f, rng, k, hh, p) for f in self.table.fields}

    def fill(self, row: dict, rng: random.Random, k: int, hh: Household | None, p: Person | None) -> None:
        """Complete a builder's row with the catalogue fields the builder does not know."""
        for f in self.table.fields:
            if f.code not in row:
                row[f.code] = (self.value(f, rng, k, hh, p) if hh is not None and p is not None
                               else self.by_type(f, rng, k))


def generic_tables() -> list[Table]:
    """Catalogue tables the specific builders do not make but that have a key and fields."""

    special = set(PERSON_TABLES) | set(ADDRESS_TABLES)
    return [t for t in load_catalogue().tables.values()
            if t.code not in special and t.key and t.fields]
