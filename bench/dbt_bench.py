"""dbt benchmark: a full build of every layer and the daily incremental run after one day of changes.

    .venv/bin/python bench/dbt_bench.py [--persons 1000000] [--seed 7] [--keep] [--snapshot | --daily-only | --rebuild]

In a fresh database of its own (``dzhub_dbt_bench``), one run:

1. writes (cached under ``bench/out/dbt_city_<persons>_<seed>/``) the synthetic city's FULL
   package of day 20261120 and loads it through the real loader;
2. baseline: one sequential scan + write of every ODS table the models read (``create temp
   table … as select *``) — the floor under any rebuild of the layers above them;
3. full ``dbt build --full-refresh`` (staging views, core/topic/element tables, incremental
   models from scratch, every data/unit/singular test);
4. applies the next day's changes (the synthetic change messages of 20261121, the same stream
   as that day's INCR package, whose loader is not built yet) through the CDC log-and-apply
   step, then times the daily ``dbt build`` (incremental models read only the rows loaded since
   their last run);

and prints both timings beside the baseline, with the row counts of the main relations.

``--snapshot`` also copies the database right after step 3 into ``dzhub_dbt_bench_full`` (a
template, with the full run's figures beside it in ``bench/out``); ``--daily-only`` then starts
from a copy of that template and repeats only the baseline and step 4, ~4 min at 5.5M persons
instead of ~20, for iterating on the daily run (models changed since the snapshot are timed
against tables the old code built: re-snapshot before quoting a figure for a changed model).
``--rebuild`` takes the snapshot itself (renamed, so it is used up) and repeats steps 2–4 (the
loaded ODS tables are reused, less the indexes the models' pre-hooks added to them).
Goals (2 cores): full ≤ 3 min at 1M persons, ≤ 15 min at 5.5M; daily ≤ 2 min at 5.5M.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections import defaultdict

import psycopg
from _city import BASE_DATE, OUT, full_package, load

from dz_assets.catalog import load_catalogue
from dz_assets.cdc.message import parse_body
from dz_assets.db import with_database
from dz_assets.db.init import init_database
from dz_assets.ods.apply import apply_changes
from dz_assets.ods.changelog import store_changes
from dz_assets.settings import DEFAULT_PG_DSN, env
from dz_assets.synth import iter_messages
from dz_assets.synth.package_writer import next_day
from dz_assets.transform import run_dbt

INPUTS = ("hz_hjrkjbxx", "ybss_syrkxx", "ybss_syfwxx", "ybss_sydwjbxx", "ybss_sydwdzxx", "ybss_bzdzjlxxx",
          "ybss_bzdzmlxx", "ybss_bzdzchxx", "zdr_tddxjbxx", "zdr_zazdrbqryxx", "ezc_mdjffxyhjbxx",
          "ezc_mdjffxyhdsrxx", "ezc_rhzfjbxx", "ezc_rhzfryxx", "zhxq_zhxqryzcxx", "zhxq_zhxqryjcjlxx", "ybss_ajxx")
COUNTED = ("staging.stg_ods__hz_hjrkjbxx", "core.core_address", "core.core_person", "core.core_house",
           "core.core_unit", "core.core_cmp__hukou_vs_residence", "topic.topic_hjgl__person",
           "topic.topic_ldrk__migrant", "element.elem_person", "element.elem_place",
           "element.elem_person_track", "element.elem_anomaly")


def _apply_day(persons: int, seed: int, dsn: str) -> tuple[float, int]:
    """The day after's changes, logged and applied per table in one transaction (as the consumer does)."""
    cat = load_catalogue()
    by_table: dict[str, list] = defaultdict(list)
    for m in iter_messages(persons=persons, seed=seed, date=next_day(BASE_DATE), base_date=BASE_DATE, batch_size=500):
        for c in parse_body(m.body, cat).changes:
            by_table[c.table].append(c)
    t = time.monotonic()
    with psycopg.connect(dsn) as conn:
        for code, changes in by_table.items():
            store_changes(conn, cat.tables[code], changes)
            apply_changes(conn, cat.tables[code])
        conn.commit()
    return time.monotonic() - t, sum(map(len, by_table.values()))


SNAPSHOT_DB = "dzhub_dbt_bench_full"
TARGET = OUT / "dbt_target"  # a target folder of its own: tests running meanwhile don't clobber run_results


def _dbt(args: list[str], dsn: str, label: str) -> float:
    t = time.monotonic()
    if run_dbt([*args, "--quiet", "--target-path", str(TARGET)], dsn, check=False).returncode != 0:
        raise SystemExit(f"dbt {' '.join(args)} failed")
    elapsed = time.monotonic() - t
    (OUT / f"run_results_{label}.json").write_bytes((TARGET / "run_results.json").read_bytes())
    return elapsed


def _top(label: str, n: int = 12) -> list[tuple[str, float]]:
    """The slowest nodes of a dbt run (models, tests), from its saved run_results.json."""
    results = json.loads((OUT / f"run_results_{label}.json").read_text())["results"]
    timed = [(r["unique_id"].split(".", 2)[-1], r["execution_time"]) for r in results]
    return sorted(timed, key=lambda x: -x[1])[:n]


