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
from support.province_builder import Dataset, build_package, person_rows

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


def test_killed_right_after_the_swap_commit_is_recovered_as_loaded(pg_dsn, tmp_path, monkeypatch):
    """The swap committed, the loader died before it marked the batch: the next start finds the
    batch live in ODS and records it loaded, so an older FULL of the source is stale, not
    swapped over it."""
    for var in ("DZ_INBOX", "DZ_BACKUP_DIR", "DZ_QUARANTINE_DIR", "DZ_REJECT_DIR", "DZ_OBJECT_STORE"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    env = {**os.environ}
    newer = build_package(tmp_path / "in", "TSW-FULL-20261122-0009",
                          [Dataset("HZ_HJRKJBXX", person_rows(400, start=9000, photo=True), files=4)],
                          objects={"files/p0.jpg": b"\xff\xd8swap"})
    older = build_package(tmp_path / "in", "TSW-FULL-20261122-0008",
                          [Dataset("HZ_HJRKJBXX", person_rows(300, start=8000), files=3)])
    with psycopg.connect(pg_dsn, autocommit=True) as hold:
        # The step after the swap (the change log's re-base) waits on this table's apply lock:
        # the loader stops there, its swap committed, until it is killed.
        hold.execute("select pg_advisory_lock(hashtextextended('dz.cdc.apply:HZ_HJRKJBXX', 0))")
        proc = subprocess.Popen([DZHUB, "package", "load", str(newer.zip_path), "--json"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
        try:
            _wait_for(pg_dsn, "select count(*) from ods.hz_hjrkjbxx where _batch_id = %s", (newer.batch_id,))
            time.sleep(0.3)
            assert proc.poll() is None, "the load finished before it could be killed"
            os.killpg(proc.pid, signal.SIGKILL)
        finally:
            proc.wait(timeout=30)
            hold.execute("select pg_advisory_unlock(hashtextextended('dz.cdc.apply:HZ_HJRKJBXX', 0))")
    assert _snapshot(pg_dsn)[:3] == (400, newer.batch_id, newer.batch_id)

    out = subprocess.run([DZHUB, "package", "load", str(older.zip_path), "--json"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert json.loads(out.stdout)["status"] == "stale", out.stderr
    assert _snapshot(pg_dsn)[:3] == (400, newer.batch_id, newer.batch_id)
    with psycopg.connect(pg_dsn) as conn:
        status, rows, reason = conn.execute("select status, rows_loaded, reason from meta.batch "
                                            "where batch_id = %s", (newer.batch_id,)).fetchone()
        refs = conn.execute("select count(*) from meta.object_ref where batch_id = %s",
                            (newer.batch_id,)).fetchone()[0]
        base = conn.execute("select base_batch_id from meta.cdc_table_state where table_code = 'HZ_HJRKJBXX'"
                            ).fetchone()[0]
    assert (status, rows) == ("loaded", 400) and "recovered" in reason
    assert base == newer.batch_id  # the re-base the loader did not get to
    assert refs == 1  # stored before the swap: nothing but the re-base was left undone

    out = subprocess.run([DZHUB, "package", "load", str(newer.zip_path), "--json"], env=env,
                         capture_output=True, text=True, timeout=120)
    v = json.loads(out.stdout)
    assert v["status"] == "duplicate" and v["errors"][0]["code"] == "duplicate_batch", out.stderr


def test_an_incr_apply_commits_its_status_with_its_changes(pg_dsn, tmp_path):
    """The INCR counterpart of the swap: a loader that dies after the apply's commit must not
    leave a batch whose changes are live but whose status still says ``pending_apply`` (it would
    be a duplicate when delivered again, and the INCR after it would wait for ever)."""
    from dz_assets.province.delivery.incr_load import apply_incr_batch
    from dz_assets.province.reader.package import open_package

    incr = build_package(tmp_path / "in", "TIA-INCR-20261122-0001",
                         [Dataset("HZ_HJRKJBXX", person_rows(5, start=700))], prev="")
    with psycopg.connect(pg_dsn) as conn:
        delivery = conn.execute(
            "insert into meta.batch (batch_id, source, kind, batch_date, batch_no, file_name, size_bytes, sha256, "
            "status) values (%s, 'TIA', 'INCR', '2026-11-22', 1, %s, 0, '', 'pending_apply') returning delivery_id",
            (incr.batch_id, incr.zip_path.name)).fetchone()[0]
    apply_incr_batch(pg_dsn, open_package(incr.zip_path), delivery_id=delivery, batch_id=incr.batch_id).as_json()
    with psycopg.connect(pg_dsn) as conn:
        row = conn.execute("select status, rows_total, rows_loaded, finished_at is not null from meta.batch "
                           "where delivery_id = %s", (delivery,)).fetchone()
    assert row == ("applied", 5, 5, True)


def test_a_rebase_that_fails_after_the_swap_does_not_call_the_live_batch_failed(pg_dsn, tmp_path, monkeypatch):
    """The swap committed and the change log's re-base then failed (here: its lock not granted
    in time): the batch is live, so it is not ``failed``; the next run redoes the re-base and
    records it loaded."""
    for var in ("DZ_INBOX", "DZ_BACKUP_DIR", "DZ_QUARANTINE_DIR", "DZ_REJECT_DIR", "DZ_OBJECT_STORE"):
        monkeypatch.setenv(var, str(tmp_path / var.lower()))
    env = {**os.environ}
    built = build_package(tmp_path / "in", "TRB-FULL-20261123-0001",
                          [Dataset("HZ_HJRKJBXX", person_rows(250, start=12000))])
    with psycopg.connect(pg_dsn, autocommit=True) as hold:
        hold.execute("select pg_advisory_lock(hashtextextended('dz.cdc.apply:HZ_HJRKJBXX', 0))")
        try:
            out = subprocess.run([DZHUB, "package", "load", str(built.zip_path), "--json"],
                                 env={**env, "PGOPTIONS": "-c lock_timeout=1s"}, capture_output=True,
                                 text=True, timeout=120)
        finally:
            hold.execute("select pg_advisory_unlock(hashtextextended('dz.cdc.apply:HZ_HJRKJBXX', 0))")
    assert out.returncode != 0 and "lock" in out.stderr, out.stderr
    assert _snapshot(pg_dsn)[:3] == (250, built.batch_id, built.batch_id)
    with psycopg.connect(pg_dsn) as conn:
        assert [r[0] for r in conn.execute("select status from meta.batch where batch_id = %s",
                                           (built.batch_id,))] != ["failed"]
    out = subprocess.run([DZHUB, "package", "load", str(built.zip_path), "--json"], env=env,
                         capture_output=True, text=True, timeout=120)
    v = json.loads(out.stdout)
    assert v["status"] == "duplicate", out.stderr  # the first delivery is the loaded one
    with psycopg.connect(pg_dsn) as conn:
        statuses = [r[0] for r in conn.execute("select status from meta.batch where batch_id = %s "
                                               "order by delivery_id", (built.batch_id,))]
        base = conn.execute("select base_batch_id from meta.cdc_table_state where table_code = 'HZ_HJRKJBXX'"
                            ).fetchone()[0]
    assert statuses == ["loaded", "duplicate"] and base == built.batch_id


def test_an_incr_released_by_a_full_is_applied_not_left_pending(pg_dsn, dirs):
    """An INCR waiting for the batch before it is released when that batch is loaded by a FULL:
    it must be applied then, not left ``pending_apply`` (which nothing ever applied, and which
    makes its re-delivery a duplicate)."""
    from dz_assets.province.delivery.pipeline import process_package

    full = build_package(dirs["inbox"], "TRL-FULL-20261124-0001",
                         [Dataset("HZ_HJRKJBXX", person_rows(50, start=13000))])
    incr = build_package(dirs["inbox"], "TRL-INCR-20261124-0002",
                         [Dataset("HZ_HJRKJBXX", person_rows(3, start=13100))], prev=full.batch_id)
    assert process_package(incr.zip_path).as_json()["status"] == "waiting"
    assert process_package(full.zip_path).as_json()["status"] == "loaded"
    with psycopg.connect(pg_dsn) as conn:
        status = conn.execute("select status from meta.batch where batch_id = %s", (incr.batch_id,)).fetchone()[0]
        rows = conn.execute("select count(*) from ods.hz_hjrkjbxx where _batch_id = %s", (incr.batch_id,)).fetchone()
    assert (status, rows[0]) == ("applied", 3)


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
