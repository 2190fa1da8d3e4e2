"""The city as one deterministic stream of rows: buildings in order, their rooms, the
households in occupied rooms and everything about their members. Nothing is kept from one
building to the next except counters, so memory does not grow with the city's size."""

from __future__ import annotations

from collections.abc import Iterator

from dz_assets.catalog import load_catalogue

from . import names
from .generic import GENERIC_PER_HOUSEHOLDS, GenericTable, generic_tables
from .geography import BUILDINGS_PER_COMMUNITY, BUILDINGS_PER_STREET, Geography
from .objects import photo_png
from .planted_models import planted_model_rows
from .population import PopulationModel, day_index
from .rng import Streams, sub_seed
from .tables import ADDRESS_TABLES, PERSON_TABLES, community_rows, d, dt, person_rows, smart_rows

OBJECT = "files/"  # pseudo table of the row stream: (OBJECT, (path, bytes)) is a photo

DEFAULT_DATE = "20261120"


def all_table_codes() -> list[str]:
    """Tables the city can fill, in catalogue order."""
    gen = {t.code for t in generic_tables()}
    special = set(PERSON_TABLES) | set(ADDRESS_TABLES)
    return [c for c, t in load_catalogue().tables.items() if (c in special and t.fields) or c in gen]


class City:
    """``persons`` residents (a few more: the last household is completed), from ``seed``, as of
    ``date`` (YYYYMMDD, the FULL package's day). ``tables`` limits the rows produced."""

    def __init__(self, persons: int, seed: int, date: str = DEFAULT_DATE, tables=None) -> None:
        self.persons, self.seed, self.date = int(persons), int(seed), date
        self.today = day_index(date)
        self.want = set(tables) if tables is not None else set(all_table_codes())
        self.geo = Geography(self.seed)
        self.model = PopulationModel(self.geo, date)
        self.streams = Streams(self.seed)
        self.fill_streams = Streams(self.seed)  # apart: filling happens while a household's stream is live
        cat = load_catalogue()
        self.fillers = {c: GenericTable(cat.tables[c], self.seed, self.today) for c in self.want}
        self._missing: dict[str, list] = {}
        self.generic_at: dict[int, list[str]] = {}
        for t in generic_tables():
            if t.code in self.want:
                self.generic_at.setdefault(sub_seed(self.seed, t.code) % GENERIC_PER_HOUSEHOLDS, []).append(t.code)
        self.generic_k = dict.fromkeys(self.want, 0)
        # one sequential stream per generic table: its k-th row always falls on the same household,
        # so the table's rows do not depend on which other tables are generated
        self.gen_rngs = {c: self.streams.fresh("generic:" + c) for c in sorted(self.want)}
        self.generated_persons = 0
        self.households = 0

    # -- the stream -------------------------------------------------------------------------
    def rows(self) -> Iterator[tuple[str, object]]:
        want = self.want
        b = 0
        while self.generated_persons < self.persons:
            bld = self.geo.building(b)
            street = bld.street
            if b % BUILDINGS_PER_STREET == 0 and "YBSS_BZDZJLXXX" in want:
                yield self._complete("YBSS_BZDZJLXXX", self._street_row(street))
            # every draw below happens whichever tables are wanted, so that a package of a few
            # tables holds exactly the rows a package of all tables has for them
            rng = self.streams.fresh("rooms", b)
            building_row = self._building_row(rng, bld)
            if "YBSS_BZDZMLXX" in want:
                yield self._complete("YBSS_BZDZMLXX", building_row)
            q = bld.community
            smart = self.geo.is_smart_community(q, street)
            xqbm = f"{street.town.code}Q{q:08d}"
            if smart and b % BUILDINGS_PER_COMMUNITY == 0 and "ZHXQ_ZHXQJCXX" in want:
                yield self._complete("ZHXQ_ZHXQJCXX", {
                    "XQBM": xqbm, "XQMC": self.geo.community_name(q, street), "DZBM": bld.dzbm,
                    "XZQHDM": street.county})
            if smart and b % BUILDINGS_PER_COMMUNITY == 0:
                for table, row in self._staff(q, xqbm):  # always: staff IDs come from a shared allocator
                    if table in want:
                        yield self._complete(table, row)
            urban = street.town.urban
            for unit, floor, room in bld.rooms():
                occupied = self.generated_persons < self.persons and rng.random() < (
                    0.85 if urban else (0.92 if floor == 1 else 0.05))
                room_row = self._room_row(rng, bld, unit, floor, room, occupied)
                if "YBSS_BZDZCHXX" in want:
                    yield self._complete("YBSS_BZDZCHXX", room_row)
                if occupied:
                    yield from self._household(bld, unit, floor, room, xqbm if smart else None)
            b += 1
        yield from self._planted()

    def _planted(self) -> Iterator[tuple[str, dict]]:
        """The rule models' planted cases (planted_models.py), after the households: the same
        rows at every scale."""
        for table, row in planted_model_rows(self.seed, self.date):
            if table in self.want:
                yield self._complete(table, row)

    def _household(self, bld, unit, floor, room, xqbm) -> list:
        """All rows of one household, as a list (one frame per household, not per row)."""
        h = self.households
        self.households += 1
        rng = self.streams.get("hh", h)
        hh = self.model.household(rng, h, bld, unit, floor, room)
        self.generated_persons += len(hh.members)
        want, today, complete = self.want, self.today, self._complete
        out = []
        for p in hh.members:
            out.extend(complete(t, r) for t, r in person_rows(rng, hh, p, today, want) if t in want)
            if p.photo and "HZ_HJRKJBXX" in want:
                out.append((OBJECT, (f"files/XP/{p.rybh}.png", photo_png(p.rybh))))
        # each later stage re-seeds its own stream: what one stage draws never shifts another
        if xqbm is not None and ("ZHXQ_ZHXQRYZCXX" in want or "ZHXQ_ZHXQRYJCJLXX" in want):
            out.extend(complete(t, r) for t, r in smart_rows(self.streams.get("hh-smart", h), hh, xqbm, today, want)
                       if t in want)
        out.extend(complete(t, r) for t, r in community_rows(self.streams.get("hh-ezc", h), hh, today,
                                                              self._outsider) if t in want)
        for code in self.generic_at.get(h % GENERIC_PER_HOUSEHOLDS, ()):
            k = self.generic_k[code]
            self.generic_k[code] = k + 1
            p = hh.members[k % len(hh.members)]
            out.append((code, self.fillers[code].row(self.gen_rngs[code], k, hh, p)))
        return out

    def _complete(self, table: str, row: dict, hh=None, p=None):
        """Fill the fields the catalogue has beyond what the builder set (none for the contract
        tables today; the catalogue may add more, and a FULL must carry all of them)."""
        missing = self._missing.get(table)
        if missing is None:
            missing = self._missing[table] = [f for f in load_catalogue().tables[table].fields if f.code not in row]
        if missing:
            k = self.generic_k[table]
            self.generic_k[table] = k + 1
            self.fillers[table].fill(row, self.fill_streams.get(table, k), k, hh, p)
        return table, row

    def _staff(self, q: int, xqbm: str) -> list:
        """Property staff (从业人员) registered at a smart community: they live elsewhere (no
        实有人口 row here) and come on most working days."""
        rng = self.streams.fresh("staff", q)
        out = []
        for j in range(rng.randint(1, 2)):
            gm, xm = self._outsider(rng)
            out.append(("ZHXQ_ZHXQRYZCXX", {"ZCBH": f"ZCW{q:08d}{j}", "XQBM": xqbm, "GMSFHM": gm, "XM": xm,
                                             "ZZDZ_DZBM": None, "RYLXDM": "4",
                                             "ZCSJ": dt(self.today - rng.randint(10, 1500), 32400)}))
            for off in range(1, 41):
                if rng.random() < 0.6:
                    t_in = 25200 + int(rng.random() * 5400)
                    jl = f"JLW{q:08d}{j}{off:02d}"
                    for n, (t, fx) in enumerate(((t_in, "1"), (t_in + 32400, "2")), 1):
                        out.append(("ZHXQ_ZHXQRYJCJLXX", {"JLBH": f"{jl}{n}", "XQBM": xqbm, "GMSFHM": gm,
                                                          "CRSJ": dt(self.today - off, t), "CRFXDM": fx}))
        return out

    def _outsider(self, rng):
        """A dispute party from outside the city's households (a unique, valid ID number)."""
        sex = "1" if rng.random() < 0.6 else "2"
        born = self.today - rng.randint(18 * 365, 70 * 365)
        region = rng.choice(self.model.migrant_regions) if rng.random() < 0.3 else rng.choice(list(self.geo.towns))
        return self.model.outsider_ids.allocate(region, born, sex), names.full_name(rng, sex)

    # -- address rows ------------------------------------------------------------------------
    def _stamps(self, rng) -> tuple[str, str]:
        reg = self.today - rng.randint(300, 4000)
        return dt(reg, rng.randint(28800, 64800)), dt(min(self.today - 1, reg + rng.randint(0, 900)), 43200)

    def _street_row(self, street) -> dict:
        djsj, gxsj = self._stamps(self.streams.get("street-row", street.index))
        return {"DZBM": street.dzbm, "DZMC": street.dzmc, "XZQHDM": street.county,
                "GAJGJGDM": street.gajg, "DZZTDM": "1", "DJSJ": djsj, "GXSJ": gxsj}

    def _building_row(self, rng, bld) -> dict:
        djsj, gxsj = self._stamps(rng)
        return {"DZBM": bld.dzbm, "DZMC": bld.dzmc, "XZQHDM": bld.street.county,
                "GAJGJGDM": bld.street.gajg, "DZZTDM": "1", "SJDZBM": bld.street.dzbm,
                "MLPH": f"{bld.number}号", "ZBX": bld.zbx, "ZBY": bld.zby, "DJSJ": djsj, "GXSJ": gxsj}

    def _room_row(self, rng, bld, unit, floor, room, occupied) -> dict:
        status = "1"
        if not occupied:
            r = rng.random()
            status = "2" if r < 0.02 else ("3" if r < 0.03 else "1")
        djsj, gxsj = self._stamps(rng)
        return {"DZBM": bld.room_dzbm(unit, floor, room), "DZMC": bld.room_dzmc(unit, floor, room),
                "XZQHDM": bld.street.county, "GAJGJGDM": bld.street.gajg, "DZZTDM": status,
                "SJDZBM": bld.dzbm, "LC": str(floor), "SH": bld.room_sh(floor, room),
                "DJSJ": djsj, "GXSJ": gxsj}


def iter_rows(table_code: str, persons: int, seed: int, date: str = DEFAULT_DATE) -> Iterator[dict]:
    """Every row of one table of the city (persons, seed, date), as field code → text."""
    for table, row in City(persons, seed, date, tables={table_code}).rows():
        if table == table_code:
            yield row


__all__ = ["City", "OBJECT", "iter_rows", "all_table_codes", "d"]
