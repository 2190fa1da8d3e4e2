"""Batches of one source loaded by two real ``dzhub package load`` processes at once: they apply
in BATCH_ID order whatever the timing (package-format.md, "Delivery"), and a concurrent load of
the same package still prints one verdict object."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from support.province_builder import Dataset, build_package, person_rows

pytestmark = pytest.mark.integration

DZHUB = str(Path(sys.executable).with_name("dzhub"))


def _start(built, env: dict, throttle: float = 0.0) -> subprocess.Popen:
    return subprocess.Popen([DZHUB, "package", "load", str(built.zip_path), "--json"],
                            env={**env, "DZ_LOAD_THROTTLE_S": str(throttle)}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _verdict(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=180)
    assert proc.returncode == 0, err
    return json.loads(out)


def _wait_loading(dsn: str, batch_id: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with psycopg.connect(dsn) as conn:
            if conn.execute("select count(*) from meta.batch where batch_id = %s and status = 'loading'",
                            (batch_id,)).fetchone()[0]:
                return
        time.sleep(0.05)
    raise AssertionError(f"{batch_id} never started loading")


def _live(dsn: str) -> tuple:
    with psycopg.connect(dsn) as conn:
        return conn.execute("select count(*), min(_batch_id), max(_batch_id) from ods.hz_hjrkjbxx").fetchone()


def _status(dsn: str, batch_id: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        return [r[0] for r in conn.execute("select status from meta.batch where batch_id = %s "
                                           "order by delivery_id", (batch_id,))]


@pytest.fixture
def env(dirs):
    return {**os.environ}


def _pair(tmp_path: Path, source: str, older_rows: int = 300, newer_rows: int = 400):
    older = build_package(tmp_path / "in", f"{source}-FULL-20261120-0008",
                          [Dataset("HZ_HJRKJBXX", person_rows(older_rows, start=8000), files=10)])
    newer = build_package(tmp_path / "in", f"{source}-FULL-20261120-0009",
                          [Dataset("HZ_HJRKJBXX", person_rows(newer_rows, start=9000), files=10)])
    return older, newer


def test_newer_full_started_first_keeps_the_older_one_out(pg_dsn, tmp_path, env):
    older, newer = _pair(tmp_path, "RACEA")
    first = _start(newer, env, throttle=0.2)  # 0009 is mid-load when 0008 decides its order
    _wait_loading(pg_dsn, newer.batch_id)
    second = _start(older, env)
    v_new, v_old = _verdict(first), _verdict(second)
    assert v_new["status"] == "loaded"
    assert v_old["status"] == "stale", v_old
    assert _live(pg_dsn) == (400, newer.batch_id, newer.batch_id)
    assert _status(pg_dsn, older.batch_id) == ["stale"]


def test_older_full_started_first_is_overtaken_by_the_newer(pg_dsn, tmp_path, env):
    older, newer = _pair(tmp_path, "RACEB")
    first = _start(older, env, throttle=0.2)
    _wait_loading(pg_dsn, older.batch_id)
    second = _start(newer, env)
    v_old, v_new = _verdict(first), _verdict(second)
    assert (v_old["status"], v_new["status"]) == ("loaded", "loaded")
    assert _live(pg_dsn) == (400, newer.batch_id, newer.batch_id)


def test_an_incr_older_than_a_full_being_loaded_is_stale(pg_dsn, tmp_path, env):
    newer = build_package(tmp_path / "in", "RACEC-FULL-20261120-0009",
                          [Dataset("HZ_HJRKJBXX", person_rows(400, start=9000), files=10)])
    incr = build_package(tmp_path / "in", "RACEC-INCR-20261120-0008",
                         [Dataset("HZ_HJRKJBXX", person_rows(5, start=100))], prev="")
    first = _start(newer, env, throttle=0.2)
    _wait_loading(pg_dsn, newer.batch_id)
    v_incr = _verdict(_start(incr, env))
    assert _verdict(first)["status"] == "loaded"
    assert v_incr["status"] == "stale", v_incr
    assert _live(pg_dsn) == (400, newer.batch_id, newer.batch_id)


def test_a_concurrent_load_of_the_same_package_prints_a_verdict(pg_dsn, tmp_path, env):
    built = build_package(tmp_path / "in", "RACED-FULL-20261120-0001",
                          [Dataset("HZ_HJRKJBXX", person_rows(300), files=10)])
    first = _start(built, env, throttle=0.5)  # ~5 s of loading: the second arrives meanwhile
    _wait_loading(pg_dsn, built.batch_id)
    again = _verdict(_start(built, env))
    assert _verdict(first)["status"] == "loaded"
    assert again["status"] == "busy", again
    assert [e["code"] for e in again["errors"]] == ["duplicate_batch"]
    assert _status(pg_dsn, built.batch_id) == ["loaded"]


@pytest.mark.parametrize("first_no", ["0001", "0002"])
def test_an_incr_chain_delivered_at_once_applies_in_order(pg_dsn, tmp_path, env, first_no):
    """INCR 0002 (prev 0001) and 0001 loaded at the same moment: 0002 either sees 0001 applied or
    waits and is applied right after it, never left waiting for a prev that is applied."""
    src = f"RACEI{first_no[-1]}"
    one = build_package(tmp_path / "in", f"{src}-INCR-20261121-0001",
                        [Dataset("HZ_HJRKJBXX", person_rows(5, start=6100))], prev="")
    two = build_package(tmp_path / "in", f"{src}-INCR-20261121-0002",
                        [Dataset("HZ_HJRKJBXX", person_rows(5, start=6200))], prev=one.batch_id)
    a, b = (one, two) if first_no == "0001" else (two, one)
    procs = [_start(a, env), _start(b, env)]
    verdicts = {v["batch_id"]: v for v in map(_verdict, procs)}
    assert verdicts[one.batch_id]["status"] == "applied"
    assert _status(pg_dsn, one.batch_id) == ["applied"]
    assert _status(pg_dsn, two.batch_id) == ["applied"]


def test_an_incr_prev_applied_between_its_check_and_its_parking_is_not_missed(pg_dsn, dirs, monkeypatch):
    """The narrowest window of the INCR chain, opened wide: right after INCR 0002 found its prev
    0001 not applied, 0001 is loaded by another thread (real connections). 0001 must not
    apply and release the waiters before 0002 is parked as ``waiting``."""
    import threading

    from dz_assets.province.delivery.pipeline import process_package
    from dz_assets.province.delivery.registry import BatchRegistry

    one = build_package(dirs["inbox"], "RACEW-INCR-20261121-0001",
                        [Dataset("HZ_HJRKJBXX", person_rows(5, start=6300))], prev="")
    two = build_package(dirs["inbox"], "RACEW-INCR-20261121-0002",
                        [Dataset("HZ_HJRKJBXX", person_rows(5, start=6400))], prev=one.batch_id)
    verdict_of = BatchRegistry.order_verdict
    other: dict = {}

    def order_verdict(self, name, prev):
        v = verdict_of(self, name, prev)
        if name.batch_id == two.batch_id and not other:
            t = threading.Thread(target=lambda: other.update(process_package(one.zip_path).as_json()))
            other["thread"] = t
            t.start()
            t.join(timeout=5)  # finishes here unless it has to wait for this batch's turn
        return v

    monkeypatch.setattr(BatchRegistry, "order_verdict", order_verdict)
    process_package(two.zip_path).as_json()
    other["thread"].join(timeout=60)
    assert other["status"] == "applied"
    assert _status(pg_dsn, two.batch_id) == ["applied"]
