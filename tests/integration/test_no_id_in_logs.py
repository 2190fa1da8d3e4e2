"""No full ID number in logs, in Dagster's run config or in its event log (messages and
materialization metadata), for a batch whose rejected and flagged rows carry ID numbers."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import dagster as dg
import psycopg
import pytest
from psycopg import sql

from dz_assets.db import with_database
from dz_assets.db.init import init_database
from dz_assets.synth import write_package

ID_TOKEN = re.compile(r"(?<![0-9A-Za-z])([0-9]{17}[0-9Xx]|[0-9]{15})(?![0-9A-Za-z])")
DEFECTS = ("row_bad_idcard", "flag_id_checkdigit", "flag_id_region", "flag_id_birth", "row_too_long")


@pytest.fixture
def db(pg_server_dsn, monkeypatch):
    """A warehouse of this test alone (its FULL loads replace ODS tables), as the session's is."""
    name = f"dzhub_nolog_{os.getpid()}_{secrets.token_hex(3)}"
    dsn = with_database(pg_server_dsn, name)
    init_database(dsn)
    monkeypatch.setenv("DZ_PG_DSN", dsn)
    with psycopg.connect(dsn) as conn:
        yield conn
    with psycopg.connect(pg_server_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def _known_ids(db) -> set[str]:
    found: set[str] = set()
    for rel, col in db.execute("select relation, column_name from meta.column_class "
                               "where schema_name = 'ods' and pii = 'idcard'").fetchall():
        q = sql.SQL("select distinct upper({c}) from ods.{r} where {c} is not null").format(
            c=sql.Identifier(col), r=sql.Identifier(rel))
        found.update(v for (v,) in db.execute(q))
    for (raw,) in db.execute("select raw_line from meta.reject"):
        found.update(t.upper() for t in ID_TOKEN.findall(bytes(raw).decode("utf-8", "replace")))
    return found


def _leaks(text: str, ids: set[str]) -> list[str]:
    return sorted({t for t in ID_TOKEN.findall(text) if t.upper() in ids})


def test_no_id_number_in_cli_logs_or_dagster_events(dirs, db, tmp_path):
    from dz_assets.defs.province.assets import province_batch_asset
    from dz_assets.defs.province.sensors import province_inbox_sensor
    from dz_assets.defs.resources import build_resources

    info = write_package(dirs["inbox"], persons=300, seed=11, source="TLOG", defects=DEFECTS)
    resources = build_resources()
    instance = dg.DagsterInstance.ephemeral()
    tick = province_inbox_sensor(dg.build_sensor_context(instance=instance, resources=resources))
    [add] = tick.dynamic_partitions_requests
    instance.add_dynamic_partitions("province_batch", list(add.partition_keys))
    [request] = [r for r in tick.run_requests if r.partition_key == info.batch_id]
    result = dg.materialize([province_batch_asset], partition_key=info.batch_id, instance=instance,
                            resources=resources, tags=request.tags)
    assert result.success
    db.commit()
    ids = _known_ids(db)
    db.commit()  # no open read of the ODS tables: the load below swaps them
    assert db.execute("select count(*) from meta.reject where batch_id = %s", (info.batch_id,)).fetchone()[0] > 0
    assert len(ids) > 300

    run = instance.get_run_by_id(result.run_id)
    events = [json.dumps(dg.serialize_value(e), ensure_ascii=False) for e in instance.all_logs(result.run_id)]
    assert events
    assert _leaks(json.dumps(run.run_config, ensure_ascii=False) + json.dumps(run.tags, ensure_ascii=False), ids) == []
    assert _leaks("\n".join(events), ids) == []

    # the CLI's own logs (stderr) of a check and a load of another copy of the package
    dzhub = str(Path(sys.executable).with_name("dzhub"))
    again = write_package(tmp_path, persons=300, seed=11, source="TLOG2", defects=DEFECTS)
    for args in (["package", "check", str(again.zip_path)], ["package", "load", str(again.zip_path)],
                 ["rejects", again.batch_id]):
        done = subprocess.run([dzhub, *args], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        assert _leaks(done.stderr, ids) == [], args
