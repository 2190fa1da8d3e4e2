"""Full-load benchmark: dz-hub's FULL load against raw ``\\copy`` and pandas ``to_sql``.

    .venv/bin/python bench/full_load_bench.py [--rows 10000000] [--pandas-rows 1000000] [--repeat 3]

Generates (once; cached under ``bench/out/``) a FULL package with an N-row 户籍人口 table
(HZ_HJRKJBXX) and a mix of address (YBSS_BZDZMLXX, N/10) and actual-population (YBSS_SYRKXX,
N/10) rows, then in one run measures:

(a) raw COPY: psql ``\\copy`` of the same BCP files into plain text tables without indexes
    (the physical limit: no checks, no types, no key);
(b) dz-hub: ``open_package`` + ``load_full`` as the pipeline runs them for a FULL (every package
    check: the data files' SHA-256 and line counts in the load's own pass; prove, COPY, key,
    swap), in a subprocess so that its peak RSS is its own;
(c) pandas ``read_csv`` + ``to_sql`` on an M-row slice of the person table;
(d) the server's floor for the ODS shape: the rows dz-hub just loaded, exported once as the
    binary COPY data it sends (catalogue fields, ``_line``, ``_file``; the other lineage columns
    are defaults), then psql ``\\copy``s them into fresh tables ``FREEZE`` and keys them, the
    tables in parallel as dz-hub loads them. Nothing is read from the zip, nothing proven: what
    PostgreSQL alone takes for dz-hub's tables (typed, keyed, with the design's lineage columns),

and prints rows/s for each, dz-hub's ratio to raw COPY, to its floor and to pandas, and dz-hub's
peak RSS.
The generator is the bench's own (vectorised polars): the synthetic city writes rows in Python.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import polars as pl
import psycopg

OUT = Path(__file__).resolve().parent / "out"
ROWS_PER_FILE = 1_000_000
DIVISIONS = ["511702", "511703", "511722", "511723", "511724", "511725", "511781"]
SURNAMES = list("王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗")
GIVEN = ["伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛"]
WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def _pick(values: list[str], idx: pl.Expr) -> pl.Expr:
    return idx.mod(len(values)).replace_strict(dict(enumerate(values)), return_dtype=pl.String)


def _idcard(region: pl.Expr, birth: pl.Expr, seq: pl.Expr) -> pl.Expr:
    body = pl.concat_str([region, birth, seq.mod(1000).cast(pl.String).str.zfill(3)])
    total = pl.sum_horizontal([body.str.slice(i, 1).cast(pl.Int32) * w for i, w in enumerate(WEIGHTS)])
    return pl.concat_str([body, _pick(list("10X98765432"), total)])


def persons(start: int, n: int) -> pl.DataFrame:
    i = pl.int_range(start, start + n, eager=True).alias("i").to_frame()
    idx = pl.col("i")
    birth = pl.concat_str([(1930 + idx.mod(90)).cast(pl.String), (1 + idx.mod(12)).cast(pl.String).str.zfill(2),
                           (1 + idx.mod(28)).cast(pl.String).str.zfill(2)])
    region = _pick(DIVISIONS, idx // 7)
    return i.select(
        pl.concat_str([pl.lit("R"), idx.cast(pl.String).str.zfill(11)]).alias("RYBH"),
        _idcard(region, birth, idx).alias("GMSFHM"),
        pl.concat_str([_pick(SURNAMES, idx), _pick(GIVEN, idx // 20)]).alias("XM"),
        (1 + idx.mod(2)).cast(pl.String).alias("XBDM"),
        pl.lit("01").alias("MZDM"),
        birth.alias("CSRQ"),
        pl.concat_str([pl.lit("H"), (idx // 3).cast(pl.String).str.zfill(10)]).alias("HH"),
        pl.when(idx.mod(3) == 0).then(pl.lit("02")).otherwise(pl.lit("20")).alias("YHZGXDM"),
        pl.concat_str([pl.lit("DZ5117"), (idx // 3).cast(pl.String).str.zfill(12)]).alias("HJDZ_DZBM"),
        region.alias("HJDZ_XZQHDM"),
        pl.concat_str([pl.lit("四川省达州市通川区朝阳路"), (idx // 30).mod(999).cast(pl.String), pl.lit("号"),
                       (idx // 3).mod(30).cast(pl.String), pl.lit("室")]).alias("HJDZ_DZMC"),
        pl.lit("1").alias("RYZTDM"),
        pl.concat_str([pl.lit("2019"), (1 + idx.mod(12)).cast(pl.String).str.zfill(2), pl.lit("15093012")])
        .alias("DJSJ"),
        pl.lit("").alias("XP"),
    )


def addresses(start: int, n: int) -> pl.DataFrame:
    i = pl.int_range(start, start + n, eager=True).alias("i").to_frame()
    idx = pl.col("i")
    return i.select(
        pl.concat_str([pl.lit("DZ5117"), idx.cast(pl.String).str.zfill(12)]).alias("DZBM"),
        pl.concat_str([pl.lit("四川省达州市通川区朝阳路"), idx.mod(999).cast(pl.String), pl.lit("号")]).alias("DZMC"),
        _pick(DIVISIONS, idx).alias("XZQHDM"),
        pl.lit("511702010000").alias("GAJGJGDM"),
        pl.lit("1").alias("DZZTDM"),
        pl.lit("").alias("SJDZBM"),
        (idx.mod(999)).cast(pl.String).alias("MLPH"),
        pl.lit("107.4681").alias("ZBX"),
        pl.lit("31.2090").alias("ZBY"),
        pl.lit("20200101120000").alias("DJSJ"),
        pl.lit("20250301080000").alias("GXSJ"),
    )


def actual_population(start: int, n: int) -> pl.DataFrame:
    i = pl.int_range(start, start + n, eager=True).alias("i").to_frame()
    idx = pl.col("i")
    birth = pl.concat_str([(1950 + idx.mod(50)).cast(pl.String), pl.lit("0101")])
    region = _pick(DIVISIONS, idx)
    return i.select(
        pl.concat_str([pl.lit("S"), idx.cast(pl.String).str.zfill(11)]).alias("SYRKBH"),
        _idcard(region, birth, idx).alias("GMSFHM"),
        pl.concat_str([_pick(SURNAMES, idx // 3), _pick(GIVEN, idx)]).alias("XM"),
        pl.lit("1").alias("RYLBDM"),
        pl.concat_str([pl.lit("DZ5117"), (idx // 2).cast(pl.String).str.zfill(12)]).alias("JZDZ_DZBM"),
        region.alias("JZDZ_XZQHDM"),
        pl.lit("20230115").alias("DJRQ"),
        pl.lit("0").alias("ZXBS"),
    )


def _bcp(df: pl.DataFrame) -> bytes:
    return df.write_csv(None, include_header=False, separator="\t", quote_style="never").encode()


def generate(rows: int, batch_id: str) -> Path:
    from dz_assets.catalog import load_catalogue

    cat = load_catalogue()
    zip_path = OUT / f"{batch_id}.zip"
    if zip_path.exists() and zip_path.with_name(zip_path.name + ".ok").exists():
        return zip_path
    OUT.mkdir(parents=True, exist_ok=True)
    plan = [("HZ_HJRKJBXX", rows, persons), ("YBSS_BZDZMLXX", rows // 10, addresses),
            ("YBSS_SYRKXX", rows // 10, actual_population)]
    xml = ['<?xml version="1.0" encoding="UTF-8"?>', '<MESSAGE version="1">',
           f'  <BATCH id="{batch_id}" kind="FULL" source="SCGA" division="511700" '
           f'created="2026-11-20T02:00:00+08:00" seq="1"/>']
    tmp = zip_path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for table, n, make in plan:
            t = cat.table(table)
            xml.append(f'  <DATASET table="{table}" name="{t.name}" encoding="UTF-8" pk="{",".join(t.key)}">')
            for f in t.fields:
                attrs = f'code="{f.code}" name="{f.name}" type="{f.type}"'
                attrs += (f' length="{f.length}"' if f.length else "") + (' required="true"' if f.required else "")
                attrs += f' dict="{f.dict}"' if f.dict else ""
                xml.append(f"    <FIELD {attrs}/>")
            for k, start in enumerate(range(0, n, ROWS_PER_FILE), 1):
                data = _bcp(make(start, min(ROWS_PER_FILE, n - start)))
                name = f"{table}_{k:04d}.bcp"
                zf.writestr(name, data)
                xml.append(f'    <FILE name="{name}" records="{min(ROWS_PER_FILE, n - start)}" '
                           f'sha256="{hashlib.sha256(data).hexdigest()}"/>')
                print(f"  generated {name}", file=sys.stderr)
            xml.append("  </DATASET>")
        xml.append("</MESSAGE>")
        zf.writestr("GAB_ZIP_INDEX.xml", "\n".join(xml))
    tmp.rename(zip_path)
    sha = hashlib.sha256(zip_path.read_bytes()).hexdigest()
    zip_path.with_name(zip_path.name + ".ok").write_text(sha + "\n")
    return zip_path


def quiesce(dsn: str) -> None:
    """Before each timed phase: a checkpoint and a sync, so that no phase pays for the write-back
    of the one before it (each writes gigabytes; the server checkpoints every ~0.5 GB of WAL)."""
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("checkpoint")
    except psycopg.errors.InsufficientPrivilege:
        print("    (no checkpoint: the bench's role may not; phases may pay for earlier write-back)", file=sys.stderr)
    os.sync()


def raw_copy(dsn: str, zip_path: Path) -> tuple[int, float]:
    """psql \\copy of every data file into a plain text table without indexes."""
    extract = OUT / "extract" / zip_path.stem  # per package: file names repeat across sizes
    extract.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(zip_path) as zf:
        names = [n for n in zf.namelist() if n.endswith(".bcp")]
        for n in names:
            if not (extract / n).exists():
                zf.extract(n, extract)
    from dz_assets.catalog import load_catalogue

    cat = load_catalogue()
    script = []
    for code in sorted({n.rsplit("_", 1)[0] for n in names}):
        cols = ", ".join(f"{f.column} text" for f in cat.table(code).fields)
        script.append(f"drop table if exists bench_raw.{code.lower()}; create table bench_raw.{code.lower()} ({cols});")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("create schema if not exists bench_raw")
        for s in script:
            conn.execute(s)
    copy = [f"\\copy bench_raw.{n.rsplit('_', 1)[0].lower()} from '{extract / n}'" for n in names]
    from dz_assets.province.reader.index import INDEX_NAME, parse_index

    with zipfile.ZipFile(zip_path) as zf:
        index, _ = parse_index(zf.read(INDEX_NAME))
    rows = sum(f.records for d in index.datasets for f in d.files)  # the files' line counts (checked by dz-hub)
    quiesce(dsn)
    t0 = time.perf_counter()
    subprocess.run(["psql", dsn, "-q", "-v", "ON_ERROR_STOP=1"], input="\n".join(copy), text=True, check=True)
    return rows, time.perf_counter() - t0


DZHUB = """
import json, sys, time


