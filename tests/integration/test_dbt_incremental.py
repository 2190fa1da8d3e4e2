"""The daily (incremental) dbt run gives the same result as a full rebuild.

On a small synthetic city loaded through the real loader (a database of its own): full build;
then a day of the city's changes through the CDC log-and-apply step, plus changes the synthetic
day does not make (a corrected ID number, a person whose rows are all deleted, a police station
moved on a building, a new house at a person's address, standard addresses changed, added, moved,
renamed and deleted, a police station inherited from the 街路巷); the daily ``dbt build``; a second
daily build after one gate record is re-delivered for another person; its tables are
copied aside, a ``--full-refresh`` build follows, and each incremental model must equal the
rebuild both ways (EXCEPT), leaving out only the columns that stamp build time.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import psycopg
import pytest

from dz_assets.catalog import load_catalogue
from dz_assets.cdc.message import parse_body
from dz_assets.db import with_database
from dz_assets.db.init import init_database
from dz_assets.ods.apply import apply_changes
from dz_assets.ods.changelog import store_changes
from dz_assets.synth import iter_messages, write_package
from dz_assets.synth.package_writer import next_day
from dz_assets.transform import run_dbt

PERSONS = 3000
SEED = 7
BASE_DATE = "20261120"
# build-time stamps differ between any two builds; everything else must match
VOLATILE = {"_built_at", "as_of", "first_found_at", "last_checked_at"}
COMPARED = ("core.core_address", "core.core_person", "core.core_cmp__hukou_vs_residence", "topic.topic_hjgl__person",
            "topic.topic_ldrk__migrant", "element.elem_person", "element.elem_person_track", "element.elem_place")
# the daily run treats as changed only what was loaded after its last build (no look-back: the
# test's FULL load is seconds older than the first build)
DAILY_VARS = json.dumps({"dz_change_lookback": "0 seconds"})


def _build(dsn: str, *args: str) -> None:
    assert run_dbt(["build", "--quiet", *args], dsn, check=False).returncode == 0, "dbt build failed (see above)"


def _apply_day(dsn: str) -> int:
    cat = load_catalogue()
    by_table: dict[str, list] = defaultdict(list)
    for m in iter_messages(persons=PERSONS, seed=SEED, date=next_day(BASE_DATE), base_date=BASE_DATE, batch_size=200):
        for c in parse_body(m.body, cat).changes:
            by_table[c.table].append(c)
    with psycopg.connect(dsn) as conn:
        for code, changes in by_table.items():
            store_changes(conn, cat.tables[code], changes)
            apply_changes(conn, cat.tables[code])
    return sum(map(len, by_table.values()))


# persons living or registered at or under each 街路巷 and 门楼 (to plant changes that touch few)
PEOPLE_UNDER = (
    "with people as (select a.code, count(p.d) as n from (select sjdzbm as code, dzbm from ods.ybss_bzdzmlxx "
    "union all select m.sjdzbm, c.dzbm from ods.ybss_bzdzchxx c join ods.ybss_bzdzmlxx m on m.dzbm = c.sjdzbm "
    "union all select sjdzbm, dzbm from ods.ybss_bzdzchxx) a left join (select jzdz_dzbm as d from ods.ybss_syrkxx "
    "union all select hjdz_dzbm from ods.hz_hjrkjbxx) p on p.d = a.dzbm group by a.code) ")


def _plant_before_build(dsn: str) -> tuple[str, str]:
    """A building (门楼) without a police station of its own, over a flat without one either: the
    flat inherits its 街路巷's station (grandparent). Returns the building's and the 街路巷's codes."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        ml, jlx = conn.execute(PEOPLE_UNDER + "select m.dzbm, m.sjdzbm from ods.ybss_bzdzmlxx m "
                               "join ods.ybss_bzdzjlxxx s on s.dzbm = m.sjdzbm and not s._deleted "
                               "join people j on j.code = m.sjdzbm join people b on b.code = m.dzbm where exists "
                               "(select 1 from ods.ybss_bzdzchxx c where c.sjdzbm = m.dzbm) "
                               "order by j.n, b.n, m.dzbm limit 1").fetchone()
        conn.execute("update ods.ybss_bzdzmlxx set gajgjgdm = null where dzbm = %s", (ml,))
        conn.execute("update ods.ybss_bzdzchxx set gajgjgdm = null where dzbm = (select min(dzbm) from "
                     "ods.ybss_bzdzchxx where sjdzbm = %s)", (ml,))
    return ml, jlx


