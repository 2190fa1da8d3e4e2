"""Rule models benchmark: the fourteen models for one day, each timed, beside one sequential scan
of the tables they read, measured in the same run.

    .venv/bin/python bench/models_bench.py [--persons 1000000] [--seed 7] [--keep] [--reuse]

In a fresh database of its own (``dzhub_models_bench_<persons>``), one run:

1. writes (bench/_city.py: cached under ``bench/out/dbt_city_<persons>_<seed>/``, shared with
   dbt_bench.py and masking_bench.py) the synthetic city's FULL package of day 20261120 and loads
   it through the real loader;
2. baseline: ``select count(*)`` of every table the model layer reads (the sources upstream of
   models/model in dbt's manifest), each a plain sequential scan on one core: the floor under any
   model that reads them;
3. ``dzhub models run`` for D = 20261119 (the first run: builds the base and rule tables and the
   findings table; each rule's time is its dbt node's, two nodes running at once on dbt's two
   threads), then the run of the same day again (nothing changed: the findings are kept, the
   inputs' fingerprint being the one recorded), then once more with reuse off (a re-run after a
   change);
4. the daily run: the city's INCR package of the next day not yet loaded here (20261121, then
   20261122, … on each --reuse; ~840k changes at 5.5M persons, mostly access records) is loaded
   through the real loader (no ANALYZE after it, as the daily run meets it), and the models run
   for the day before it: the base tables take only the rows loaded since their last build;
5. the history (--history N, default 3): the models run for the N days after that one, on the same
   data, so that every subject still firing is a subject of every day before: the findings history
   grows by a day's findings each time, and the time of its node (mdl_findings) shows whether a
   run's work grows with it.

With --cold the OS page cache is dropped before the first run (where this user may), so that it
reads the tables from disk as after a restart; without it they are as the load left them.

Goal (issue 21, 2 cores, 5.5M persons): the fourteen ≤ 3 min for a day, the re-run ≤ 1 min.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from datetime import date, timedelta

import psycopg
from _city import BASE_DATE, OUT, drop_database, fresh_database, full_package, incr_package, load

from dz_assets.db import with_database
from dz_assets.db.init import init_database
from dz_assets.rules.fingerprint import tables_read
from dz_assets.rules.run import run_models
from dz_assets.settings import DEFAULT_PG_DSN, env
from dz_assets.transform import DBT_PROJECT_DIR

AS_OF = date(2026, 11, 19)
DB = "dzhub_models_bench_{persons}"  # one per city size: --reuse never meets another size
RULE = re.compile(r"^mdl_(xz|zx|yj)[0-9]{2}_")


def _timed(conn, sql: str) -> float:
    t = time.monotonic()
    conn.execute(sql)
    return time.monotonic() - t


def _loaded(dsn: str) -> bool:
    try:
        with psycopg.connect(dsn) as conn:
            return conn.execute("select exists (select 1 from meta.batch where status = 'loaded')").fetchone()[0]
    except psycopg.OperationalError:
        return False


def _node_times() -> dict[str, float]:
    """Seconds per dbt node of the last run (dbt's run_results.json)."""
    results = json.loads((DBT_PROJECT_DIR / "target" / "run_results.json").read_text(encoding="utf-8"))
    return {r["unique_id"].rsplit(".", 1)[-1]: r["execution_time"] for r in results["results"]}


def _history_rows(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute("select count(*) from model.mdl_findings").fetchone()[0]


def _next_incr(dsn: str) -> tuple[str, str]:
    """The day (YYYYMMDD) of the next INCR this warehouse has not applied, and the batch it follows."""
    with psycopg.connect(dsn) as conn:
        last = conn.execute("select batch_id from meta.batch where kind = 'INCR' and status = 'applied' "
                            "order by batch_id desc limit 1").fetchone()
    if last is None:
        day = date.fromisoformat(f"{BASE_DATE[:4]}-{BASE_DATE[4:6]}-{BASE_DATE[6:]}") + timedelta(days=1)
        return day.strftime("%Y%m%d"), ""
    day = date.fromisoformat(f"{last[0][10:14]}-{last[0][14:16]}-{last[0][16:18]}") + timedelta(days=1)
    return day.strftime("%Y%m%d"), last[0]


def _drop_page_cache(dsn: str) -> bool:
    """Write dirty pages out and drop the OS page cache, and PostgreSQL's buffers with a checkpoint
    (they stay until evicted; at the default 128 MB they hold little of a 19 GB city)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("checkpoint")
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
    except OSError:
        return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--keep", action="store_true", help="Keep the bench database afterwards.")
    ap.add_argument("--cold", action="store_true", help="Drop the OS page cache before the first run.")
    ap.add_argument("--history", type=int, default=3, help="Days run after the daily run (the history's growth).")
    ap.add_argument("--reuse", action="store_true",
                    help="Reuse a kept bench database's loaded city; only the model layer starts afresh.")
    args = ap.parse_args()

    server = env("DZ_PG_DSN") or DEFAULT_PG_DSN
    db = DB.format(persons=args.persons)
    dsn = with_database(server, db)
    if args.reuse and _loaded(dsn):
        init_database(dsn)  # migrations since
        with psycopg.connect(dsn, autocommit=True) as conn:  # the model layer as before its first run
            conn.execute("drop schema if exists model cascade")
    else:
        dsn = fresh_database(server, db)
        print(f"load: {load(full_package(args.persons, args.seed), dsn):.0f}s", file=sys.stderr)
    read = tables_read() or []
    with psycopg.connect(dsn, autocommit=True) as conn:
        # one plain sequential scan per table, on one core (no index-only or parallel shortcut)
        conn.execute("set max_parallel_workers_per_gather = 0")
        conn.execute("set enable_indexscan = off")
        conn.execute("set enable_indexonlyscan = off")
        conn.execute("set enable_bitmapscan = off")
        scans = {f"{s}.{t}": _timed(conn, f'select count(*) from "{s}"."{t}"') for s, t in read}

    if args.cold:
        print(f"page cache dropped: {_drop_page_cache(dsn)}", file=sys.stderr)
    first = run_models(dsn, AS_OF)
    first_nodes = _node_times()
    print(f"first run: {first.duration_s:.1f}s {first.findings}", file=sys.stderr)
    models = {name: secs for name, secs in first_nodes.items() if RULE.match(name)}
    rerun = run_models(dsn, AS_OF)  # nothing changed since: the findings are kept
    assert rerun.reused, "the re-run of an unchanged day recomputed"
    forced = run_models(dsn, AS_OF, reuse=False)  # what a re-run costs when an input did change
    rerun_nodes = _node_times()
    incr_date, prev = _next_incr(dsn)
    incr = incr_package(args.persons, args.seed, incr_date, prev)
    incr_load = load(incr, dsn, analyze=False)
    daily_day = date.fromisoformat(f"{incr_date[:4]}-{incr_date[4:6]}-{incr_date[6:]}") - timedelta(days=1)
    daily = run_models(dsn, daily_day)
    daily_nodes = _node_times()
    print(f"daily run {daily_day} after {incr.name} ({incr_load:.0f}s to load): {daily.duration_s:.1f}s",
          file=sys.stderr)
    history = [(daily_day, daily.duration_s, daily_nodes.get("mdl_findings", 0.0), _history_rows(dsn))]
    for i in range(1, args.history + 1):
        day = daily_day + timedelta(days=i)
        run = run_models(dsn, day)
        history.append((day, run.duration_s, _node_times().get("mdl_findings", 0.0), _history_rows(dsn)))
        print(f"history: {day}: {run.duration_s:.1f}s, mdl_findings {history[-1][2]:.1f}s", file=sys.stderr)

    scan_total = sum(scans.values())
    print(f"\nrule models, {args.persons} persons, as of {AS_OF} (2 cores)")
    print("sequential scan of the tables read:")
    for table, secs in sorted(scans.items(), key=lambda kv: -kv[1]):
        print(f"  {table:<28} {secs:7.2f}s")
    print(f"  {'total':<28} {scan_total:7.2f}s")
    print("each model's table (first run; two dbt threads, so a model may share the cores with another):")
    for name, secs in sorted(models.items(), key=lambda kv: -kv[1]):
        print(f"  {name:<32} {secs:7.2f}s  {first.findings.get(name[4:8].upper(), 0):>8} findings")
    print(f"  {'sum of the fourteen':<32} {sum(models.values()):7.2f}s")
    print("dbt nodes of the run (first / recomputed re-run / daily run), slowest first:")
    for name, secs in sorted(first_nodes.items(), key=lambda kv: -kv[1])[:16]:
        print(f"  {name:<32} {secs:7.2f}s  {rerun_nodes.get(name, 0):7.2f}s  {daily_nodes.get(name, 0):7.2f}s")
    print(f"dzhub models run, first run of the day: {first.duration_s:7.1f}s (goal ≤ 180 s at 5.5M)")
    print(f"dzhub models run, re-run of the day:    {rerun.duration_s:7.1f}s (goal ≤ 60 s at 5.5M; inputs unchanged: kept)")
    print(f"  the same, recomputed (reuse off):     {forced.duration_s:7.1f}s (what a re-run costs after a change)")
    print(f"dzhub models run, the next day:         {daily.duration_s:7.1f}s (goal ≤ 180 s at 5.5M; after the day's "
          f"INCR {incr.name}: the daily run)")
    print("the days after (the findings history grows; its node's time should not):")
    print(f"  {'as_of':<12} {'run':>8} {'mdl_findings':>13} {'history rows':>13}")
    for day, secs, node, rows in history:
        print(f"  {day.isoformat():<12} {secs:7.1f}s {node:12.1f}s {rows:13,}")
    (OUT / f"models_bench_{args.persons}.json").write_text(json.dumps({
        "persons": args.persons, "scans": scans, "models": models, "first_run_s": first.duration_s,
        "rerun_s": rerun.duration_s, "forced_rerun_s": forced.duration_s, "findings": first.findings, "nodes_first": first_nodes,
        "nodes_rerun": rerun_nodes, "daily_s": daily.duration_s, "daily_as_of": daily_day.isoformat(),
        "nodes_daily": daily_nodes, "cold": args.cold,
        "history": [{"as_of": d.isoformat(), "run_s": r, "mdl_findings_s": n, "rows": c} for d, r, n, c in history]},
        indent=1))
    if not args.keep:
        drop_database(server, db)


if __name__ == "__main__":
    main()
