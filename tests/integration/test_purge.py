"""Retention with real files and real rows: per kind, what is old and no longer needed goes, what a
later step still needs stays whatever its age, a dry run removes nothing, each run is recorded,
and a kind that fails is one alert that the next good run resolves."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner
from support.province_builder import Dataset, build_package, person_rows

from dz_assets.cli import main
from dz_assets.defs.resources import WarehouseResource

OLD = datetime.now(UTC) - timedelta(days=100)


@pytest.fixture
def retain(dirs, tmp_path, monkeypatch):
    """Every kind kept 30 days; the test's own outbox."""
    dirs["outbox"] = tmp_path / "outbox"
    monkeypatch.setenv("DZ_OUTBOX", str(dirs["outbox"]))
    for kind in ("BACKUP", "QUARANTINE", "REJECTS", "OBJECTS", "OUTBOX"):
        monkeypatch.setenv(f"DZ_RETAIN_{kind}_DAYS", "30")
    return dirs


def _purge(*args: str) -> tuple[int, dict]:
    res = CliRunner().invoke(main, ["purge", "--json", *args])
    return res.exit_code, json.loads(res.output)


def _kind(result: dict, kind: str) -> dict:
    return next(k for k in result["kinds"] if k["kind"] == kind)


def _age(path: Path) -> None:
    t = OLD.timestamp()
    os.utime(path, (t, t))


def _load(zip_path: Path) -> dict:
    from dz_assets.province.delivery.pipeline import process_package

    return process_package(zip_path).as_json()


def test_backups_keep_open_batches_and_the_restore_chain(retain, db, tmp_path):
    p = "PRGA"
    full1 = _load(build_package(tmp_path / "1", f"{p}-FULL-20261101-0001", [Dataset("HZ_HJRKJBXX", person_rows(5))]).zip_path)
    full2 = _load(build_package(tmp_path / "2", f"{p}-FULL-20261102-0001", [Dataset("HZ_HJRKJBXX", person_rows(6))]).zip_path)
    incr = _load(build_package(tmp_path / "3", f"{p}-INCR-20261103-0001", [Dataset("HZ_HJRKJBXX", person_rows(2))],
                               prev=f"{p}-FULL-20261102-0001").zip_path)
    waiting = _load(build_package(tmp_path / "4", f"{p}-INCR-20261105-0001", [Dataset("HZ_HJRKJBXX", person_rows(1))],
                                  prev=f"{p}-INCR-20261104-0001").zip_path)
    assert [r["status"] for r in (full1, full2, incr, waiting)] == ["loaded", "loaded", "applied", "waiting"]
    fresh = _load(build_package(tmp_path / "5", "PRGB-FULL-20261101-0001", [Dataset("HZ_HJRKJBXX", person_rows(5))]).zip_path)
    db.execute("update meta.batch set finished_at = %s where source = 'PRGA'", (OLD,))
    db.commit()
    paths = {n: Path(r["backup_path"]) for n, r in
             (("full1", full1), ("full2", full2), ("incr", incr), ("waiting", waiting), ("fresh", fresh))}
    assert all(p.is_file() for p in paths.values())

    code, dry = _purge("--dry-run")
    assert code == 0 and dry["dry_run"] is True
    assert [Path(r["path"]) for r in _kind(dry, "backup")["removed"]] == [paths["full1"], Path(f"{paths['full1']}.ok")]
    assert all(p.is_file() for p in paths.values())  # a dry run removes nothing

    code, done = _purge()
    backup = _kind(done, "backup")
    assert code == 0 and backup["files"] == 2 and backup["bytes"] == _kind(dry, "backup")["bytes"] > 0
    assert not paths["full1"].exists() and not Path(f"{paths['full1']}.ok").exists()
    kept = {Path(k["path"]): k["why"] for k in backup["kept"]}
    assert "restore chain" in kept[paths["full2"]] and "restore chain" in kept[paths["incr"]]
    assert "not finished" in kept[paths["waiting"]]
    assert paths["fresh"].is_file() and paths["fresh"] not in kept  # young: not even considered
    rows = db.execute("select dry_run, files, bytes, kept, error from meta.purge_run where kind = 'backup' "
                      "and purge_id in (%s, %s) order by purge_id", (dry["purge_id"], done["purge_id"])).fetchall()
    assert [(r[0], r[1], r[3], r[4]) for r in rows] == [(True, 2, 3, None), (False, 2, 3, None)]
    assert rows[0][2] == rows[1][2] > 0


