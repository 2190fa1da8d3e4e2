"""Alerts against the real services: every kind fires once for its fault, injected for real, reaches
a webhook served here on loopback, is not repeated, and resolves when its fault clears. A webhook
that is down never slows the work that raised the alert."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import dagster as dg
import psycopg
import pytest
from click.testing import CliRunner

from dz_assets.defs.resources import WarehouseResource


class _Hook:
    def __init__(self, delay_s: float = 0.0) -> None:
        self.bodies: list[dict] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                time.sleep(delay_s)
                hook.bodies.append(body)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/alerts"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def of(self, kind: str) -> list[dict]:
        return [b for b in self.bodies if b["kind"] == kind]

    def wait_for(self, kind: str, n: int = 1, timeout: float = 10.0) -> list[dict]:
        end = time.monotonic() + timeout
        while len(self.of(kind)) < n and time.monotonic() < end:
            time.sleep(0.05)
        return self.of(kind)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hook(pg_dsn, monkeypatch):
    h = _Hook()
    monkeypatch.setenv("DZ_ALERT_WEBHOOK", h.url)
    yield h
    h.close()


@pytest.fixture
def pg_instance(pg_dsn, pg_server_dsn, monkeypatch):
    """The project's Dagster instance (event log in PostgreSQL, as deployed), dropped afterwards."""

    from dz_assets.db import database_name
    from dz_assets.instance import dagster_database_url, prepare_dagster_home

    for var in ("DAGSTER_HOME", "DZ_DAGSTER_PG_URL", "DZ_DAGSTER_COMPUTE_LOGS"):
        monkeypatch.delenv(var, raising=False)
    prepare_dagster_home(pg_dsn)
    with dg.DagsterInstance.get() as instance:
        yield instance
    with psycopg.connect(pg_server_dsn, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{database_name(dagster_database_url(pg_dsn))}" with (force)')


def _closed_port_url() -> str:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return f"http://127.0.0.1:{port}/alerts"


def _alerts(db, code: str, subject: str | None = None) -> list[tuple]:
    rows = db.execute("select alert_id, count, resolved_at, delivered from meta.alert "
                      "where code = %s and (%s::text is null or subject = %s) order by alert_id",
                      (code, subject, subject)).fetchall()
    db.commit()
    return rows


def test_same_fault_counts_once_is_posted_once_and_resolves(db, hook):
    from dz_assets.ops.alerts import raise_alert, resolve_alerts

    for _ in range(3):
        raise_alert(db, severity="warning", source="test", code="t_repeat", subject="s1", message="故障",
                    details={"n": 1})
        db.commit()
    [(first, count, resolved, _)] = _alerts(db, "t_repeat")
    assert count == 3 and resolved is None
    [body] = hook.wait_for("t_repeat")
    assert body["alert_id"] == first and body["subject"] == "s1" and body["severity"] == "warning"
    assert {"first_seen", "last_seen", "count", "message", "details", "source", "resolved_at"} <= body.keys()
    time.sleep(1.0)
    assert len(hook.of("t_repeat")) == 1  # counted, not repeated
    assert _alerts(db, "t_repeat")[0][3] is True  # delivered
    assert resolve_alerts(db, "t_repeat", "s1") == [first]
    db.commit()
    again = raise_alert(db, severity="warning", source="test", code="t_repeat", subject="s1", message="再次故障")
    db.commit()
    assert again != first
    assert [(r[0], r[1], r[2] is not None) for r in _alerts(db, "t_repeat")] == [(first, 3, True), (again, 1, False)]
    assert [b["alert_id"] for b in hook.wait_for("t_repeat", 2)] == [first, again]


def test_bad_package_twice_is_one_alert_counted_two(dirs, db, hook):
    from dz_assets.province.delivery.pipeline import process_package
    from dz_assets.synth import write_package

    info = write_package(dirs["inbox"], persons=20, seed=7, source="ALRT", tables=["HZ_HJRKJBXX"],
                         records_per_file=10, defects=("marker_mismatch",), progress=None)
    spare = dirs["inbox"].parent / "spare"
    spare.mkdir()
    for p in info.zip_path.parent.glob(info.batch_id + "*"):
        shutil.copy2(p, spare / p.name)
    assert process_package(info.zip_path).status == "quarantined"
    for p in spare.iterdir():
        shutil.copy2(p, dirs["inbox"] / p.name)
    assert process_package(info.zip_path).status == "quarantined"
    rows = _alerts(db, "marker_mismatch", info.batch_id)
    assert [(r[1], r[2]) for r in rows] == [(2, None)]
    assert len(hook.wait_for("marker_mismatch")) == 1
    time.sleep(0.5)
    assert len(hook.of("marker_mismatch")) == 1
    # The same batch re-sent whole loads: its quarantine alert resolves.
    from dz_assets.ops.health import resolve_delivered_batches

    good = write_package(dirs["inbox"], persons=20, seed=7, source="ALRT", tables=["HZ_HJRKJBXX"],
                         records_per_file=10, progress=None)
    assert good.batch_id == info.batch_id
    assert process_package(good.zip_path).status == "loaded"
    assert resolve_delivered_batches(db) == [rows[0][0]]
    db.commit()


@pytest.mark.parametrize("dead", ["closed_port", "sleeping"])
def test_dead_webhook_does_not_slow_a_load(dirs, db, monkeypatch, dead):
    from dz_assets.province.delivery.pipeline import process_package
    from dz_assets.synth import write_package

    def load(n: int) -> float:
        info = write_package(dirs["inbox"], persons=20, seed=n, source=f"DW{n:02d}", tables=["HZ_HJRKJBXX"],
                             records_per_file=10, defects=("file_checksum",), progress=None)
        t0 = time.monotonic()
        assert process_package(info.zip_path).status == "quarantined"
        return time.monotonic() - t0

    monkeypatch.delenv("DZ_ALERT_WEBHOOK", raising=False)
    base = min(load(1), load(2))
    sleeper = _Hook(delay_s=10.0) if dead == "sleeping" else None
    monkeypatch.setenv("DZ_ALERT_WEBHOOK", sleeper.url if sleeper else _closed_port_url())
    try:
        with_dead = min(load(3), load(4))
    finally:
        if sleeper:
            sleeper.server.server_close()
    assert with_dead < base + 0.5, (base, with_dead)
    rows = db.execute("select delivered, attempts, last_error from meta.alert where subject like 'DW03%%'").fetchall()
    db.commit()
    assert rows and not rows[0][0]


def test_retry_with_backoff_until_the_webhook_answers(db, monkeypatch):
    from dz_assets.ops.alerts import deliver_pending, raise_alert

    monkeypatch.setenv("DZ_ALERT_WEBHOOK", _closed_port_url())
    aid = raise_alert(db, severity="error", source="test", code="t_retry", subject="r", message="x")
    db.commit()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        attempts, due = db.execute("select attempts, next_attempt_at > now() + interval '5 s' "
                                   "from meta.alert where alert_id = %s", (aid,)).fetchone()
        db.commit()
        if attempts >= 1 and due:
            break
        time.sleep(0.1)
    assert attempts == 1 and due  # failed once, backing off
    h = _Hook()
    try:
        # The webhook answers now. The process's own sender may still be polling: whichever of it
        # and this explicit pass comes first delivers, exactly once, as the second attempt.
        monkeypatch.setenv("DZ_ALERT_WEBHOOK", h.url)
        db.execute("update meta.alert set next_attempt_at = now() where alert_id = %s", (aid,))
        db.commit()
        with psycopg.connect(db.info.dsn, autocommit=True) as c:
            delivered, failed = deliver_pending(c, h.url)
        assert failed == 0 and delivered in (0, 1)
        deadline = time.monotonic() + 5
        while not h.of("t_retry") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [b["alert_id"] for b in h.of("t_retry")] == [aid] and h.of("t_retry")[0]["attempt"] == 2
    finally:
        h.close()


def _job_that_fails(fail: bool):
    @dg.op(name="boom")
    def boom():
        if fail:
            raise RuntimeError("故意失败")

    @dg.job(name="alert_test_job")
    def alert_test_job():
        boom()

    return alert_test_job


def test_failed_run_of_any_job_alerts_and_a_success_resolves(pg_dsn, db, hook):
    from dz_assets.defs.ops.sensors import run_failure_alert, run_success_resolve

    wh = WarehouseResource(dsn=pg_dsn)
    with dg.instance_for_test() as instance:
        for _ in range(2):
            res = _job_that_fails(True).execute_in_process(instance=instance, raise_on_error=False)
            assert not res.success
            ctx = dg.build_run_status_sensor_context(
                sensor_name="run_failure_alert", dagster_instance=instance, dagster_run=res.dagster_run,
                dagster_event=res.get_run_failure_event()).for_run_failure()
            run_failure_alert(ctx, warehouse=wh)
        [(aid, count, resolved, _)] = _alerts(db, "run_failed", "alert_test_job")
        assert count == 2 and resolved is None
        [body] = hook.wait_for("run_failed")
        assert "alert_test_job" in body["message"]
        ok = _job_that_fails(False).execute_in_process(instance=instance)
        run_success_resolve(dg.build_run_status_sensor_context(
            sensor_name="run_success_resolve", dagster_instance=instance, dagster_run=ok.dagster_run,
            dagster_event=ok.get_run_success_event()), warehouse=wh)
    assert _alerts(db, "run_failed", "alert_test_job")[0][2] is not None


def test_a_run_failing_on_a_fault_its_process_alerted_is_not_a_second_alert(pg_dsn, db, hook):
    from dz_assets.defs.ops.sensors import run_failure_alert
    from dz_assets.ops.alerts import raise_alert

    wh = WarehouseResource(dsn=pg_dsn)
    with dg.instance_for_test() as instance:

        @dg.op(name="boom")
        def alerting_boom():
            with psycopg.connect(pg_dsn, autocommit=True) as c:
                raise_alert(c, severity="error", source="province", code="load_failed",
                            subject="OWN-FULL-20261120-0001", message="加载失败")
            raise RuntimeError("load failed")

        job = dg.GraphDefinition(name="alert_test_job", node_defs=[alerting_boom]).to_job()
        res = job.execute_in_process(instance=instance, raise_on_error=False,
                                     tags={"dagster/partition": "OWN-FULL-20261120-0001"})
        run_failure_alert(dg.build_run_status_sensor_context(
            sensor_name="run_failure_alert", dagster_instance=instance, dagster_run=res.dagster_run,
            dagster_event=res.get_run_failure_event()).for_run_failure(), warehouse=wh)
    assert _alerts(db, "run_failed", "alert_test_job/OWN-FULL-20261120-0001") == []
    assert len(_alerts(db, "load_failed", "OWN-FULL-20261120-0001")) == 1


def test_failed_non_blocking_check_alerts_though_the_run_succeeds(pg_dsn, db, hook, pg_instance):
    from dz_assets.defs.ops.sensors import alert_check_evaluations

    state = {"ok": False}

    @dg.asset(key=["test", "alerted"], check_specs=[dg.AssetCheckSpec("rows_positive", asset=["test", "alerted"])])
    def alerted():
        yield dg.MaterializeResult()
        yield dg.AssetCheckResult(check_name="rows_positive", passed=state["ok"], description="行数为零")

    wh = WarehouseResource(dsn=pg_dsn)
    instance = pg_instance
    if True:
        assert dg.materialize([alerted], instance=instance).success  # a failed non-blocking check: run "successful"
        failed, passed, cursor = alert_check_evaluations(instance, wh, None)
        assert (failed, passed) == (1, 0) and cursor
        assert alert_check_evaluations(instance, wh, cursor) == (0, 0, cursor)  # read once, not per tick
        [(_, count, resolved, _)] = _alerts(db, "check_failed", "test/alerted:rows_positive")
        assert count == 1 and resolved is None
        [body] = hook.wait_for("check_failed")
        assert "非阻断" in body["message"] and body["details"]["blocking"] is False
        state["ok"] = True
        assert dg.materialize([alerted], instance=instance).success
        assert alert_check_evaluations(instance, wh, cursor)[:2] == (0, 1)
    assert _alerts(db, "check_failed", "test/alerted:rows_positive")[0][2] is not None


def test_disk_over_threshold_alerts_once_and_resolves(pg_dsn, db, hook, monkeypatch):
    from dz_assets.ops.health import check_disks

    monkeypatch.setenv("DZ_DISK_ALERT_PCT", "0")
    over = check_disks(db)
    check_disks(db)
    db.commit()
    assert over
    rows = _alerts(db, "disk_full", over[0].mount)
    assert [(r[1], r[2]) for r in rows] == [(2, None)]
    assert len(hook.wait_for("disk_full")) == len(over)
    monkeypatch.setenv("DZ_DISK_ALERT_PCT", "100.1")
    assert check_disks(db) == []
    db.commit()
    assert _alerts(db, "disk_full", over[0].mount)[0][2] is not None


def test_table_past_its_freshness_alerts_and_resolves(pg_dsn, db, hook, monkeypatch):
    from dz_assets.ops.health import check_freshness

    db.execute("insert into meta.cdc_table_state (table_code, last_applied_at) values "
               "('ZZ_FRESH', now() - interval '3 days') on conflict (table_code) do update "
               "set last_applied_at = excluded.last_applied_at")
    db.commit()
    monkeypatch.setenv("DZ_FRESHNESS_MAX_AGE_H", "0")
    assert check_freshness(db) == []  # off by default
    monkeypatch.setenv("DZ_FRESHNESS_MAX_AGE_H", "24")
    assert [t.table_code for t in check_freshness(db)] == ["ZZ_FRESH"]
    check_freshness(db)
    db.commit()
    assert [(r[1], r[2]) for r in _alerts(db, "table_stale", "ZZ_FRESH")] == [(2, None)]
    assert "ZZ_FRESH" in hook.wait_for("table_stale")[0]["message"]
    db.execute("update meta.cdc_table_state set last_applied_at = now() where table_code = 'ZZ_FRESH'")
    assert check_freshness(db) == []
    db.commit()
    assert _alerts(db, "table_stale", "ZZ_FRESH")[0][2] is not None


def test_daily_batch_missing_at_its_hour(pg_dsn, db, hook):
    from dz_assets.defs.ops.sensors import check_daily_batches

    sched = dg.ScheduleDefinition(name="alert_test_daily", job=_job_that_fails(False), cron_schedule="0 6 * * *",
                                  execution_timezone="Asia/Shanghai")
    now = datetime(2026, 12, 4, 2, 0, tzinfo=UTC)  # 10:00 Beijing: 4 h after 06:00
    with dg.instance_for_test() as instance:
        assert check_daily_batches(instance, db, [sched], now, 7200) == ["alert_test_job"]
        assert check_daily_batches(instance, db, [sched], now + timedelta(minutes=1), 7200) == ["alert_test_job"]
        db.commit()
        assert [(r[1], r[2]) for r in _alerts(db, "daily_batch_missing", "alert_test_job")] == [(2, None)]
        _job_that_fails(False).execute_in_process(instance=instance)
        assert check_daily_batches(instance, db, [sched], datetime.now(UTC), 0) == []
        db.commit()
    assert _alerts(db, "daily_batch_missing", "alert_test_job")[0][2] is not None
    assert len(hook.wait_for("daily_batch_missing")) == 1


def test_stopped_consumer_alerts_itself_and_a_clean_run_resolves(topo, db, hook, monkeypatch):
    from dz_assets.cdc.consumer import consume

    good = None
    import os
    good = os.environ.get("DZ_AMQP_URL")
    monkeypatch.setenv("DZ_AMQP_URL", "amqp://guest:guest@127.0.0.1:1/%2F")  # the broker unreachable
    with pytest.raises(Exception):  # noqa: B017 (pika's connection error)
        consume(drain=True, max_seconds=5)
    [(_, count, resolved, _)] = _alerts(db, "consumer_stopped", topo.queue)
    assert count == 1 and resolved is None
    assert topo.queue in hook.wait_for("consumer_stopped")[0]["message"]
    if good:
        monkeypatch.setenv("DZ_AMQP_URL", good)
    else:
        monkeypatch.delenv("DZ_AMQP_URL")
    consume(drain=True, max_seconds=5)
    assert _alerts(db, "consumer_stopped", topo.queue)[0][2] is not None


def test_cli_lists_acks_and_silences(pg_dsn, db, hook):
    from dz_assets.cli import main
    from dz_assets.ops.alerts import raise_alert

    runner = CliRunner()
    r = runner.invoke(main, ["alerts", "silence", "t_muted", "--until", "2h", "--reason", "维护窗口", "--by", "ops"])
    assert r.exit_code == 0, r.output
    muted = raise_alert(db, severity="error", source="test", code="t_muted", subject="m", message="屏蔽中")
    shown = raise_alert(db, severity="error", source="test", code="t_cli", subject="c", message="可见")
    db.commit()
    hook.wait_for("t_cli")
    time.sleep(0.5)
    assert hook.of("t_muted") == []
    r = runner.invoke(main, ["alerts", "--open", "--json"])
    assert r.exit_code == 0, r.output
    listed = {a["alert_id"]: a for a in json.loads(r.stdout)["alerts"]}
    assert muted in listed and shown in listed and listed[muted]["silence_id"]
    r = runner.invoke(main, ["alerts", "ack", str(shown), "--by", "张三"])
    assert r.exit_code == 0, r.output
    assert db.execute("select acked_by, acked_at is not null from meta.alert where alert_id = %s",
                      (shown,)).fetchone() == ("张三", True)
    db.commit()
    assert runner.invoke(main, ["alerts", "ack", "999999999"]).exit_code == 1
    r = runner.invoke(main, ["alerts", "ack", str(muted), "--resolve", "--json"])
    assert json.loads(r.stdout)["resolved"] is True
    assert db.execute("select resolved_at is not null from meta.alert where alert_id = %s", (muted,)).fetchone()[0]
    db.commit()
    reason = db.execute("select reason, created_by from meta.alert_silence where code = 't_muted'").fetchone()
    assert reason == ("维护窗口", "ops")


def test_package_load_from_a_shell_alerts_as_the_sensor_would(dirs, db, hook):
    """No daemon: the CLI load records the alert and posts it before it exits."""
    import subprocess
    import sys

    from dz_assets.synth import write_package

    info = write_package(dirs["inbox"], persons=20, seed=11, source="SHEL", tables=["HZ_HJRKJBXX"],
                         records_per_file=10, defects=("file_records",), progress=None)
    r = subprocess.run([sys.executable, "-c", "from dz_assets.cli import main; main()", "package", "load",
                        str(info.zip_path), "--json"],
                       capture_output=True, text=True, timeout=120)
    assert json.loads(r.stdout)["status"] == "quarantined", r.stderr
    [(_, count, resolved, delivered)] = _alerts(db, "file_records", info.batch_id)
    assert count == 1 and resolved is None and delivered
    assert [b["subject"] for b in hook.of("file_records")] == [info.batch_id]