def peak_rss_mib():
    # VmHWM, not ru_maxrss: after vfork+exec, ru_maxrss still carries the parent's peak.
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024


from dz_assets.province.reader.package import open_package
from dz_assets.province.delivery.full_load import load_full
t0 = time.perf_counter()
pkg = open_package(sys.argv[2], deep=False)  # as the pipeline opens a FULL
assert pkg.valid, pkg.problems
t1 = time.perf_counter()
r = load_full(sys.argv[1], pkg, delivery_id=None, batch_id=pkg.batch_id)
t2 = time.perf_counter()
import resource
ru = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"check_s": t1 - t0, "load_s": t2 - t1, "total_s": t2 - t0, "totals": r.totals(),
                  "python_cpu_s": ru.ru_utime + ru.ru_stime,
                  "tables": {k: [v.loaded, v.duration_s] for k, v in r.tables.items()},
                  "peak_rss_mib": peak_rss_mib()}))
"""


def dzhub_load(dsn: str, zip_path: Path) -> dict:
    out = subprocess.run([sys.executable, "-c", DZHUB, dsn, str(zip_path)], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(out.stderr)
    return json.loads(out.stdout.strip().splitlines()[-1])


def sent_columns(zip_path: Path) -> dict[str, str]:
    """Per table of the package, the columns dz-hub's COPY fills (``Payload.columns``); the other
    lineage columns are defaults."""
    from dz_assets.catalog import load_catalogue
    from dz_assets.province.reader.copy_payload import Payload
    from dz_assets.province.reader.index import INDEX_NAME, parse_index

    cat = load_catalogue()
    with zipfile.ZipFile(zip_path) as zf:
        index, _ = parse_index(zf.read(INDEX_NAME))
    return {ds.table: ", ".join(Payload(ds, cat.table(ds.table)).columns) for ds in index.datasets}


def export_floor_rows(dsn: str, columns: dict[str, str]) -> Path:
    """dz-hub's loaded rows of each table as the binary COPY data it sends (once per run)."""
    out = OUT / "floor"
    out.mkdir(parents=True, exist_ok=True)
    for code, cols in columns.items():
        subprocess.run(["psql", dsn, "-q", "-v", "ON_ERROR_STOP=1", "-c",
                        f"\\copy (select {cols} from ods.{code.lower()}) to '{out / code}.bin' binary"], check=True)
    return out


