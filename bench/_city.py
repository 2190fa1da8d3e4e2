"""The synthetic city the warehouse benchmarks share (dbt_bench, models_bench, masking_bench): its
FULL package of day 20261120, written once per size and seed under ``bench/out/dbt_city_<persons>_<seed>/``,
a fresh benchmark database, and the load through the real loader."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg

from dz_assets.db import with_database
from dz_assets.db.init import init_database
from dz_assets.synth import write_package

OUT = Path(__file__).resolve().parent / "out"
BASE_DATE = "20261120"


def full_package(persons: int, seed: int) -> Path:
    """The city's FULL package (written on first use, ~1 min per million persons)."""
    folder = OUT / f"dbt_city_{persons}_{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    full = sorted(folder.glob(f"SCGA-FULL-{BASE_DATE}-*.zip"))
    if not full:
        t = time.monotonic()
        full = [write_package(folder, persons=persons, seed=seed, kind="FULL", date=BASE_DATE).zip_path]
        print(f"synth FULL: {time.monotonic() - t:.0f}s", file=sys.stderr)
    return full[0]


def incr_package(persons: int, seed: int, date: str, prev: str) -> Path:
    """The city's INCR package of ``date`` (a day after the FULL's), chained to batch ``prev``
    (written on first use, ~15 s per million persons)."""
    folder = OUT / f"dbt_city_{persons}_{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    found = sorted(folder.glob(f"SCGA-INCR-{date}-*.zip"))
    if not found:
        t = time.monotonic()
        found = [write_package(folder, persons=persons, seed=seed, kind="INCR", date=date, base_date=BASE_DATE,
                               prev=prev).zip_path]
        print(f"synth INCR {date}: {time.monotonic() - t:.0f}s", file=sys.stderr)
    return found[0]


def fresh_database(server_dsn: str, name: str) -> str:
    """``name`` dropped and initialised again (schema, migrations); its DSN."""
    with psycopg.connect(with_database(server_dsn, "postgres"), autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')
    dsn = with_database(server_dsn, name)
    init_database(dsn)
    return dsn


def drop_database(server_dsn: str, name: str) -> None:
    with psycopg.connect(with_database(server_dsn, "postgres"), autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


def load(zip_path: Path, dsn: str, analyze: bool = True) -> float:
    """``dzhub package load`` of the package (FULL or INCR) into ``dsn`` (as the inbox sensor runs it), then
    ``vacuum analyze`` (the loader leaves fresh tables; the plans want statistics; not after a day's
    INCR with ``analyze=False``, as a daily run meets it); seconds of the load."""
    t = time.monotonic()
    dzhub = str(Path(sys.executable).with_name("dzhub"))
    out = subprocess.run([dzhub, "package", "load", str(zip_path), "--json"], capture_output=True, text=True,
                         env={**os.environ, "DZ_PG_DSN": dsn, "DZ_STATE_DIR": str(OUT / "dbt_state")})
    verdict = json.loads(out.stdout or "{}")
    if verdict.get("status") not in ("loaded", "applied"):
        raise SystemExit(f"load of {zip_path.name} failed: {out.stdout[-2000:]} {out.stderr[-2000:]}")
    elapsed = time.monotonic() - t
    if analyze:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("vacuum analyze")
    return elapsed
