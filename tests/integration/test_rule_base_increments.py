"""The rule layer's base tables kept by increments (dbt_project/macros/model/base.sql): after a
day's INCR package, a run rebuilds only the rows of the ODS rows loaded since, and ends with
exactly the tables and findings a whole rebuild gives; a table emptied (as crash recovery
empties unlogged tables), a new release of its SQL and a FULL load each make the next run build
it whole. A small synthetic city and its next day of changes, loaded through the real loader."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import psycopg
import pytest

from dz_assets.db import with_database
from dz_assets.db.init import init_database
from dz_assets.rules.diff import diff_models
from dz_assets.rules.run import run_models
from dz_assets.synth import write_package
from dz_assets.synth.planted_models import planted_as_of

PERSONS = 1500
SEED = 11
CITY_DATE = "20261120"
NEXT_DATE = "20261121"
D = date.fromisoformat(planted_as_of(CITY_DATE))
BASE = ("mdl_base__activity", "mdl_base__hukou", "mdl_base__residents")
DZHUB = str(Path(sys.executable).with_name("dzhub"))


def _load(zip_path: Path, dsn: str) -> dict:
    done = subprocess.run([DZHUB, "package", "load", str(zip_path), "--json"], capture_output=True, text=True,
                          env=dict(os.environ, DZ_PG_DSN=dsn))
    verdict = json.loads(done.stdout or "{}")
    assert verdict.get("status") in ("loaded", "applied"), done.stdout[-2000:] + done.stderr[-2000:]
    return verdict


@pytest.fixture(scope="module")
def city(pg_server_dsn, pg_dsn, tmp_path_factory):
    name = f"dzhub_base_incr_{os.getpid()}_{secrets.token_hex(3)}"
    dsn = with_database(pg_server_dsn, name)
    init_database(dsn)
    out = tmp_path_factory.mktemp("base_incr_city")
    full = write_package(out, persons=PERSONS, seed=SEED, kind="FULL", date=CITY_DATE, progress=None)
    incr = write_package(out, persons=PERSONS, seed=SEED, kind="INCR", date=NEXT_DATE, base_date=CITY_DATE,
                         prev="", progress=None)
    _load(full.zip_path, dsn)
    yield {"dsn": dsn, "incr": incr.zip_path}
    with psycopg.connect(with_database(pg_server_dsn, "postgres"), autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


def _modes(dsn: str) -> dict[str, str]:
    with psycopg.connect(dsn) as conn:
        return {t: conn.execute(f"select mode from model.{t}__build").fetchone()[0] for t in BASE}  # noqa: S608


def _findings(dsn: str, day: date) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute("select model_code, subject_gmsfhm, subject_dzbm, rule_version, evidence, first_seen, "
                            "subject_key, xzqhdm, gajgjgdm from model.mdl_findings where as_of = %s order by 1, 2, 3",
                            (day,)).fetchall()


def _newest_day_in_statistics(dsn: str) -> date | None:
    """The latest day_from mdl_base__activity's statistics know (histogram or common values)."""
    with psycopg.connect(dsn) as conn:
        hist, common = conn.execute(
            "select histogram_bounds::text::date[], most_common_vals::text::date[] from pg_stats "
            "where schemaname = 'model' and tablename = 'mdl_base__activity' and attname = 'day_from'").fetchone()
    return max([*(hist or []), *(common or [])], default=None)