def test_quarantine_is_kept_while_its_batch_is_unresolved(retain, db, tmp_path):
    from dz_assets.ops.alerts import resolve_alerts

    open_b = _load(build_package(tmp_path / "a", "PRGQ-FULL-20261101-0001", [Dataset("HZ_HJRKJBXX", person_rows(3))],
                                 defect="file_checksum").zip_path)
    acked = _load(build_package(tmp_path / "b", "PRGQ-FULL-20261101-0002", [Dataset("HZ_HJRKJBXX", person_rows(3))],
                                defect="file_checksum").zip_path)
    resent = _load(build_package(tmp_path / "c", "PRGQ-FULL-20261101-0003", [Dataset("HZ_HJRKJBXX", person_rows(3))],
                                 defect="file_checksum").zip_path)
    young = _load(build_package(tmp_path / "d", "PRGQ-FULL-20261101-0004", [Dataset("HZ_HJRKJBXX", person_rows(3))],
                                defect="file_checksum").zip_path)
    assert {r["status"] for r in (open_b, acked, resent, young)} == {"quarantined"}
    resolve_alerts(db, "file_checksum", "PRGQ-FULL-20261101-0002")  # an operator closed it
    db.commit()
    # The corrected package of the third batch is sent again and loads (its alert stays open
    # until the health sensor's next tick: the load itself already resolves the batch).
    assert _load(build_package(tmp_path / "e", "PRGQ-FULL-20261101-0003",
                               [Dataset("HZ_HJRKJBXX", person_rows(3))]).zip_path)["status"] == "loaded"
    for r in (open_b, acked, resent):
        reason = Path(r["quarantine_path"] + ".reason.json")
        body = json.loads(reason.read_text(encoding="utf-8"))
        reason.write_text(json.dumps({**body, "quarantined_at": OLD.isoformat()}), encoding="utf-8")

    code, done = _purge()
    q = _kind(done, "quarantine")
    assert code == 0
    removed = {Path(r["path"]).name for r in q["removed"]}
    assert removed == {f"PRGQ-FULL-20261101-000{n}.zip{s}" for n in (2, 3) for s in ("", ".ok", ".reason.json")}
    assert [Path(k["path"]) for k in q["kept"]] == [Path(open_b["quarantine_path"])]
    assert Path(open_b["quarantine_path"]).is_file() and Path(young["quarantine_path"]).is_file()
    assert not Path(acked["quarantine_path"]).exists() and not Path(resent["quarantine_path"]).exists()