def _plant_address_changes(conn, jlx: str, taken: set[str]) -> dict[str, str]:
    """Standard-address changes: the 街路巷 over a station-less building gets another station (the
    flats under it inherit it, two levels down); a building is deleted (its flats lose their
    parent); a flat is added without a station, another moves to a second building and a third is
    renamed. The buildings and streets chosen are those with the fewest people (the daily run
    recomputes everyone at or under a changed address)."""
    conn.execute("update ods.ybss_bzdzjlxxx set gajgjgdm = '511702980000', _loaded_at = now() where dzbm = %s", (jlx,))
    mls = [m for (m,) in conn.execute(
        PEOPLE_UNDER + "select m.dzbm from ods.ybss_bzdzmlxx m join people b on b.code = m.dzbm "
        "where not m._deleted and m.sjdzbm <> %s and exists (select 1 from ods.ybss_bzdzchxx c where "
        "c.sjdzbm = m.dzbm) order by b.n, m.dzbm limit 6", (jlx,)) if m not in taken][:3]
    deleted, target, other = mls
    conn.execute("update ods.ybss_bzdzmlxx set _deleted = true, _deleted_at = now(), _loaded_at = now() "
                 "where dzbm = %s", (deleted,))
    conn.execute("insert into ods.ybss_bzdzchxx (dzbm, dzmc, xzqhdm, gajgjgdm, dzztdm, sjdzbm, lc, sh, _batch_id, "
                 "_file, _line) select %s, dzmc || '99层9901室', xzqhdm, null, '1', dzbm, 99, '9901', "
                 "'SCGA-INCR-20261121-0001', 'YBSS_BZDZCHXX_planted.bcp', 1 from ods.ybss_bzdzmlxx where dzbm = %s",
                 (target + "PL9901", target))
    moved = conn.execute("select min(dzbm) from ods.ybss_bzdzchxx where sjdzbm = %s", (other,)).fetchone()[0]
    conn.execute("update ods.ybss_bzdzchxx set sjdzbm = %s, _loaded_at = now() where dzbm = %s", (target, moved))
    renamed = conn.execute("select max(dzbm) from ods.ybss_bzdzchxx where sjdzbm = %s and dzbm not in (%s, %s)",
                           (target, target + "PL9901", moved)).fetchone()[0]
    conn.execute("update ods.ybss_bzdzchxx set dzmc = dzmc || '（更名）', _loaded_at = now() where dzbm = %s",
                 (renamed,))
    return {"jlx": jlx, "deleted_ml": deleted, "added_ch": target + "PL9901", "moved_ch": moved, "to_ml": target,
            "renamed_ch": renamed}


