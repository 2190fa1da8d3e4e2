"""Console benchmark: the p95 time of each page with 1,000 batches, 1M rejects and 100k findings,
beside a bare page of the same app (the sign-in form: no database) measured in the same run.

    .venv/bin/python bench/console_bench.py [--persons 8200] [--batches 1000] [--rejects 1000000]
                                            [--requests 40] [--reuse]

In a database of its own (``dzhub_console_bench``), one run:

1. loads the synthetic city through the real loader (a FULL with planted row defects and an INCR:
   deliveries, files, flags, rejects, change logs), makes a day of findings of the fourteen model
   codes for every person with an address (~100k) and the other issues' relations
   (tests/support/console_city.py);
2. scales the registry up from those rows: the FULL delivery cloned to ``--batches`` deliveries
   over 60 days, its rejects repeated to ``--rejects`` rows in that one delivery (the worst batch
   page), then ANALYZE;
3. serves the console with ``dzhub console serve --no-dagster`` (its own process, as deployed) and
   signs in an engineer, an operator and a station-bound officer;
4. requests each page ``--requests`` times after 3 warm-ups, one at a time, and prints p50 and p95
   per page beside the bare page's (goal: every page p95 ≤ 300 ms), and the 1M-row rejects CSV's
   streaming time once.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the console city builder is shared with the tests

from support.console_app import accounts  # noqa: E402
from support.console_city import AS_OF, add_findings, build  # noqa: E402

from dz_assets.db import with_database  # noqa: E402
from dz_assets.db.init import init_database  # noqa: E402
from dz_assets.settings import DEFAULT_PG_DSN, env  # noqa: E402

DB = "dzhub_console_bench"
GOAL_MS = 300.0
ALL_MODELS = ("XZ01", "XZ02", "XZ03", "ZX01", "ZX02", "ZX03", "YJ01", "YJ02", "YJ03", "YJ04", "YJ05", "YJ06",
              "YJ07", "YJ08")


def scale(dsn: str, batches: int, rejects: int) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        have = conn.execute("select count(*) from meta.batch").fetchone()[0]
        conn.execute("""
            insert into meta.batch (batch_id, source, kind, batch_date, batch_no, file_name, size_bytes, sha256,
                received_at, started_at, finished_at, status, reason, rows_total, rows_loaded, rows_rejected,
                rows_duplicate, rows_flagged, objects)
            select 'SCGA-INCR-' || to_char(d, 'YYYYMMDD') || '-' || lpad((g %% 24 + 1)::text, 4, '0') || '-' || g,
                   b.source, 'INCR', d, g %% 24 + 1, b.file_name, b.size_bytes, b.sha256,
                   d + make_interval(hours => g %% 24), d + make_interval(hours => g %% 24, secs => 1),
                   d + make_interval(hours => g %% 24, secs => 3 + g %% 7),
                   case when g %% 50 = 0 then 'quarantined' when g %% 97 = 0 then 'duplicate' else 'applied' end,
                   case when g %% 50 = 0 then 'file_checksum' end,
                   b.rows_total, b.rows_loaded, b.rows_rejected, b.rows_duplicate, b.rows_flagged, b.objects
            from meta.batch b,
                 generate_series(1, %(n)s) g,
                 lateral (select (current_date - (g %% 60))::timestamptz as d) dd
            where b.delivery_id = 1""", {"n": max(batches - have, 0)})
        per = conn.execute("select count(*) from meta.reject where delivery_id = 1").fetchone()[0]
        copies = max(rejects // max(per, 1) - 1, 0)
        conn.execute("""
            insert into meta.reject (delivery_id, batch_id, table_code, file_name, line, field, reason, raw_line)
            select r.delivery_id, r.batch_id, r.table_code, r.file_name, r.line + g::bigint * 100000, r.field, r.reason,
                   r.raw_line
            from (select * from meta.reject where delivery_id = 1) r, generate_series(1, %(n)s) g""",
                     {"n": copies})
        conn.execute("update meta.batch set rows_rejected = (select count(*) from meta.reject where delivery_id = 1) "
                     "where delivery_id = 1")
        conn.execute("vacuum analyze")  # as autovacuum leaves a table some time after its load


def timed(client: httpx.Client, path: str, n: int) -> list[float]:
    for _ in range(3):
        assert client.get(path).status_code == 200, path
    out = []
    for _ in range(n):
        t = time.perf_counter()
        r = client.get(path)
        out.append((time.perf_counter() - t) * 1000)
        assert r.status_code == 200, (path, r.status_code)
    return out


def p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--persons", type=int, default=8200)
    ap.add_argument("--batches", type=int, default=1000)
    ap.add_argument("--rejects", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=40)
    ap.add_argument("--reuse", action="store_true", help="keep the bench database if it is there")
    args = ap.parse_args()

    server = with_database(env("DZ_PG_DSN", DEFAULT_PG_DSN), "postgres")
    dsn = with_database(server, DB)
    work = Path(tempfile.mkdtemp(prefix="dzhub-console-bench-"))
    with psycopg.connect(server, autocommit=True) as conn:
        there = conn.execute("select 1 from pg_database where datname = %s", (DB,)).fetchone()
        if there and not args.reuse:
            conn.execute(f'drop database "{DB}" with (force)')
            there = None
    t = time.monotonic()
    if not there:
        init_database(dsn)
        build(dsn, work / "packages", work / "outbox", persons=args.persons)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("delete from model.mdl_findings where as_of = %s", (AS_OF,))
            add_findings(conn, AS_OF, per_person=len(ALL_MODELS), models=ALL_MODELS)
        scale(dsn, args.batches, args.rejects)
        print(f"built in {time.monotonic() - t:.0f} s", file=sys.stderr)
    with psycopg.connect(dsn) as conn:
        figures = conn.execute("select (select count(*) from meta.batch), (select count(*) from meta.reject), "
                               "(select count(*) from model.mdl_findings), (select count(*) from model.mdl_findings "
                               "where as_of = %s)", (AS_OF,)).fetchone()
        station = conn.execute("select gajgjgdm from model.mdl_findings where as_of = %s group by 1 "
                               "order by count(*) desc limit 1", (AS_OF,)).fetchone()[0]
        mid_reject = conn.execute("select reject_id from meta.reject where delivery_id = 1 "
                                  "order by reject_id offset 500000 limit 1").fetchone()[0]
        mid_finding = conn.execute("select finding_id from model.mdl_findings where as_of = %s "
                                   "order by finding_id offset 50000 limit 1", (AS_OF,)).fetchone()[0]
    print(f"console bench: {figures[0]} batches, {figures[1]} rejects, {figures[2]} findings "
          f"({figures[3]} on {AS_OF}); officer bound to station {station}; {args.requests} requests per page")

    port = 18090 + secrets.randbelow(1000)
    env_ = {**os.environ, "DZ_PG_DSN": dsn, "DZ_STATE_DIR": str(work / "state"), "DZ_OUTBOX": str(work / "outbox")}
    proc = subprocess.Popen([str(Path(sys.executable).with_name("dzhub")), "console", "serve", "--no-dagster",
                             "--port", str(port)], env=env_, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(url + "/signin", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline and proc.poll() is None, "the console did not start"
                time.sleep(0.3)
        with accounts(dsn, station) as made:
            clients = {}
            for who in ("engineer", "operator", "officer"):
                c = httpx.Client(base_url=url, headers={"Origin": url}, timeout=60)
                a = made[who]
                assert c.post("/signin", data={"login": a.login, "password": a.password}).status_code == 303
                clients[who] = c
            plan = [("bare", "engineer", "/signin"),
                    ("批次登记", "engineer", "/batches"), ("批次登记 末页", "engineer", "/batches?before=20"),
                    ("批次登记 检索", "operator", "/batches?q=SCGA-INCR&status=quarantined"),
                    ("批次详情 1M 拒收", "engineer", "/batches/1"),
                    ("批次详情 第 50 万条起", "operator", f"/batches/1?after={mid_reject}"),
                    ("数据监控", "operator", "/monitoring"), ("增量同步", "operator", "/cdc"),
                    ("数据对账", "operator", "/recon"), ("告警", "operator", "/alerts"),
                    ("模型预警", "engineer", "/findings"), ("模型预警 派出所", "officer", "/findings"),
                    ("模型预警 第 5 万条起", "officer", f"/findings?after={mid_finding}"),
                    ("地址变更", "engineer", "/addresses"), ("数据源", "engineer", "/sources"),
                    ("审计", "engineer", "/audit"), ("bare", "engineer", "/signin")]
            results = []
            for label, who, path in plan:
                ms = timed(clients[who], path, args.requests)
                results.append((label, who, path, p(ms, 50), p(ms, 95)))
            bare = max(r[4] for r in results if r[0] == "bare")
            print(f"{'page':24s} {'as':9s} {'p50 ms':>8s} {'p95 ms':>8s} {'p95/bare':>9s}  goal p95 ≤ {GOAL_MS:.0f} ms")
            for label, who, path, p50, p95 in results:
                flag = "" if p95 <= GOAL_MS else "  OVER"
                print(f"{label:24s} {who:9s} {p50:8.1f} {p95:8.1f} {p95 / bare:8.1f}x  {path}{flag}")
            t = time.perf_counter()
            with clients["engineer"].stream("GET", "/batches/1/rejects.csv") as r:
                size = sum(len(chunk) for chunk in r.iter_raw())
            took = time.perf_counter() - t
            print(f"rejects CSV of delivery 1: {size / 1e6:.1f} MB streamed in {took:.1f} s "
                  f"({figures[1] / max(took, 1e-9):,.0f} rows/s)")
            for c in clients.values():
                c.close()
    finally:
        proc.terminate()
        proc.wait(timeout=20)


if __name__ == "__main__":
    main()