def _counts(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        return {rel: conn.execute(f"select count(*) from {rel}").fetchone()[0] for rel in COUNTED}


def _baseline(dsn: str) -> tuple[float, int]:
    with psycopg.connect(dsn) as conn:
        t = time.monotonic()
        rows = 0
        for table in INPUTS:
            conn.execute(f"create temp table b_{table} as select * from ods.{table}")
            rows += conn.execute(f"select count(*) from b_{table}").fetchone()[0]
        elapsed = time.monotonic() - t
        conn.rollback()
    return elapsed, rows


def _clone(server: str, source: str, target: str) -> None:
    """``target`` as a file copy of ``source`` (no session may be open on it)."""
    with psycopg.connect(server, autocommit=True) as conn:
        conn.execute(f"drop database if exists {target} with (force)")
        conn.execute(f"create database {target} template {source}")


def _drop_model_indexes_on_ods(dsn: str) -> None:
    """ODS as a FULL leaves it: without the indexes the models' pre-hooks added (only constraints')."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        for (index,) in conn.execute(
                "select i.indexrelid::regclass::text from pg_index i join pg_class c on c.oid = i.indrelid "
                "where c.relnamespace = 'ods'::regnamespace "
                "and not exists (select 1 from pg_constraint k where k.conindid = i.indexrelid)").fetchall():
            conn.execute(f"drop index {index}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--persons", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", action="store_true", help="keep the benchmark database afterwards")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--snapshot", action="store_true", help=f"keep the post-full-build state as {SNAPSHOT_DB}")
    mode.add_argument("--daily-only", action="store_true", help=f"start from {SNAPSHOT_DB}: only the daily run")
    mode.add_argument("--rebuild", action="store_true",
                      help=f"use up {SNAPSHOT_DB}: the full build again (models changed), then the day")
    a = ap.parse_args()

    server = with_database(env("DZ_PG_DSN") or DEFAULT_PG_DSN, "postgres")
    dsn = with_database(server, "dzhub_dbt_bench")
    figures = OUT / f"dbt_snapshot_{a.persons}_{a.seed}.json"
    if a.daily_only or a.rebuild:
        if not figures.exists():
            raise SystemExit(f"no snapshot of {a.persons:,} persons (seed {a.seed}): run with --snapshot first")
        full = json.loads(figures.read_text())
        if a.rebuild:  # the snapshot itself, renamed: a copy needs its size again (31 GB at 5.5M persons)
            with psycopg.connect(server, autocommit=True) as conn:
                conn.execute("drop database if exists dzhub_dbt_bench with (force)")
                conn.execute(f"alter database {SNAPSHOT_DB} rename to dzhub_dbt_bench")
            figures.unlink()
        else:
            _clone(server, SNAPSHOT_DB, "dzhub_dbt_bench")
        load_full, full_s, after_full = full["load_full"], full["full_s"], full["after_full"]
        (OUT / "run_results_full.json").write_text(json.dumps(full["run_results"]))
        load_before = os.getloadavg()[0]
        base_s, base_rows = _baseline(dsn)
        if a.rebuild:
            _drop_model_indexes_on_ods(dsn)
            full_s = _dbt(["build", "--full-refresh"], dsn, "full")
            after_full = _counts(dsn)
    else:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute("drop database if exists dzhub_dbt_bench with (force)")
        init_database(dsn)

        load_full = load(full_package(a.persons, a.seed), dsn)  # and vacuum analyze: dbt's plans want statistics
        load_before = os.getloadavg()[0]
        base_s, base_rows = _baseline(dsn)

        full_s = _dbt(["build", "--full-refresh"], dsn, "full")
        after_full = _counts(dsn)
        if a.snapshot:
            _clone(server, "dzhub_dbt_bench", SNAPSHOT_DB)
            run_results = json.loads((OUT / "run_results_full.json").read_text())
            figures.write_text(json.dumps({"load_full": load_full, "full_s": full_s, "after_full": after_full,
                                           "run_results": run_results}))
    apply_s, changes = _apply_day(a.persons, a.seed, dsn)
    daily_s = _dbt(["build"], dsn, "daily")
    after_daily = _counts(dsn)
    with psycopg.connect(dsn) as conn:
        recomputed = conn.execute("select count(*) from core.core_person__changes where key is not null").fetchone()[0]

    print(f"dbt benchmark, {a.persons:,} persons (seed {a.seed}); ODS input rows {base_rows:,}"
          + (f"; daily only, full-build figures from the {SNAPSHOT_DB} snapshot" if a.daily_only else "")
          + (f"; full build again on the {SNAPSHOT_DB} snapshot (ODS as loaded)" if a.rebuild else ""))
    print(f"  machine load (1-min average) before the dbt runs {load_before:.2f}, after {os.getloadavg()[0]:.2f}")
    print(f"  load FULL {load_full:7.1f}s   apply one day's {changes:,} changes {apply_s:7.1f}s   (not dbt)")
    print(f"  baseline scan+write of the inputs   {base_s:7.1f}s")
    print(f"  full dbt build (all layers, tests)  {full_s:7.1f}s   = {full_s / base_s:5.1f}x baseline")
    print(f"  daily incremental dbt build         {daily_s:7.1f}s   = {daily_s / base_s:5.1f}x baseline"
          f"   ({recomputed:,} persons recomputed)")
    print(f"  {'relation':40} {'after full':>12} {'after daily':>12}")
    for rel in COUNTED:
        print(f"  {rel:40} {after_full[rel]:12,} {after_daily[rel]:12,}")
    for label in ("full", "daily"):
        print(f"  slowest nodes of the {label} build (s):")
        for name, secs in _top(label):
            print(f"    {secs:7.1f}  {name}")
    if not a.keep:
        with psycopg.connect(server, autocommit=True) as conn:
            conn.execute("drop database if exists dzhub_dbt_bench with (force)")


if __name__ == "__main__":
    main()