def _plant_changes(dsn: str, stationless: tuple[str, str]) -> dict[str, str]:
    """Changes the synthetic day does not make, written as an apply would (``_loaded_at`` now)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        # a hukou survivor's ID number corrected: the hukou part moves to the new number, the
        # actual-population row stays under the old one
        rybh, old_id = conn.execute(
            "select rybh, gmsfhm from ods.hz_hjrkjbxx where not _deleted and gmsfhm ~ '^[0-9]{17}[0-9X]$' "
            "order by rybh limit 1").fetchone()
        new_id = old_id[:14] + "999" + old_id[17]
        conn.execute("update ods.hz_hjrkjbxx set gmsfhm = %s, _loaded_at = now() where rybh = %s", (new_id, rybh))
        # a person whose every row is deleted disappears
        gone = conn.execute(
            "select s.gmsfhm from ods.ybss_syrkxx s join ods.hz_hjrkjbxx h using (gmsfhm) "
            "where not s._deleted and not h._deleted and h.rybh <> %s order by s.syrkbh limit 1", (rybh,)).fetchone()[0]
        for table in ("hz_hjrkjbxx", "ybss_syrkxx"):
            conn.execute(f"update ods.{table} set _deleted = true, _deleted_at = now(), _loaded_at = now() "
                         "where gmsfhm = %s", (gone,))
        # a building (门楼) gets another police station: its flats' residents inherit it
        ml = conn.execute("select c.sjdzbm from ods.ybss_bzdzchxx c join ods.ybss_syrkxx s on s.jzdz_dzbm = c.dzbm "
                          "where not s._deleted and c.gajgjgdm is null and c.sjdzbm <> %s order by c.dzbm limit 1",
                          (stationless[0],)).fetchone()
        ml = ml[0] if ml else conn.execute("select sjdzbm from ods.ybss_bzdzchxx order by dzbm limit 1").fetchone()[0]
        conn.execute("update ods.ybss_bzdzmlxx set gajgjgdm = '511702990000', _loaded_at = now() where dzbm = %s", (ml,))
        # a house registered at an address where someone lives and no house was known
        at = conn.execute("select s.jzdz_dzbm, s.jzdz_xzqhdm from ods.ybss_syrkxx s where not s._deleted "
                          "and s.jzdz_dzbm is not null and not exists (select 1 from ods.ybss_syfwxx f "
                          "where f.dzbm = s.jzdz_dzbm) order by s.syrkbh limit 1").fetchone()
        conn.execute("insert into ods.ybss_syfwxx (fwbh, dzbm, fwlbdm, fwytdm, fzgmsfhm, fzxm, czbs, xzqhdm, zxbs, "
                     "_batch_id, _file, _line) values ('PL-INC-H1', %s, '1', '1', %s, '房主', '0', %s, '0', "
                     "'SCGA-INCR-20261121-0001', 'YBSS_SYFWXX_planted.bcp', 1)", (at[0], new_id, at[1]))
        addresses = _plant_address_changes(conn, stationless[1], {ml, stationless[0]})
    return {"old_id": old_id, "new_id": new_id, "gone": gone, "ml": ml, "house_at": at[0], **addresses}


def _redeliver_gate_record(dsn: str) -> dict[str, str]:
    """A gate record re-delivered corrected (another person, a later time) and nothing else: its
    track row is replaced, and both persons' sightings must be recounted although neither is
    seen anew nor changed otherwise."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        jlbh, seen_before = conn.execute(
            "select g.jlbh, g.gmsfhm from ods.zhxq_zhxqryjcjlxx g join element.elem_person e using (gmsfhm) "
            "where not g._deleted and e.track_count > 1 order by g.jlbh limit 1").fetchone()
        seen_now = conn.execute("select g.gmsfhm from ods.zhxq_zhxqryjcjlxx g join element.elem_person e using "
                                "(gmsfhm) where not g._deleted and g.gmsfhm <> %s order by g.jlbh desc limit 1",
                                (seen_before,)).fetchone()[0]
        conn.execute("update ods.zhxq_zhxqryjcjlxx set gmsfhm = %s, crsj = crsj + interval '400 days', "
                     "_loaded_at = now() where jlbh = %s", (seen_now, jlbh))
    return {"gate": jlbh, "seen_before": seen_before, "seen_now": seen_now}


def _columns(conn, rel: str) -> list[str]:
    schema, name = rel.split(".")
    cols = conn.execute("select column_name from information_schema.columns where table_schema = %s "
                        "and table_name = %s order by ordinal_position", (schema, name)).fetchall()
    return [c for (c,) in cols if c not in VOLATILE]


@pytest.fixture(scope="module")
def daily_vs_full(pg_server_dsn, tmp_path_factory):
    dsn = with_database(pg_server_dsn, f"dzhub_dbtinc_{os.getpid()}_{secrets.token_hex(3)}")
    init_database(dsn)
    try:
        out = tmp_path_factory.mktemp("dbt_inc_city")
        info = write_package(out, persons=PERSONS, seed=SEED, kind="FULL", date=BASE_DATE)
        dzhub = str(Path(sys.executable).with_name("dzhub"))
        loaded = subprocess.run([dzhub, "package", "load", str(info.zip_path), "--json"], capture_output=True,
                                text=True, check=True, env={**os.environ, "DZ_PG_DSN": dsn,
                                                            "DZ_STATE_DIR": str(out / "state")})
        assert json.loads(loaded.stdout)["status"] == "loaded"
        stationless = _plant_before_build(dsn)
        _build(dsn)
        changes = _apply_day(dsn)
        planted = _plant_changes(dsn, stationless)
        _build(dsn, "--vars", DAILY_VARS)
        with psycopg.connect(dsn, autocommit=True) as conn:
            recomputed = conn.execute("select count(*) from core.core_person__changes where key is not null").fetchone()[0]
            persons = conn.execute("select count(*) from core.core_person").fetchone()[0]
            addresses = conn.execute("select count(*) from core.core_address").fetchone()[0]
            readdressed = conn.execute("select count(*) from core.core_address__changes where key is not null"
                                       ).fetchone()[0]
        # a second daily run, of one re-delivered gate record
        planted.update(_redeliver_gate_record(dsn))
        _build(dsn, "--vars", DAILY_VARS)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("create schema daily")
            for rel in COMPARED:
                conn.execute(f"create table daily.{rel.split('.')[1]} as select * from {rel}")
        _build(dsn, "--full-refresh")
        yield {"dsn": dsn, "changes": changes, "planted": planted, "recomputed": recomputed, "persons": persons,
               "addresses": addresses, "readdressed": readdressed}
    finally:
        with psycopg.connect(pg_server_dsn, autocommit=True) as conn:
            conn.execute(f'drop database if exists "{dsn.rsplit("/", 1)[1]}" with (force)')