def test_objects_referenced_by_a_live_row_stay(retain, db, tmp_path):
    from dz_assets.province.delivery.objects import store_path

    photo = b"\xff\xd8purge-photo"
    r = _load(build_package(tmp_path / "a", "PRGO-FULL-20261101-0001", [Dataset("HZ_HJRKJBXX", person_rows(4, photo=True))],
                            objects={"files/p0.jpg": photo}).zip_path)
    assert r["status"] == "loaded"
    sha = hashlib.sha256(photo).hexdigest()
    orphan = b"orphan-object"
    orphan_sha = hashlib.sha256(orphan).hexdigest()
    orphan_path = store_path(retain["objects"], orphan_sha)
    orphan_path.parent.mkdir(parents=True, exist_ok=True)
    orphan_path.write_bytes(orphan)
    db.execute("insert into meta.object (sha256, bytes, store_path, first_batch) values (%s, %s, %s, 'X')",
               (orphan_sha, len(orphan), str(orphan_path)))
    db.execute("update meta.object set stored_at = %s where sha256 in (%s, %s)", (OLD, sha, orphan_sha))
    db.commit()
    live = store_path(retain["objects"], sha)

    code, done = _purge()
    o = _kind(done, "objects")
    assert code == 0 and [Path(x["path"]) for x in o["removed"]] == [orphan_path]
    assert [Path(x["path"]) for x in o["kept"]] == [live] and live.is_file()
    assert not orphan_path.exists() and not orphan_path.parent.exists()  # its empty fan-out folder too
    assert db.execute("select count(*) from meta.object where sha256 = %s", (orphan_sha,)).fetchone()[0] == 0

    # The row that referenced the photo is deleted: nothing live needs the object any more.
    db.execute("update ods.hz_hjrkjbxx set _deleted = true where gmsfhm = %s",
               (person_rows(1)[0][1],))
    db.commit()
    code, done = _purge()
    assert [Path(x["path"]) for x in _kind(done, "objects")["removed"]] == [live]
    assert not live.exists()
    assert db.execute("select count(*) from meta.object_ref where sha256 = %s", (sha,)).fetchone()[0] == 0


def test_rejects_and_outbox_by_age_keeping_the_latest_repair_request(retain, db):
    rejects, outbox = retain["reject"], retain["outbox"]
    rejects.mkdir(parents=True, exist_ok=True)
    outbox.mkdir(parents=True, exist_ok=True)
    old_csv, new_csv, part = rejects / "A.rejects.csv", rejects / "B.rejects.csv", rejects / "C.rejects.csv.part"
    latest, superseded, qr, writing = (outbox / "R2.repair.json", outbox / "R1.repair.json",
                                       outbox / "qr_20260101.zip", outbox / "R3.repair.json.part")
    for p in (old_csv, new_csv, part, latest, superseded, qr, writing):
        p.write_text("x\n")
    for p in (old_csv, part, latest, superseded, qr, writing):
        _age(p)
    for n, path in ((1, superseded), (2, latest)):
        db.execute("insert into meta.recon_run (batch_id, table_code, as_of, rows_province, rows_local, "
                   "buckets_differing, buckets_in_flight, keys_differing, keys_in_flight, repair_path, ran_at) "
                   "values (%s, 'PRG_RECON_T', now(), 1, 1, 1, 0, 1, 0, %s, now() + %s * interval '1 s')",
                   (f"R{n}", str(path), n))
    db.commit()
    code, done = _purge()
    assert code == 0
    assert [Path(r["path"]) for r in _kind(done, "rejects")["removed"]] == [old_csv]
    assert new_csv.exists() and part.exists()
    ob = _kind(done, "outbox")
    assert sorted(Path(r["path"]) for r in ob["removed"]) == sorted([superseded, qr])
    assert [Path(k["path"]) for k in ob["kept"]] == [latest]
    assert latest.exists() and writing.exists()


def test_a_kind_that_fails_is_one_alert_and_the_next_run_resolves_it(retain, db):
    if not shutil.which("chattr"):
        pytest.skip("chattr is not installed")
    stuck = retain["reject"] / "STUCK.rejects.csv"
    stuck.parent.mkdir(parents=True, exist_ok=True)
    stuck.write_text("x\n")
    _age(stuck)
    if subprocess.run(["chattr", "+i", str(stuck)], capture_output=True).returncode != 0:
        pytest.skip("this file system has no immutable flag")
    try:
        for _ in range(2):
            code, res = _purge()
            assert code == 1 and res["ok"] is False
            assert "PermissionError" in _kind(res, "rejects")["error"]
            assert _kind(res, "backup")["error"] is None  # the other kinds still ran
    finally:
        subprocess.run(["chattr", "-i", str(stuck)], check=True)
    [(count, resolved)] = db.execute("select count, resolved_at from meta.alert where code = 'purge_failed' "
                                     "and subject = 'rejects' order by alert_id desc limit 1").fetchall()
    assert count == 2 and resolved is None
    db.commit()
    code, res = _purge()
    assert code == 0 and not stuck.exists()
    assert db.execute("select resolved_at is not null from meta.alert where code = 'purge_failed' "
                      "and subject = 'rejects' order by alert_id desc limit 1").fetchone()[0]


