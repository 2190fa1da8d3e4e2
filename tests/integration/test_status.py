"""``dzhub status`` against the real services: 0 and one JSON object when all is well, 2 when a
service does not answer (RabbitMQ on a closed port) or an error/critical alert is open."""

from __future__ import annotations

import json
import secrets
import socket
from datetime import UTC, datetime

import psycopg
import pytest
from click.testing import CliRunner

from dz_assets.cli import main


@pytest.fixture
def fresh_dsn(pg_server_dsn, pg_dsn, monkeypatch):
    """A database of this test alone: the session's holds other tests' open alerts."""
    from dz_assets.db import with_database
    from dz_assets.db.init import init_database

    name = f"dzhub_status_{secrets.token_hex(4)}"
    dsn = with_database(pg_server_dsn, name)
    init_database(dsn)
    monkeypatch.setenv("DZ_PG_DSN", dsn)
    yield dsn
    with psycopg.connect(pg_server_dsn, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _status(*args: str):
    res = CliRunner().invoke(main, ["status", *args])
    return res.exit_code, res.output


def test_all_well_exits_zero_with_one_object(fresh_dsn, amqp_url):
    from dz_assets.ops.job_runs import record_success

    with psycopg.connect(fresh_dsn) as conn:
        conn.execute("insert into meta.batch (batch_id, source, kind, batch_date, batch_no, file_name, size_bytes, "
                     "sha256, status, finished_at) values ('STAT-FULL-20261120-0001', 'STAT', 'FULL', '2026-11-20', "
                     "1, 'x.zip', 1, 'ab', 'loaded', now())")
        record_success(conn, "dbt_daily_build", "run-1", datetime.now(UTC))
        conn.execute("insert into meta.alert (severity, source, code, subject, message) "
                     "values ('warning', 'test', 't_warn', 's', '只是警告')")
    code, out = _status("--json")
    assert code == 0, out
    st = json.loads(out)
    assert st["ok"] is True and st["down"] == []
    assert {s["name"]: s["ok"] for s in st["services"]} == {"postgresql": True, "rabbitmq": True}
    assert [(b["source"], b["batch_id"], b["status"]) for b in st["batches"]] == \
        [("STAT", "STAT-FULL-20261120-0001", "loaded")]
    assert st["change_stream"]["pending"] == 0 and st["alerts_open"] == {"warning": 1}
    assert [r["job"] for r in st["job_runs"]] == ["dbt_daily_build"]
    assert st["disks"] and all(0 <= d["used_pct"] <= 100 for d in st["disks"])
    code, out = _status()
    assert code == 0 and "平台状态：正常" in out and "dbt_daily_build" in out


def test_a_broker_that_does_not_answer_is_down(fresh_dsn, monkeypatch):
    monkeypatch.setenv("DZ_AMQP_URL", f"amqp://guest:guest@127.0.0.1:{_closed_port()}/%2F")
    code, out = _status("--json")
    assert code == 2, out
    st = json.loads(out)
    assert st["ok"] is False
    assert {s["name"]: s["ok"] for s in st["services"]} == {"postgresql": True, "rabbitmq": False}
    assert any(d.startswith("rabbitmq unreachable") for d in st["down"])
    code, out = _status()
    assert code == 2 and "平台状态：异常" in out and "不可达" in out


def test_an_open_critical_alert_is_down_until_resolved(fresh_dsn, amqp_url):
    from dz_assets.ops.alerts import raise_alert, resolve_alerts

    with psycopg.connect(fresh_dsn) as conn:
        raise_alert(conn, severity="critical", source="ops", code="disk_full", subject="/data", message="磁盘满")
    code, out = _status("--json")
    assert code == 2 and json.loads(out)["down"] == ["1 open critical alert(s)"]
    with psycopg.connect(fresh_dsn) as conn:
        resolve_alerts(conn, "disk_full", "/data")
    assert _status("--json")[0] == 0


def test_a_warehouse_that_does_not_answer_is_down(pg_dsn, monkeypatch):
    monkeypatch.setenv("DZ_PG_DSN", f"postgresql://postgres@127.0.0.1:{_closed_port()}/dzhub")
    code, out = _status("--json")
    assert code == 2
    st = json.loads(out)
    assert st["services"][0]["name"] == "postgresql" and not st["services"][0]["ok"]
    assert st["batches"] == [] and st["change_stream"] is None
