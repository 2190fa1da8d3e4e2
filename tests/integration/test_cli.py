"""The dzhub CLI's conventions, through real subprocesses: with --json, stdout holds exactly one
JSON object and notices go to stderr; `db url` names the warehouse in use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

DZHUB = str(Path(sys.executable).with_name("dzhub"))


def run(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([DZHUB, *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


def one_json_object(stdout: str) -> dict:
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one JSON line on stdout, got {stdout!r}"
    obj = json.loads(lines[0])
    assert isinstance(obj, dict)
    return obj


def test_db_init_json_is_one_object_and_idempotent(pg_dsn):
    first = run("db", "init", "--json")
    assert first.returncode == 0, first.stderr
    obj = one_json_object(first.stdout)
    assert obj["url"] == pg_dsn and obj["how"] == "env"
    assert obj["migrations_applied"] == [] and obj["ods_tables_created"] == 0
    assert "PostgreSQL (DZ_PG_DSN)" in first.stderr


def test_db_url_prints_the_url_in_use(pg_dsn):
    out = run("db", "url")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == pg_dsn
    assert one_json_object(run("db", "url", "--json").stdout) == {"url": pg_dsn, "how": "env"}


def test_help_lists_the_command_groups():
    out = run("--help")
    assert out.returncode == 0
    for group in ("db", "synth", "package", "dbt", "demo", "ui"):
        assert f"  {group}" in out.stdout, group


def test_unreachable_warehouse_is_one_clear_line_not_a_traceback():
    out = run("db", "init", "--json", env={"DZ_PG_DSN": "postgresql://postgres@127.0.0.1:1/nowhere"})
    assert out.returncode == 1
    assert out.stdout == ""
    assert "dzhub: error: OperationalError" in out.stderr
    assert "Traceback" not in out.stderr


def test_a_warehouse_not_initialised_says_to_run_db_init(pg_dsn):
    from dz_assets.db import with_database

    missing = with_database(pg_dsn, "dzhub_never_created")
    out = run("rejects", "SCGA-FULL-20261120-0001", "--json", env={"DZ_PG_DSN": missing})
    assert out.returncode == 1 and out.stdout == ""
    assert 'database "dzhub_never_created" does not exist' in out.stderr
    assert "`dzhub db init` creates it" in out.stderr and "Traceback" not in out.stderr


def test_a_database_without_the_schema_says_to_run_db_init(pg_dsn):
    import psycopg

    from dz_assets.db import with_database

    admin = with_database(pg_dsn, "postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute('drop database if exists "dzhub_empty_cli" with (force)')
        conn.execute('create database "dzhub_empty_cli"')
    try:
        out = run("rejects", "SCGA-FULL-20261120-0001", "--json", env={"DZ_PG_DSN": with_database(pg_dsn, "dzhub_empty_cli")})
        assert out.returncode == 1 and out.stdout == ""
        assert 'relation "meta.batch" does not exist' in out.stderr
        assert "lacks dz-hub's schema: `dzhub db init`" in out.stderr
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute('drop database if exists "dzhub_empty_cli" with (force)')


def test_rejects_of_an_unknown_batch_is_one_line_or_one_object(pg_dsn):
    text = run("rejects", "SCGA-FULL-20991231-0001")
    assert text.returncode == 1 and text.stdout == ""
    assert text.stderr.strip().splitlines() == ["no batch SCGA-FULL-20991231-0001 is registered"]
    as_json = run("rejects", "SCGA-FULL-20991231-0001", "--json")
    assert as_json.returncode == 1 and "Traceback" not in as_json.stderr
    obj = one_json_object(as_json.stdout)
    assert obj["error"] == "unknown_batch" and obj["delivery_id"] is None


def test_package_load_refuses_a_fifo_naming_it(pg_dsn, tmp_path):
    fifo = tmp_path / "SCGA-FULL-20991231-0002.zip"
    os.mkfifo(fifo)
    out = subprocess.run([DZHUB, "package", "load", str(fifo), "--json"], capture_output=True, text=True,
                         timeout=60)  # copying a FIFO would block forever
    v = one_json_object(out.stdout)
    assert [e["code"] for e in v["errors"]] == ["not_zip"] and str(fifo) in v["errors"][0]["message"]
