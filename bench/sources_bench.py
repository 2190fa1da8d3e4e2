"""Declarative-source benchmark: rows/s into ``raw_src.<id>`` from MariaDB and from PostgreSQL,
beside the bulk path measured in the same run, and peak memory as rows grow.

    .venv/bin/python bench/sources_bench.py [--rows 1000000] [--backends pyarrow,connectorx]

The table is the synthetic city's 智慧小区 access records (``dz_assets.synth.sources``: key, area
code, ID number, name, direction, two datetimes), ``--rows`` rows, loaded into a MariaDB database
and a PostgreSQL database of this run. The source is ``sources/zhxq_mjjl.yaml``'s shape (trim,
upper, ID number, map, two datetimes), full read (no cursor yet).

(a) bulk path: MariaDB ``SELECT … INTO OUTFILE`` (or, where the server may not write files, the
    ``mysql --batch --quick`` client export), then psql ``\\copy`` into a plain table; PostgreSQL:
    psql ``\\copy (select …) to`` file, then ``\\copy`` into a plain table. No rules, no key merge.
(b) dz-hub: ``run_source`` (dlt ``sql_table`` with the given back-end, ConnectorX's Arrow stream
    by default → Arrow rules → binary COPY; into an empty target, as here, straight into
    ``raw_src.<id>`` with its key built afterwards, else into a stage merged by key; one
    transaction), in a child process each, its peak RSS read from the child's rusage: a query
    source at ``--rows``/4 and at ``--rows`` (whether memory stays flat), then a table source at
    ``--rows``, and that table source once more (the merge by key through a stage, nothing
    changed). The imports a process pays once (dlt's SQL source, the drivers, and pandas on
    pyarrow's first kernel call: ~1.5 s) are timed apart, in the last column, and not in rows/s:
    a Dagster code server or a ``dzhub`` process pays them once for all its sources.

Goal: (b) ≥ 50 % of (a)'s rows/s, memory flat as rows grow.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import pymysql
import yaml

from dz_assets.db import pg_dsn, with_database
from dz_assets.db.init import init_database
from dz_assets.settings import setting

SOURCE = {
    "name": "智慧小区人员进出记录（基准）", "category": "社会采集", "owner": "基准测试", "key": ["jlbh"],
    "fields": {"JLBH": {"from": "jlbh"}, "XQBM": {"from": "xqbm", "rules": ["trim"]},
               "GMSFHM": {"from": "sfzh", "rules": ["trim", "upper", "idcard"], "pii": "idcard"},
               "XM": {"from": "xm", "rules": ["trim"], "pii": "name"},
               "CRFXDM": {"from": "crfx", "map": {"进": "1", "出": "2"}},
               "CRSJ": {"from": "crsj", "datetime": "%Y-%m-%d %H:%M:%S"},
               "GXSJ": {"from": "gxsj", "datetime": "%Y-%m-%d %H:%M:%S"}},
}
COLS = "jlbh, xqbm, sfzh, xm, crfx, crsj, gxsj"


def mysql_parts(url: str) -> dict:
    rest = url.split("://", 1)[1]
    cred, _, hostpart = rest.rpartition("@")
    user, _, password = cred.partition(":")
    host, _, port = hostpart.split("/")[0].partition(":")
    return {"host": host, "port": int(port or 3306), "user": user, "password": password}


def write_tsv(path: Path, rows: int) -> int:
    from dz_assets.synth.sources import access_records

    persons = rows * 2 // 3 + 10  # about 80 % of the city's persons are on the hukou register
    n = 0
    with open(path, "w", encoding="utf-8") as fh:
        for i, r in enumerate(access_records(persons, 7, per_person=2)):
            if i >= rows:
                break
            n += 1
            fh.write(f"{r['jlbh']}\t{r['xqbm']}\t{r['sfzh']}\t{r['xm']}\t{r['crfx']}\t"
                     f"{r['crsj']:%Y-%m-%d %H:%M:%S}\t{r['gxsj']:%Y-%m-%d %H:%M:%S}\n")
    return n


def psql(dsn: str, command: str) -> None:
    subprocess.run(["psql", "-q", "-v", "ON_ERROR_STOP=1", dsn, "-c", command], check=True)


def child_run(cfg_dir: str, sid: str, backend: str, out) -> None:
    from dz_assets.sources.config import load_sources
    from dz_assets.sources.run import run_source

    cfg = load_sources(Path(cfg_dir)).by_id(sid)
    t = time.perf_counter()
    # what a process pays once, whatever it reads: dlt's SQL source (~1 s), its drivers, and
    # pandas, which pyarrow's compute functions import on their first call (~0.5 s)
    import connectorx  # noqa: F401
    import dlt.sources.sql_database  # noqa: F401
    import pyarrow as pa
    import pyarrow.compute as pc
    import pymysql  # noqa: F401
    import sqlalchemy  # noqa: F401

    pc.utf8_trim_whitespace(pa.array(["x"]))
    imports = time.perf_counter() - t
    t = time.perf_counter()
    r = run_source(cfg, backend=backend)
    out.put((r.read, time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, imports))


def run_child(cfg_dir: Path, sid: str, backend: str) -> tuple[int, float, float, float]:
    q = mp.get_context("spawn").Queue()
    p = mp.get_context("spawn").Process(target=child_run, args=(str(cfg_dir), sid, backend, q))
    p.start()
    res = q.get()
    p.join()
    return res


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--backends", default="connectorx,pyarrow")
    args = ap.parse_args()
    tag = secrets.token_hex(3)
    server = with_database(pg_dsn(), "postgres")
    warehouse = with_database(server, f"dzhub_srcbench_{tag}")
    source_pg = with_database(server, f"dzsrc_bench_{tag}")
    my = mysql_parts(setting("DZ_MYSQL_URL"))
    my_db = f"dzsrc_bench_{tag}"
    work = Path(tempfile.mkdtemp(prefix="srcbench_"))
    os.environ["DZ_PG_DSN"] = warehouse
    os.environ.setdefault("DZ_STATE_DIR", str(work / "state"))
    init_database(warehouse)
    with psycopg.connect(server, autocommit=True) as c:
        c.execute(f'create database "dzsrc_bench_{tag}"')
    myconn = pymysql.connect(**my, autocommit=True, local_infile=True)
    cur = myconn.cursor()
    try:
        tsv = work / "rows.tsv"
        t = time.perf_counter()
        args.rows = write_tsv(tsv, args.rows)
        print(f"synthetic rows: {args.rows} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
        ddl = "(jlbh varchar(20) primary key, xqbm varchar(20), sfzh varchar(20), xm varchar(20), crfx varchar(4), " \
              "crsj {dt}, gxsj {dt})"
        cur.execute(f"create database {my_db} character set utf8mb4")
        cur.execute(f"use {my_db}")
        cur.execute("create table zhxq_mjjl " + ddl.format(dt="datetime"))
        cur.execute(f"load data local infile '{tsv}' into table zhxq_mjjl character set utf8mb4")
        psql(source_pg, "create table zhxq_mjjl " + ddl.format(dt="timestamp"))
        psql(source_pg, f"\\copy zhxq_mjjl from '{tsv}'")

        # (a) bulk paths
        bulk = {}
        out = Path(f"/tmp/dzsrc_bench_{tag}.tsv")
        t = time.perf_counter()
        try:
            cur.execute(f"select {COLS} from zhxq_mjjl into outfile '{out}' character set utf8mb4")
            how = "SELECT … INTO OUTFILE"
        except pymysql.err.MySQLError:
            with open(out, "wb") as fh:
                subprocess.run(["mysql", "-h", my["host"], "-P", str(my["port"]), "-u", my["user"],
                                *([f"-p{my['password']}"] if my["password"] else []), "--batch", "--quick",
                                "--skip-column-names", my_db, "-e", f"select {COLS} from zhxq_mjjl"],
                               stdout=fh, check=True)
            how = "mysql --batch --quick"
        psql(warehouse, "create table public.bulk_mysql (jlbh text, xqbm text, sfzh text, xm text, crfx text, "
                        "crsj timestamp, gxsj timestamp)")
        psql(warehouse, f"\\copy public.bulk_mysql from '{out}'")
        bulk["mysql"] = (time.perf_counter() - t, how)
        out.unlink(missing_ok=True)
        t = time.perf_counter()
        psql(source_pg, f"\\copy (select {COLS} from zhxq_mjjl) to '{out}'")
        psql(warehouse, "create table public.bulk_pg (like public.bulk_mysql)")
        psql(warehouse, f"\\copy public.bulk_pg from '{out}'")
        bulk["postgres"] = (time.perf_counter() - t, "psql \\copy to, \\copy from")
        out.unlink(missing_ok=True)

        # (b) dz-hub, at a quarter and at the full size
        cfg_dir = work / "sources"
        cfg_dir.mkdir()
        os.environ["DZ_SRC_BENCH_MYSQL"] = f"mysql://{my['user']}:{my['password']}@{my['host']}:{my['port']}/{my_db}"
        os.environ["DZ_SRC_BENCH_PG"] = source_pg
        print(f"\nrows: {args.rows}; bulk path and dz-hub measured in this run\n")
        print(f"{'source':9} {'path':42} {'rows':>9} {'s':>7} {'rows/s':>9} {'vs bulk':>8} {'peak MiB':>9} "
          f"{'imports s':>9}")
        for kind, env_name in (("mysql", "DZ_SRC_BENCH_MYSQL"), ("postgres", "DZ_SRC_BENCH_PG")):
            secs, how = bulk[kind]
            base_rate = args.rows / secs
            print(f"{kind:9} {'bulk: ' + how:42} {args.rows:>9} {secs:>7.2f} {base_rate:>9.0f} {'100 %':>8} {'-':>9}")
            for backend in args.backends.split(","):
                # the same query source at a quarter and at all the rows (memory as rows grow),
                # then the table source (dlt's sql_table) at all the rows
                for label, how, frac in (("query", "query", 4), ("query", "query", 1), ("table", "table", 1),
                                         ("table, again: merge", "table", 1)):
                    sid = f"b_{kind[:2]}_{backend[:4]}_{how[0]}{frac}"
                    doc = {"id": sid, **SOURCE, "kind": kind, "connection": {"url_env": env_name},
                           how: (f"select {COLS} from zhxq_mjjl order by jlbh limit {args.rows // frac}"
                                 if how == "query" else "zhxq_mjjl")}
                    (cfg_dir / f"{sid}.yaml").write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
                    n, secs2, rss, imports = run_child(cfg_dir, sid, backend)
                    rate = n / secs2
                    path = f"dz-hub {backend} ({label})"
                    print(f"{kind:9} {path:42} {n:>9} {secs2:>7.2f} {rate:>9.0f} "
                          f"{rate / base_rate * 100:>7.0f}% {rss:>9.0f} {imports:>9.2f}")
    finally:
        cur.execute(f"drop database if exists {my_db}")
        myconn.close()
        with psycopg.connect(server, autocommit=True) as c:
            c.execute(f'drop database if exists "dzsrc_bench_{tag}" with (force)')
            c.execute(f'drop database if exists "dzhub_srcbench_{tag}" with (force)')


if __name__ == "__main__":
    main()