def server_floor(dsn: str, rows_dir: Path, columns: dict[str, str], batch_id: str) -> float:
    """(d): psql COPYs dz-hub's own rows into fresh ODS-shaped tables FREEZE and keys them, in parallel."""
    from dz_assets.catalog import load_catalogue

    cat, procs = load_catalogue(), []
    with psycopg.connect(dsn, autocommit=True) as conn:  # not timed: the last run's tables
        for code in columns:
            conn.execute(f"drop table if exists bench_raw.{code.lower()}_floor")
    quiesce(dsn)
    t0 = time.perf_counter()
    for code, cols in columns.items():
        t, name = cat.table(code), f"bench_raw.{code.lower()}_floor"
        script = "\n".join([
            "begin;",
            f"create table {name} (like ods.{code.lower()} including defaults);",
            f"alter table {name} alter column _batch_id set default '{batch_id}', "
            f"alter column _valid_from set default now();",
            f"\\copy {name} ({cols}) from '{rows_dir / code}.bin' with (format binary, freeze)",
            f"alter table {name} add primary key ({', '.join(k.lower() for k in t.key)});",
            f"analyze {name};", "commit;"])
        procs.append(subprocess.Popen(["psql", dsn, "-q", "-v", "ON_ERROR_STOP=1"], stdin=subprocess.PIPE, text=True))
        procs[-1].stdin.write(script)
        procs[-1].stdin.close()
    if any(p.wait() for p in procs):
        raise SystemExit("server floor: psql failed")
    return time.perf_counter() - t0