def test_default_retention_keeps_everything(dirs, db, tmp_path):
    r = _load(build_package(tmp_path / "a", "PRGK-FULL-20261101-0001", [Dataset("HZ_HJRKJBXX", person_rows(2))]).zip_path)
    db.execute("update meta.batch set finished_at = %s where source = 'PRGK'", (OLD,))
    db.commit()
    code, res = _purge()
    assert code == 0 and res["kinds"] == []
    assert Path(r["backup_path"]).is_file()


def test_purge_job_runs_daily_and_its_success_is_recorded(retain, pg_dsn, db):
    from prometheus_client import generate_latest

    from dz_assets.defs.ops.retention import purge_job, purge_schedule
    from dz_assets.defs.ops.sensors import run_success_resolve
    from dz_assets.ops.metrics import pipeline_registry

    assert purge_schedule.cron_schedule == "30 4 * * *"
    old_csv = retain["reject"] / "JOB.rejects.csv"
    old_csv.parent.mkdir(parents=True, exist_ok=True)
    old_csv.write_text("x\n")
    _age(old_csv)
    wh = WarehouseResource(dsn=pg_dsn)
    with dg.instance_for_test() as instance:
        res = purge_job.execute_in_process(instance=instance, resources={"warehouse": wh})
        assert res.success and not old_csv.exists()
        run_success_resolve(dg.build_run_status_sensor_context(
            sensor_name="run_success_resolve", dagster_instance=instance, dagster_run=res.dagster_run,
            dagster_event=res.get_run_success_event()), warehouse=wh)
    [(run_id, at)] = db.execute("select run_id, succeeded_at from meta.job_run where job = 'purge_job'").fetchall()
    assert run_id == res.run_id and abs(at.timestamp() - time.time()) < 120
    assert 'dzhub_job_last_success_timestamp_seconds{job="purge_job"}' in generate_latest(pipeline_registry(pg_dsn)).decode()
    assert 'dzhub_purged_files_total{kind="rejects"}' in generate_latest(pipeline_registry(pg_dsn)).decode()
    db.commit()


def test_a_purge_that_removes_is_audited_and_a_dry_run_is_not(retain, db):
    rejects = retain["reject"]
    rejects.mkdir(parents=True, exist_ok=True)
    old = rejects / "AUD.rejects.csv"
    old.write_text("x\n")
    _age(old)
    before = db.execute("select count(*) from meta.audit where action = 'purge'").fetchone()[0]
    assert _purge("--dry-run")[0] == 0
    assert db.execute("select count(*) from meta.audit where action = 'purge'").fetchone()[0] == before
    code, done = _purge()
    assert code == 0 and not old.exists()
    obj, details = db.execute("select object, details from meta.audit where action = 'purge' "
                              "order by audit_id desc limit 1").fetchone()
    assert obj == f"purge_run {done['purge_id']}" and details["kinds"]["rejects"]["files"] >= 1