def _snapshot(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for t in BASE:
            conn.execute(f"drop table if exists public.{t}__kept")
            conn.execute(f"create table public.{t}__kept as select * from model.{t}")


def _differences(dsn: str) -> dict[str, tuple[int, int]]:
    """Per base table: (rows only in the kept copy, rows only in the table), as multisets."""
    out = {}
    with psycopg.connect(dsn) as conn:
        for t in BASE:
            gone = conn.execute(f"select count(*) from (select * from public.{t}__kept except all "  # noqa: S608
                                f"select * from model.{t}) x").fetchone()[0]
            new = conn.execute(f"select count(*) from (select * from model.{t} except all "  # noqa: S608
                               f"select * from public.{t}__kept) x").fetchone()[0]
            out[t] = (gone, new)
    return out


def _rebuild_whole(dsn: str, day: date) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for t in BASE:
            conn.execute(f"drop table model.{t}__build")
    run_models(dsn, day, reuse=False)
    assert set(_modes(dsn).values()) == {"full"}


def test_a_day_of_changes_rebuilds_only_its_rows_and_matches_a_whole_rebuild(city):
    dsn = city["dsn"]
    run_models(dsn, D)
    assert set(_modes(dsn).values()) == {"full"}  # the first build
    with psycopg.connect(dsn) as conn:
        before = {t: conn.execute(f"select count(*) from model.{t}").fetchone()[0] for t in BASE}  # noqa: S608
    applied = _load(city["incr"], dsn)["applied"]["tables"]
    assert applied["HZ_HJRKJBXX"]["applied"] > 0 and applied["YBSS_SYRKXX"]["applied"] > 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        # the day's gate records, as the change stream applies them (a small city's INCR has none)
        conn.execute("insert into ods.zhxq_zhxqryjcjlxx (jlbh, xqbm, gmsfhm, crsj, crfxdm, _batch_id, _file, _line) "
                     "select 'JLNEW' || jlbh, xqbm, gmsfhm, crsj + interval '1 day', crfxdm, 'T', 'T', 1 "
                     "from ods.zhxq_zhxqryjcjlxx where not _deleted order by jlbh limit 25")

    day = D + timedelta(days=1)
    run_models(dsn, day)
    assert _modes(dsn) == dict.fromkeys(BASE, "changes")
    with psycopg.connect(dsn) as conn:
        grown = conn.execute("select count(*) from model.mdl_base__activity").fetchone()[0]
        # the day's access records are in, each once
        dupes = conn.execute("select count(*) from (select tbl, key from model.mdl_base__activity "
                             "group by 1, 2 having count(*) > 1) x").fetchone()[0]
        newest = conn.execute("select max(day_from) from model.mdl_base__activity").fetchone()[0]
    assert grown > before["mdl_base__activity"] and dupes == 0
    # and the statistics know the new day: without them the planner counts one row for the day
    # the rules read and joins it by nested loop
    assert newest > D and _newest_day_in_statistics(dsn) == newest
    with psycopg.connect(dsn, autocommit=True) as conn:  # however few the rows of the new day
        conn.execute("insert into ods.zhxq_zhxqryjcjlxx (jlbh, xqbm, gmsfhm, crsj, crfxdm, _batch_id, _file, _line) "
                     "select 'JLLATE' || jlbh, xqbm, gmsfhm, %s::date + time '08:00', crfxdm, 'T', 'T', 1 "
                     "from ods.zhxq_zhxqryjcjlxx where jlbh like 'JLNEW%%' order by jlbh limit 1",
                     (newest + timedelta(days=1),))
    run_models(dsn, day)
    assert _modes(dsn)["mdl_base__activity"] == "changes"
    assert _newest_day_in_statistics(dsn) == newest + timedelta(days=1)
    kept = _findings(dsn, day)
    _snapshot(dsn)

    _rebuild_whole(dsn, day)
    assert _differences(dsn) == dict.fromkeys(BASE, (0, 0))
    assert _findings(dsn, day) == kept


def test_deleted_and_corrected_ods_rows_leave_the_base_tables(city):
    dsn = city["dsn"]
    day = D + timedelta(days=1)
    with psycopg.connect(dsn, autocommit=True) as conn:
        # as a CDC apply does: the change stamps _loaded_at
        conn.execute("update ods.ybss_syrkxx set _deleted = true, _deleted_at = now(), _loaded_at = now() "
                     "where syrkbh = (select min(syrkbh) from ods.ybss_syrkxx where not _deleted)")
        conn.execute("update ods.hz_hjrkjbxx set xm = '更正' || xm, _loaded_at = now() "
                     "where rybh = (select min(rybh) from ods.hz_hjrkjbxx where not _deleted)")
        conn.execute("update ods.zhxq_zhxqryjcjlxx set _deleted = true, _deleted_at = now(), _loaded_at = now() "
                     "where jlbh = (select min(jlbh) from ods.zhxq_zhxqryjcjlxx where not _deleted)")
        conn.execute("update ods.ybss_ajxx set fasj = fasj - interval '1 day', _loaded_at = now() "
                     "where ajbh = (select min(ajbh) from ods.ybss_ajxx where not _deleted)")
    run_models(dsn, day, reuse=False)
    assert _modes(dsn) == dict.fromkeys(BASE, "changes")
    with psycopg.connect(dsn) as conn:
        assert conn.execute("select count(*) from model.mdl_base__hukou where xm like '更正%'").fetchone()[0] == 1
    kept = _findings(dsn, day)
    _snapshot(dsn)
    _rebuild_whole(dsn, day)
    assert _differences(dsn) == dict.fromkeys(BASE, (0, 0))
    assert _findings(dsn, day) == kept


def test_an_emptied_table_a_new_release_and_a_full_load_each_build_it_whole(city):
    dsn = city["dsn"]
    day = D + timedelta(days=1)
    run_models(dsn, day, reuse=False)
    assert _modes(dsn) == dict.fromkeys(BASE, "changes")
    _snapshot(dsn)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("truncate model.mdl_base__activity")  # as crash recovery leaves an unlogged table
        conn.execute("update model.mdl_base__hukou__build set code = 'an older release'")
    run_models(dsn, day, reuse=False)
    assert _modes(dsn) == {"mdl_base__activity": "full", "mdl_base__hukou": "full", "mdl_base__residents": "changes"}
    assert _differences(dsn) == dict.fromkeys(BASE, (0, 0))

    with psycopg.connect(dsn, autocommit=True) as conn:  # a FULL swap leaves no trace of the rows it dropped
        conn.execute("update meta.batch set finished_at = now() where kind = 'FULL'")
    run_models(dsn, day, reuse=False)
    assert set(_modes(dsn).values()) == {"full"}
    assert _differences(dsn) == dict.fromkeys(BASE, (0, 0))


def test_the_base_tables_serve_any_day(city):
    """They hold every dated row and the rules keep those of their own day, so `models diff` of a
    day before the last one evaluated sees that day's rows, as its run did."""
    dsn = city["dsn"]
    past = D - timedelta(days=10)
    run_models(dsn, past, reuse=False)
    with psycopg.connect(dsn) as conn:
        want = dict(conn.execute("select model_code, count(*) from model.mdl_findings where as_of = %s "
                                 "group by 1", (past,)).fetchall())
        later_rows = conn.execute("select count(*) from model.mdl_base__activity where day_from > %s",
                                  (past,)).fetchone()[0]
    run_models(dsn, D + timedelta(days=1), reuse=False)  # the last run is of a later day
    diff = diff_models(dsn, past, {"xz01_min_days": 9})
    assert later_rows > 0 and want.get("XZ01", 0) > 0
    assert diff["XZ01"].before == want["XZ01"]