def pandas_path(dsn: str, zip_path: Path, n: int) -> tuple[int, float]:
    import pandas as pd
    import sqlalchemy

    from dz_assets.catalog import load_catalogue

    t = load_catalogue().table("HZ_HJRKJBXX")
    engine = sqlalchemy.create_engine(dsn.replace("postgresql://", "postgresql+psycopg://"))
    with zipfile.ZipFile(zip_path) as zf, zf.open("HZ_HJRKJBXX_0001.bcp") as fh:
        t0 = time.perf_counter()
        df = pd.read_csv(fh, sep="\t", header=None, names=[f.column for f in t.fields], nrows=n, dtype=str,
                         keep_default_na=False, quoting=3)
        df.to_sql("hz_hjrkjbxx_pandas", engine, schema="bench_raw", if_exists="replace", index=False,
                  chunksize=10_000)
        return len(df), time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--pandas-rows", type=int, default=1_000_000)
    ap.add_argument("--dsn", default=None, help="default: a fresh database dzhub_bench on the warehouse server")
    ap.add_argument("--repeat", type=int, default=3,
                    help="raw COPY and dz-hub alternately this many times; the ratio is the median of the pairs")
    a = ap.parse_args()
    from dz_assets.db import pg_dsn, with_database
    from dz_assets.db.init import init_database

    load_before = os.getloadavg()[0]
    dsn = a.dsn or with_database(pg_dsn(), "dzhub_bench")
    init_database(dsn)
    batch_id = f"SCGA-FULL-20261120-{a.rows // 100_000:04d}"
    t0 = time.perf_counter()
    zip_path = generate(a.rows, batch_id)
    print(f"package {zip_path} ({zip_path.stat().st_size / 2**20:.0f} MiB, {time.perf_counter() - t0:.0f} s)",
          file=sys.stderr)
    pairs, floor_dir, columns = [], None, sent_columns(zip_path)
    for k in range(1, a.repeat + 1):
        print(f"[{k}/{a.repeat}] (a) raw \\copy …", file=sys.stderr)
        raw_rows, raw_s = raw_copy(dsn, zip_path)
        print(f"    {raw_rows} rows in {raw_s:.1f} s; (b) dz-hub check + load …", file=sys.stderr)
        quiesce(dsn)
        dz = dzhub_load(dsn, zip_path)
        print(f"    {dz['total_s']:.1f} s; (d) the server's floor for the same tables …", file=sys.stderr)
        floor_dir = floor_dir or export_floor_rows(dsn, columns)
        floor_s = server_floor(dsn, floor_dir, columns, batch_id)
        print(f"    {floor_s:.1f} s", file=sys.stderr)
        pairs.append((raw_s, dz, floor_s))
    # The run whose dz-hub/raw ratio is the median: the figures of one run, never mixed.
    pairs.sort(key=lambda p: p[0] / p[1]["total_s"])
    raw_s, dz, floor_s = pairs[len(pairs) // 2]
    print("(c) pandas read_csv + to_sql …", file=sys.stderr)
    pd_rows, pd_s = pandas_path(dsn, zip_path, min(a.pandas_rows, ROWS_PER_FILE))
    dz_rows = dz["totals"]["declared"]
    raw_rate, dz_rate, pd_rate = raw_rows / raw_s, dz_rows / dz["total_s"], pd_rows / pd_s
    report = {
        "rows": dz_rows,
        # the machine may be shared: read the figures beside its load
        "load_avg_1m": {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)},
        "raw_copy": {"rows": raw_rows, "seconds": round(raw_s, 2), "rows_per_s": round(raw_rate)},
        "dzhub": {"rows": dz_rows, "seconds": round(dz["total_s"], 2), "check_s": round(dz["check_s"], 2),
                  "load_s": round(dz["load_s"], 2), "rows_per_s": round(dz_rate),
                  "python_cpu_s": round(dz["python_cpu_s"], 1),
                  "peak_rss_mib": round(dz["peak_rss_mib"]), "tables": dz["tables"]},
        "pandas": {"rows": pd_rows, "seconds": round(pd_s, 2), "rows_per_s": round(pd_rate)},
        "server_floor": {"rows": dz_rows, "seconds": round(floor_s, 2), "rows_per_s": round(dz_rows / floor_s)},
        "dzhub_vs_raw_copy": round(dz_rate / raw_rate, 3),
        "dzhub_vs_server_floor": round(floor_s / dz["total_s"], 3),
        "server_floor_vs_raw_copy": round(raw_s / floor_s, 3),
        "runs_raw_s_dzhub_s_floor_s": [(round(r, 2), round(d["total_s"], 2), round(f, 2)) for r, d, f in pairs],
        "dzhub_vs_pandas": round(dz_rate / pd_rate, 1),
    }
    print(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