def test_daily_run_recomputes_only_the_changed_persons(daily_vs_full):
    assert daily_vs_full["changes"] > 0
    assert 0 < daily_vs_full["recomputed"] < daily_vs_full["persons"] / 5


def test_daily_run_recomputes_only_the_changed_addresses(daily_vs_full):
    assert 0 < daily_vs_full["readdressed"] < daily_vs_full["addresses"] / 5


@pytest.mark.parametrize("rel", COMPARED)
def test_daily_run_equals_full_rebuild(daily_vs_full, rel):
    with psycopg.connect(daily_vs_full["dsn"]) as conn:
        cols = ", ".join(f'"{c}"' for c in _columns(conn, rel))
        daily = f"daily.{rel.split('.')[1]}"
        only_daily = conn.execute(f"select count(*) from (select {cols} from {daily} except all "
                                  f"select {cols} from {rel}) d").fetchone()[0]
        only_full = conn.execute(f"select count(*) from (select {cols} from {rel} except all "
                                 f"select {cols} from {daily}) d").fetchone()[0]
    assert (only_daily, only_full) == (0, 0), f"{rel}: {only_daily} rows only after the daily run, {only_full} only after the rebuild"


def test_planted_changes_came_through(daily_vs_full):
    p = daily_vs_full["planted"]
    with psycopg.connect(daily_vs_full["dsn"]) as conn:
        ids = {r[0] for r in conn.execute("select gmsfhm from daily.core_person where gmsfhm in (%s, %s, %s)",
                                          (p["old_id"], p["new_id"], p["gone"]))}
        house = conn.execute("select fwbh from daily.core_person where jz_dzbm = %s and fwbh = 'PL-INC-H1' limit 1",
                             (p["house_at"],)).fetchone()
    assert ids == {p["old_id"], p["new_id"]}
    assert house is not None


def test_redelivered_gate_record_replaced_its_track(daily_vs_full):
    p = daily_vs_full["planted"]
    with psycopg.connect(daily_vs_full["dsn"]) as conn:
        tracks = conn.execute("select gmsfhm from daily.elem_person_track where trk_id = 'ZHXQ:' || %s",
                              (p["gate"],)).fetchall()
        last_seen = conn.execute("select last_seen_at = (select max(trk_time) from daily.elem_person_track "
                                 "where gmsfhm = %s) from daily.elem_person where gmsfhm = %s",
                                 (p["seen_now"], p["seen_now"])).fetchone()
    assert tracks == [(p["seen_now"],)]
    assert last_seen == (True,)


def test_planted_address_changes_came_through(daily_vs_full):
    p = daily_vs_full["planted"]
    with psycopg.connect(daily_vs_full["dsn"]) as conn:
        def row(code):
            return conn.execute("select gajgjgdm, gajg_inherited, parent_missing, sjdzbm, jlx_dzbm, dzmc "
                                "from daily.core_address where dzbm = %s", (code,)).fetchone()
        inherited = conn.execute("select count(*) from daily.core_address where jlx_dzbm = %s and dzjbdm = '3' "
                                 "and gajgjgdm = '511702980000' and gajg_inherited", (p["jlx"],)).fetchone()[0]
        orphans = conn.execute("select count(*), count(*) filter (where parent_missing) from daily.core_address "
                               "where sjdzbm = %s", (p["deleted_ml"],)).fetchone()
        assert row(p["deleted_ml"]) is None
        assert inherited >= 1
        assert orphans[0] > 0 and orphans[0] == orphans[1]
        assert row(p["added_ch"])[3] == p["to_ml"] and row(p["added_ch"])[1]
        assert row(p["moved_ch"])[3] == p["to_ml"]
        assert row(p["renamed_ch"])[5].endswith("（更名）")