def test_records_past_retention_go_and_what_is_still_read_stays(dirs, db, tmp_path, monkeypatch):
    monkeypatch.setenv("DZ_RETAIN_RECORDS_DAYS", "30")
    old_load = _load(build_package(tmp_path / "a", "PRGR-FULL-20261101-0001",
                                   [Dataset("HZ_HJRKJBXX", person_rows(2))]).zip_path)
    new_load = _load(build_package(tmp_path / "b", "PRGS-FULL-20261101-0001",
                                   [Dataset("HZ_HJRKJBXX", person_rows(2))]).zip_path)
    db.execute("update meta.batch set finished_at = %s where delivery_id = %s", (OLD, old_load["delivery_id"]))
    for d in (old_load, new_load):
        db.execute("insert into meta.reject (delivery_id, batch_id, table_code, file_name, line, field, reason, raw_line) "
                   "values (%s, %s, 'HZ_HJRKJBXX', 'f.bcp', 3, 'GMSFHM', 'bad', 'x')", (d["delivery_id"], d["batch_id"]))
    db.execute("insert into meta.cdc_poison (received_at, body, reason_code, reason) values "
               "(%s, 'old', 'invalid_json', 'x'), (now(), 'new', 'invalid_json', 'x')", (OLD,))
    db.execute("insert into meta.source_reject (source, position, reason, run_id, rejected_at) values "
               "('prg_src', 'row 1', 'bad', 'r-old', %s), ('prg_src', 'row 2', 'bad', 'r-new', now())", (OLD,))
    db.execute("insert into meta.alert (raised_at, severity, source, code, subject, message, resolved_at) values "
               "(%(old)s, 'error', 'ops', 'prg_rec', 'resolved-old', 'm', %(old)s), "
               "(%(old)s, 'error', 'ops', 'prg_rec', 'open-old', 'm', null)", {"old": OLD})
    for n in (1, 2):
        db.execute("insert into meta.recon_run (batch_id, table_code, as_of, rows_province, rows_local, "
                   "buckets_differing, buckets_in_flight, keys_differing, keys_in_flight, ran_at) "
                   "values (%s, 'PRG_REC_T', now(), 1, 1, 0, 0, 0, 0, %s)", (f"RR{n}", OLD + timedelta(seconds=n)))
    db.execute("insert into meta.purge_run (purge_id, kind, started_at, finished_at, dry_run, retain_days) "
               "values (-1, 'backup', %s, %s, false, 30)", (OLD, OLD))
    db.commit()

    def counts():
        return db.execute(
            "select (select count(*) from meta.reject where delivery_id = %(o)s), "
            "(select count(*) from meta.reject where delivery_id = %(n)s), "
            "(select count(*) from meta.cdc_poison where body = 'old'), "
            "(select count(*) from meta.alert where subject = 'resolved-old'), "
            "(select count(*) from meta.alert where subject = 'open-old'), "
            "(select array_agg(batch_id order by batch_id) from meta.recon_run where table_code = 'PRG_REC_T'), "
            "(select count(*) from meta.purge_run where purge_id = -1), "
            "(select array_agg(run_id) from meta.source_reject where source = 'prg_src')",
            {"o": old_load["delivery_id"], "n": new_load["delivery_id"]}).fetchone()

    assert counts() == (1, 1, 1, 1, 1, ["RR1", "RR2"], 1, ["r-old", "r-new"])
    code, dry = _purge("--dry-run")
    assert code == 0
    rows = _kind(dry, "records")["rows"]
    assert rows["meta.reject"] >= 1 and rows["meta.alert"] >= 1 and rows["meta.recon_run"] >= 1
    db.commit()
    assert counts() == (1, 1, 1, 1, 1, ["RR1", "RR2"], 1, ["r-old", "r-new"])  # a dry run counts and keeps
    code, done = _purge()
    assert code == 0 and _kind(done, "records")["rows"] == rows
    db.commit()
    # Old finished delivery's rejects, old poison, the resolved alert, the superseded reconciliation
    # and the old purge record go; the newer delivery's rejects, the open alert, the latest
    # reconciliation of the table stay.
    assert counts() == (0, 1, 0, 0, 1, ["RR2"], 0, ["r-new"])
    [(recorded,)] = db.execute("select rows from meta.purge_run where purge_id = %s and kind = 'records'",
                               (done["purge_id"],)).fetchall()
    assert recorded == sum(rows.values())
