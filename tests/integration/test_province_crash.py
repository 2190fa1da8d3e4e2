"""Crash safety: a real ``dzhub package load`` killed mid-load leaves the previous ODS snapshot
intact, and re-running the batch converges to the exact counts."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg

sys.path.insert(0, str(Path(__file__).parent))
from province_builder import Dataset, build_package, person_rows  # noqa: E402

DZHUB = str(Path(sys.executable).with_name("dzhub"))


def _snapshot(dsn: str) -> tuple:
    with psycopg.connect(dsn) as conn:
        return conn.execute("select count(*), min(_batch_id), max(_batch_id), max(_loaded_at) "
                            "from ods.hz_hjrkjbxx").fetchone()


def _wait_for(dsn: str, q: str, args: tuple, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with psycopg.connect(dsn) as conn:
            if conn.execute(q, args).fetchone()[0]:
                return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {q} {args}")


def test_killed_load_leaves_previous_table_and_rerun_converges(pg_dsn, tmp_path, monkeypatch):
    for var in ("DZ_INBOX", "DZ_BACKUP_DIR", "DZ_QUARANTINE_DIR", "DZ_REJECT_DIR", "DZ_OBJECT_STORE"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    env = {**os.environ}
    first = build_package(tmp_path / "in", "TCR-FULL-20261120-0001", [Dataset("HZ_HJRKJBXX", person_rows(300))])
    out = subprocess.run([DZHUB, "package", "load", str(first.zip_path), "--json"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert json.loads(out.stdout)["status"] == "loaded", out.stderr
    before = _snapshot(pg_dsn)
    assert before[:3] == (300, first.batch_id, first.batch_id)

    # 2 000 rows in 20 files, a pause after each COPY chunk: the kill lands mid-load
    second = build_package(tmp_path / "in", "TCR-FULL-20261121-0001",
                           [Dataset("HZ_HJRKJBXX", person_rows(2000, start=5000), files=20)])
    proc = subprocess.Popen([DZHUB, "package", "load", str(second.zip_path), "--json"],
                            env={**env, "DZ_LOAD_THROTTLE_S": "0.3"}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        _wait_for(pg_dsn, "select count(*) from meta.batch where batch_id = %s and status = 'loading'",
                  (second.batch_id,))
        time.sleep(1.5)  # a few files COPYed into the fresh table, not swapped yet
        assert proc.poll() is None, "the load finished before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert _snapshot(pg_dsn) == before  # the previous snapshot, untouched
    assert second.zip_path.exists()  # the command works on a copy
    work = Path(os.environ["DZ_STATE_DIR"]) / "work"
    left = [p for p in work.iterdir() if f".{proc.pid}." in p.name]
    assert left, "the killed load's work copy was expected to stay until the next load"

    out = subprocess.run([DZHUB, "package", "load", str(second.zip_path), "--json"], env=env,
                         capture_output=True, text=True, timeout=120)
    v = json.loads(out.stdout)
    assert v["status"] == "loaded" and v["rows"] == {"total": 2000, "rejected": 0, "flagged": 0}, out.stderr
    assert len(v["superseded"]) == 1
    after = _snapshot(pg_dsn)
    assert after[:3] == (2000, second.batch_id, second.batch_id)
    with psycopg.connect(pg_dsn) as conn:
        statuses = [r[0] for r in conn.execute(
            "select status from meta.batch where batch_id = %s order by delivery_id", (second.batch_id,))]
        files = conn.execute("select count(*), sum(f.records), sum(f.rows_loaded) from meta.batch_file f "
                             "join meta.batch b using (delivery_id) where b.batch_id = %s",
                             (second.batch_id,)).fetchone()
        leftovers = conn.execute("select count(*) from pg_tables where schemaname = 'ods' "
                                 "and tablename like 'hz\\_hjrkjbxx\\_\\_%%'").fetchone()[0]
    assert statuses == ["failed", "loaded"]
    assert files == (20, 2000, 2000)
    assert leftovers == 0
    assert not any(p.exists() for p in left)  # the next load removed the dead load's copy


def test_sigterm_marks_the_batch_failed_and_removes_the_work_copy(pg_dsn, tmp_path, monkeypatch):
    for var in ("DZ_INBOX", "DZ_BACKUP_DIR", "DZ_QUARANTINE_DIR", "DZ_REJECT_DIR", "DZ_OBJECT_STORE"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    built = build_package(tmp_path / "in", "TCR-FULL-20261122-0001",
                          [Dataset("HZ_HJRKJBXX", person_rows(2000, start=9000), files=20)])
    proc = subprocess.Popen([DZHUB, "package", "load", str(built.zip_path), "--json"],
                            env={**os.environ, "DZ_LOAD_THROTTLE_S": "0.3"}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True)
    try:
        _wait_for(pg_dsn, "select count(*) from meta.batch where batch_id = %s and status = 'loading'",
                  (built.batch_id,))
        time.sleep(1.0)
        assert proc.poll() is None, "the load finished before it could be stopped"
        work = Path(os.environ["DZ_STATE_DIR"]) / "work"
        assert [p for p in work.iterdir() if f".{proc.pid}." in p.name]
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err.decode()
    assert not [p for p in work.iterdir() if f".{proc.pid}." in p.name]
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("select status from meta.batch where batch_id = %s",
                            (built.batch_id,)).fetchone()[0] == "failed"
