"""Province operations against the real PostgreSQL: registry, inbox, quarantine per package-level
defect, duplicates, marker rules, order per source, objects, rejects and the daily statistics."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from support.province_builder import Dataset, address_rows, build_package, person_rows

SYNTH_TABLES = ["HZ_HJRKJBXX", "YBSS_BZDZMLXX"]


def _package_defects() -> tuple[str, ...]:
    from dz_assets.synth import ALL_DEFECTS

    return tuple(d for d in ALL_DEFECTS if not d.startswith(("row_", "flag_", "drift_")))


SYNTH_PACKAGE_DEFECTS = _package_defects()


def _one(db, q, *args):
    row = db.execute(q, args).fetchone()
    db.commit()
    return row


def _batch(db, batch_id):
    return db.execute("select status, rows_total, rows_loaded, rows_rejected, rows_duplicate, objects, errors, "
                      "backup_path, quarantine_path, started_at, finished_at from meta.batch where batch_id = %s "
                      "order by delivery_id", (batch_id,)).fetchall()


def test_valid_package_loads_with_counts_lineage_objects_and_backup(dirs, db, pg_dsn):
    from dz_assets.province.delivery.pipeline import process_inbox

    rows = person_rows(40, photo=True)
    rows[9][5] = "19990231"  # not a calendar day: that row alone is rejected
    b = build_package(dirs["inbox"], "TOK-FULL-20261120-0001",
                      [Dataset("HZ_HJRKJBXX", rows, files=2), Dataset("YBSS_BZDZMLXX", address_rows(7))],
                      objects={"files/p0.jpg": b"\xff\xd8jpeg"})
    [v] = [o.as_json() for o in process_inbox()]
    assert v["status"] == "loaded" and v["valid"] and v["errors"] == []
    assert v["rows"] == {"total": 47, "rejected": 1, "flagged": 0}
    assert v["rejects"] == [{"table": "HZ_HJRKJBXX", "file": "HZ_HJRKJBXX_0001.bcp", "line": 10, "field": "CSRQ",
                             "reason": v["rejects"][0]["reason"]}]
    assert v["loaded"]["tables"]["HZ_HJRKJBXX"]["loaded"] == 39
    [(status, total, loaded, rejected, dup, objects, errors, backup, quarantine, started, finished)] = \
        _batch(db, b.batch_id)
    assert (status, total, loaded, rejected, dup, objects, errors) == ("loaded", 47, 46, 1, 0, 1, [])
    assert started and finished and quarantine is None
    assert Path(backup).is_file() and Path(backup + ".ok").is_file() and not b.zip_path.exists()
    assert _one(db, "select count(*), min(_batch_id), max(_batch_id) from ods.hz_hjrkjbxx") == \
        (39, b.batch_id, b.batch_id)
    # swapped in with planner statistics (ANALYZE before the swap), not as a never-analysed table
    assert _one(db, "select reltuples from pg_class where oid = 'ods.hz_hjrkjbxx'::regclass") == (39,)
    assert _one(db, "select count(*) > 0 from pg_stats where schemaname = 'ods' and tablename = 'hz_hjrkjbxx'") == \
        (True,)
    assert _one(db, "select _file, _line, csrq, djsj from ods.hz_hjrkjbxx where rybh = 'R00000021'")[:2] == \
        ("HZ_HJRKJBXX_0002.bcp", 2)
    assert _one(db, "select count(*) from ods.ybss_bzdzmlxx where _batch_id = %s", b.batch_id) == (7,)
    # the photo: stored once, content-addressed, linked to the row that names it
    sha, member = _one(db, "select sha256, member from meta.object_ref where batch_id = %s", b.batch_id)
    assert member == "files/p0.jpg"
    assert (dirs["objects"] / sha[:2] / sha[2:4] / sha).read_bytes() == b"\xff\xd8jpeg"
    # rejects: kept with the raw line, downloadable as CSV and written beside the batch
    assert Path(v["rejects_file"]).read_text(encoding="utf-8-sig").count("\n") == 2


def test_same_batch_again_is_a_recorded_duplicate_and_loads_nothing(dirs, db):
    from dz_assets.province.delivery.pipeline import load_package_copy, process_inbox

    b = build_package(dirs["inbox"], "TDUP-FULL-20261120-0001", [Dataset("YBSS_BZDZMLXX", address_rows(5))])
    spare = dirs["inbox"].parent / "spare"
    spare.mkdir()
    shutil.copy2(b.zip_path, spare / b.zip_path.name)
    shutil.copy2(b.marker_path, spare / b.marker_path.name)
    assert [o.as_json() for o in process_inbox()][0]["status"] == "loaded"
    loaded_at = _one(db, "select max(_loaded_at) from ods.ybss_bzdzmlxx")
    for f in spare.iterdir():
        shutil.copy2(f, dirs["inbox"] / f.name)
    [v] = [o.as_json() for o in process_inbox()]
    assert v["status"] == "duplicate" and v["valid"] is False
    assert [e["code"] for e in v["errors"]] == ["duplicate_batch"]
    reason = json.loads(Path(v["quarantine_path"] + ".reason.json").read_text())
    assert reason["errors"][0]["code"] == "duplicate_batch"
    # the CLI path reports it before reading anything, and leaves PATH where it is
    v2 = load_package_copy(spare / b.zip_path.name).as_json()
    assert [e["code"] for e in v2["errors"]] == ["duplicate_batch"] and (spare / b.zip_path.name).exists()
    assert [r[0] for r in _batch(db, b.batch_id)] == ["loaded", "duplicate", "duplicate"]
    assert _one(db, "select max(_loaded_at) from ods.ybss_bzdzmlxx") == loaded_at


@pytest.mark.parametrize("defect", SYNTH_PACKAGE_DEFECTS)
def test_package_level_defect_quarantines_and_loads_nothing(dirs, db, defect):
    """Each package-level defect the synthetic city plants: nothing loaded, quarantined, reason named."""
    from dz_assets.province.delivery.pipeline import process_inbox, process_package
    from dz_assets.synth import write_package

    code = defect.split(":")[0]
    n = SYNTH_PACKAGE_DEFECTS.index(defect)
    info = write_package(dirs["inbox"], persons=40, seed=n, source=f"TQ{n:02d}", tables=SYNTH_TABLES,
                         records_per_file=15, defects=(defect,), progress=None)
    if code == "marker_missing":  # still uploading for the inbox; judged when loaded directly
        assert [o.as_json() for o in process_inbox()] == []
        v = process_package(info.zip_path).as_json()
    else:
        [v] = [o.as_json() for o in process_inbox()]
    assert v["status"] == "quarantined" and v["valid"] is False
    assert code in {e["code"] for e in v["errors"]}
    q = Path(v["quarantine_path"])
    assert q.parent == dirs["quarantine"] and q.is_file() and not info.zip_path.exists()
    reason = json.loads(q.with_name(q.name + ".reason.json").read_text())
    assert code in {e["code"] for e in reason["errors"]} and code in reason["reason"]
    [(status, *_, errors, backup, quarantine, _s, finished)] = _batch(db, info.batch_id)
    assert status == "quarantined" and code in {e["code"] for e in errors} and backup is None and finished
    for table in SYNTH_TABLES:
        assert _one(db, f"select count(*) from ods.{table.lower()} where _batch_id = %s", info.batch_id) == (0,)
    assert _one(db, "select count(*) from meta.reject r join meta.batch b using (delivery_id) "
                    "where b.batch_id = %s", info.batch_id) == (0,)
    assert _one(db, "select count(*) from meta.alert where subject = %s and severity = 'error'", info.batch_id) == (1,)


def test_synthetic_city_full_incr_recon_through_the_inbox(dirs, db):
    """A FULL, two chained INCRs and a RECON of one source: loaded, pending, waiting, pending."""
    from dz_assets.province.delivery.pipeline import process_inbox
    from dz_assets.synth import write_package, write_packages

    full, incr1, incr2 = write_packages(dirs["inbox"], persons=60, seed=3, days=2, source="TSYN",
                                        tables=SYNTH_TABLES, records_per_file=25, progress=None)
    recon = write_package(dirs["inbox"], persons=60, seed=3, kind="RECON", nnnn=2, source="TSYN",
                          tables=SYNTH_TABLES, progress=None)
    out = {v["batch_id"]: v for v in [o.as_json() for o in process_inbox()]}
    assert [v["batch_id"] for v in out.values()] == [full.batch_id, recon.batch_id, incr1.batch_id, incr2.batch_id]
    assert out[full.batch_id]["status"] == "loaded"
    loaded = out[full.batch_id]["loaded"]
    assert {t: x["declared"] for t, x in loaded["tables"].items()} == full.tables
    for t, x in loaded["tables"].items():
        assert x["declared"] == x["loaded"] + x["rejected"] + x["duplicate"]
        # the INCRs (applied in the same pass) replace some of the FULL's rows and add keys
        assert _one(db, f"select count(*) from ods.{t.lower()} where _batch_id in (%s, %s, %s)",
                    full.batch_id, incr1.batch_id, incr2.batch_id) >= (x["loaded"],)
    assert loaded["objects"] == full.objects
    assert out[recon.batch_id]["status"] == "applied"  # reconciled
    assert out[incr1.batch_id]["status"] == "applied"
    assert out[incr2.batch_id]["status"] == "applied"  # its prev was applied just before it


def test_marker_rules(dirs, db):
    """Without its marker a zip is still uploading: untouched; loaded directly, it is marker_missing."""
    from dz_assets.province.delivery.inbox import scan_inbox
    from dz_assets.province.delivery.pipeline import process_inbox, process_package

    b = build_package(dirs["inbox"], "TMK-FULL-20261120-0001", [Dataset("YBSS_BZDZMLXX", address_rows(3))],
                      defect="marker_missing")
    before = b.zip_path.stat()
    assert scan_inbox(dirs["inbox"]) == [] and [o.as_json() for o in process_inbox()] == []
    assert b.zip_path.stat().st_mtime_ns == before.st_mtime_ns and _batch(db, b.batch_id) == []
    v = process_package(b.zip_path).as_json()
    assert v["status"] == "quarantined" and [e["code"] for e in v["errors"]] == ["marker_missing"]


def test_quarantined_batch_may_be_delivered_again_and_then_loads(dirs, db):
    from dz_assets.province.delivery.pipeline import process_inbox

    build_package(dirs["inbox"], "TRE-FULL-20261120-0001", [Dataset("YBSS_BZDZMLXX", address_rows(4))],
                  defect="file_checksum")
    assert [o.as_json() for o in process_inbox()][0]["status"] == "quarantined"
    build_package(dirs["inbox"], "TRE-FULL-20261120-0001", [Dataset("YBSS_BZDZMLXX", address_rows(4))])
    assert [o.as_json() for o in process_inbox()][0]["status"] == "loaded"
    assert [r[0] for r in _batch(db, "TRE-FULL-20261120-0001")] == ["quarantined", "loaded"]


def test_order_per_source_stale_and_incr_waits(dirs, db, monkeypatch):
    from dz_assets.province.delivery.pipeline import process_inbox

    monkeypatch.setenv("DZ_INCR_WAIT_ALERT_S", "0")
    addr = [Dataset("YBSS_BZDZMLXX", address_rows(3))]
    build_package(dirs["inbox"], "TORD-FULL-20261120-0002", addr)
    assert [o.as_json() for o in process_inbox()][0]["status"] == "loaded"
    build_package(dirs["inbox"], "TORD-FULL-20261120-0001", addr)  # older than one already applied
    build_package(dirs["inbox"], "TORD-INCR-20261121-0001", addr)  # first INCR: nothing to wait for
    build_package(dirs["inbox"], "TORD-INCR-20261121-0003", addr, prev="TORD-INCR-20261121-0002")
    out = {v["batch_id"]: v for v in [o.as_json() for o in process_inbox()]}
    assert out["TORD-FULL-20261120-0001"]["status"] == "stale"
    assert out["TORD-INCR-20261121-0001"]["status"] == "applied"  # applied by the pipeline
    assert out["TORD-INCR-20261121-0003"]["status"] == "waiting"
    assert "TORD-INCR-20261121-0002" in out["TORD-INCR-20261121-0003"]["reason"]
    assert Path(out["TORD-INCR-20261121-0001"]["backup_path"]).is_file()  # kept for the apply step
    codes = {r[0] for r in db.execute("select code from meta.alert where subject like 'TORD-%%'")}
    assert {"stale_batch", "incr_waiting"} <= codes
    assert _one(db, "select count(*) from ods.ybss_bzdzmlxx where _batch_id = 'TORD-FULL-20261120-0001'") == (0,)


def test_a_batch_held_by_a_live_loader_is_busy(dirs, db):
    from dz_assets.province.delivery.pipeline import BatchBusy, process_package

    b = build_package(dirs["inbox"], "TBSY-FULL-20261120-0001", [Dataset("YBSS_BZDZMLXX", address_rows(2))])
    db.execute("select pg_advisory_lock(hashtextextended('dz.province.batch:' || %s, 0))", (b.batch_id,))
    try:
        with pytest.raises(BatchBusy):
            process_package(b.zip_path).as_json()
    finally:
        db.execute("select pg_advisory_unlock(hashtextextended('dz.province.batch:' || %s, 0))", (b.batch_id,))
    assert b.zip_path.exists()


def test_rejects_cli_and_daily_view(dirs, db):
    from click.testing import CliRunner

    from dz_assets.cli import main
    from dz_assets.province.delivery.pipeline import process_inbox

    rows = address_rows(6)
    rows[2][7] = "1.2.3"  # ZBX: not a decimal
    build_package(dirs["inbox"], "TREJ-FULL-20261120-0001", [Dataset("YBSS_BZDZMLXX", rows)])
    [o.as_json() for o in process_inbox()]
    r = CliRunner().invoke(main, ["rejects", "TREJ-FULL-20261120-0001", "--json"])
    out = json.loads(r.stdout)
    assert out["count"] == 1 and out["rejects"][0]["line"] == 3 and out["rejects"][0]["field"] == "ZBX"
    assert "1.2.3" in out["rejects"][0]["raw_line"]
    csv_out = CliRunner().invoke(main, ["rejects", "TREJ-FULL-20261120-0001", "--csv"]).stdout
    assert csv_out.splitlines()[0].startswith("batch_id,delivery_id,table,file,line,field,reason")
    day = _one(db, "select deliveries, loaded, rows_total, rows_rejected, rows_unreconciled from meta.batch_daily "
                   "where source = 'TREJ'")
    assert day == (1, 1, 6, 1, 0)


def test_crash_between_commit_and_backup_is_finished_not_called_duplicate(dirs, db):
    """The load committed, the move to backup did not happen: the next pass finishes the move."""
    from dz_assets.province.delivery.pipeline import process_inbox

    b = build_package(dirs["inbox"], "TBAK-FULL-20261120-0001", [Dataset("YBSS_BZDZMLXX", address_rows(3))])
    backup = Path([o.as_json() for o in process_inbox()][0]["backup_path"])
    # put the state back to just before the move: zip in the inbox, loaded row without backup
    shutil.move(backup, b.zip_path)
    shutil.move(str(backup) + ".ok", b.marker_path)
    db.execute("update meta.batch set backup_path = null where batch_id = %s", (b.batch_id,))
    db.commit()
    [v] = [o.as_json() for o in process_inbox()]
    assert v["status"] == "loaded" and v["errors"] == [] and Path(v["backup_path"]).is_file()
    assert not dirs["quarantine"].exists()
    assert [r[0] for r in _batch(db, b.batch_id)] == ["loaded", "duplicate"]
    assert _one(db, "select backup_path from meta.batch where batch_id = %s and status = 'loaded'",
                b.batch_id) == (v["backup_path"],)


@pytest.mark.parametrize("defect", ["file_checksum", "file_records"])
def test_data_file_checked_in_the_load_pass_quarantines_with_the_check_verdict(dirs, db, defect):
    """A FULL's data files are hashed and counted while they load (the package is opened without
    the deep scan): a mismatch swaps nothing in, leaves no half-built table, and quarantines
    with exactly the verdict ``dzhub package check`` gives."""
    from dz_assets.province.delivery.pipeline import process_inbox
    from dz_assets.province.reader.verdict import check_verdict

    b = build_package(dirs["inbox"], f"TDEF{len(defect)}-FULL-20261120-0001",
                      [Dataset("HZ_HJRKJBXX", person_rows(30), files=3), Dataset("YBSS_BZDZMLXX", address_rows(4))],
                      defect=defect)
    expected = check_verdict(b.zip_path).as_json()
    [v] = [o.as_json() for o in process_inbox()]
    assert v["status"] == "quarantined" and v["errors"] == expected["errors"]
    assert {e["code"] for e in v["errors"]} == {defect}
    assert _one(db, "select count(*) from ods.hz_hjrkjbxx where _batch_id = %s", b.batch_id) == (0,)
    assert _one(db, "select count(*) from pg_tables where schemaname = 'ods' and tablename like '%%\\_\\_load'") == (0,)
    [(status, *_)] = _batch(db, b.batch_id)
    assert status == "quarantined"


def test_rejects_past_the_memory_bound_are_spooled_and_all_kept(dirs, db, monkeypatch):
    """A package rejecting more lines than a spool holds in memory: every reject reaches the
    verdict, meta.reject, the rejects file and ``dzhub rejects`` in file and line order."""
    from click.testing import CliRunner

    from dz_assets.cli import main
    from dz_assets.province.delivery.pipeline import process_inbox
    from dz_assets.province.reader import reject_spool as rejects_mod

    monkeypatch.setattr(rejects_mod, "MEMORY_ROWS", 2)
    persons, addresses = person_rows(30), address_rows(12)
    bad_persons = [3, 4, 8, 15, 16, 22, 29]  # 1-based lines over two files of 15
    for n in bad_persons:
        persons[n - 1][5] = "19990231"
    for n in (2, 5, 6, 11):
        addresses[n - 1][7] = "x1"
    b = build_package(dirs["inbox"], "TSPL-FULL-20261120-0001",
                      [Dataset("HZ_HJRKJBXX", persons, files=2), Dataset("YBSS_BZDZMLXX", addresses)])
    [v] = [o.as_json() for o in process_inbox()]
    expected = [("HZ_HJRKJBXX_0001.bcp", n) for n in bad_persons if n <= 15] + \
               [("HZ_HJRKJBXX_0002.bcp", n - 15) for n in bad_persons if n > 15] + \
               [("YBSS_BZDZMLXX_0001.bcp", n) for n in (2, 5, 6, 11)]
    assert v["status"] == "loaded" and v["rows"]["rejected"] == len(expected) == len(v["rejects"])
    assert sorted((r["file"], r["line"]) for r in v["rejects"]) == expected
    assert _one(db, "select count(*) from ods.hz_hjrkjbxx")[0] == 30 - len(bad_persons)
    stored = db.execute("select file_name, line from meta.reject where batch_id = %s order by file_name, line",
                        (b.batch_id,)).fetchall()
    db.commit()
    assert stored == expected
    csv_lines = (dirs["reject"] / f"{b.batch_id}.rejects.csv").read_text(encoding="utf-8-sig").splitlines()
    assert v["rejects_file"] == str(dirs["reject"] / f"{b.batch_id}.rejects.csv") and len(csv_lines) == 1 + len(expected)
    out = json.loads(CliRunner().invoke(main, ["rejects", b.batch_id, "--json"]).stdout)
    assert out["count"] == len(expected) and [(r["file"], r["line"]) for r in out["rejects"]] == expected
