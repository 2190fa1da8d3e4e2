"""The province stage through Dagster: the inbox sensor adds partitions and keys runs by SHA-256;
the batch asset loads, reports ODS materializations and its checks; a re-run never reloads."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from support.province_builder import Dataset, address_rows, build_package, person_rows

BATCH = dg.AssetKey(["meta", "batch"])


def _checks(instance, key, name, partition=None):
    rec = instance.event_log_storage.get_asset_check_execution_history(dg.AssetCheckKey(key, name), limit=1)[0]
    return rec.event.dagster_event.event_specific_data


def test_sensor_partitions_and_batch_asset(dirs, db):
    from dz_assets.defs.province.assets import province_batch_asset
    from dz_assets.defs.province.sensors import province_inbox_sensor
    from dz_assets.defs.resources import build_resources

    good = build_package(dirs["inbox"], "TDG-FULL-20261120-0001",
                         [Dataset("HZ_HJRKJBXX", person_rows(30)), Dataset("YBSS_BZDZMLXX", address_rows(5))])
    bad = build_package(dirs["inbox"], "TDG-FULL-20261120-0002", [Dataset("YBSS_BZDZMLXX", address_rows(5))],
                        defect="file_records")
    build_package(dirs["inbox"], "TDG-FULL-20261120-0003", [Dataset("YBSS_BZDZMLXX", address_rows(1))],
                  defect="marker_missing")
    resources = build_resources()
    instance = dg.DagsterInstance.ephemeral()

    result = province_inbox_sensor(dg.build_sensor_context(instance=instance, resources=resources))
    # one source: one run at a time, oldest first; no marker: no partition, no run
    assert [(r.partition_key, r.run_key) for r in result.run_requests] == [(good.batch_id, good.sha256)]
    [add] = result.dynamic_partitions_requests
    assert sorted(add.partition_keys) == [good.batch_id, bad.batch_id]
    instance.add_dynamic_partitions("province_batch", list(add.partition_keys))
    assert db.execute("select batch_id, status from meta.batch where batch_id like 'TDG-%%' order by 1"
                      ).fetchall() == [(good.batch_id, "received"), (bad.batch_id, "received")]
    db.commit()
    again = province_inbox_sensor(dg.build_sensor_context(instance=instance, resources=resources,
                                                          cursor=result.cursor))
    assert [r.run_key for r in again.run_requests] == [good.sha256]  # same key: no second run
    db.execute("update meta.batch set status = 'loading' where batch_id = %s", (good.batch_id,))
    db.commit()  # as while its run loads: later ticks register nothing new and keep the key
    during = province_inbox_sensor(dg.build_sensor_context(instance=instance, resources=resources))
    assert [r.run_key for r in during.run_requests] == [good.sha256]
    assert db.execute("select count(*) from meta.batch where batch_id = %s", (good.batch_id,)).fetchone() == (1,)
    db.execute("update meta.batch set status = 'received' where batch_id = %s", (good.batch_id,))
    db.commit()

    assets = [province_batch_asset]
    r = dg.materialize(assets, partition_key=good.batch_id, instance=instance, resources=resources,
                       tags=result.run_requests[0].tags)  # the sensor's hash travels with the run
    assert r.success
    assert db.execute("select sha256 from meta.batch where batch_id = %s and status = 'loaded'",
                      (good.batch_id,)).fetchone() == (good.sha256,)
    db.commit()
    mat = instance.get_latest_materialization_event(BATCH).asset_materialization
    assert mat.partition == good.batch_id
    md = mat.metadata
    assert md["status"].value == "loaded" and md["rows_in"].value == 35 and md["rows_loaded"].value == 35
    assert md["dagster/row_count"].value == 35 and md["rows_rejected"].value == 0
    assert md["rejects"].value == f"dzhub rejects {good.batch_id} --csv"
    ods = instance.get_latest_materialization_event(dg.AssetKey(["ods", "hz_hjrkjbxx"])).asset_materialization
    assert ods.metadata["dagster/row_count"].value == 30 and ods.metadata["batch_id"].value == good.batch_id
    for name in ("package_valid", "records_reconcile", "ods_rows_match_keys"):
        assert _checks(instance, BATCH, name).passed, name
    assert _checks(instance, dg.AssetKey(["ods", "hz_hjrkjbxx"]), "rebase_reconciles").passed
    loaded_at = db.execute("select max(_loaded_at) from ods.hz_hjrkjbxx").fetchone()
    db.commit()

    after = province_inbox_sensor(dg.build_sensor_context(instance=instance, resources=resources))
    assert [(r.partition_key, r.run_key) for r in after.run_requests] == [(bad.batch_id, bad.sha256)]
    r = dg.materialize(assets, partition_key=bad.batch_id, instance=instance, resources=resources)
    assert r.success  # a quarantined package is an outcome, not a run failure: the check says so
    valid = _checks(instance, BATCH, "package_valid")
    assert not valid.passed and "file_records" in str(valid.metadata["errors"].value)
    assert Path(dirs["quarantine"] / f"{bad.batch_id}.zip").exists()

    # re-running the loaded partition reloads nothing: the package is in backup, the table stays
    r = dg.materialize(assets, partition_key=good.batch_id, instance=instance, resources=resources)
    assert r.success
    assert db.execute("select max(_loaded_at) from ods.hz_hjrkjbxx").fetchone() == loaded_at
    assert province_inbox_sensor(dg.build_sensor_context(instance=instance, resources=resources)).run_requests == []


def test_ods_assets_cover_the_catalogue_with_chinese_descriptions():
    from dz_assets.catalog import load_catalogue
    from dz_assets.defs.ods.tables import ods_rebase_reconciles, ods_tables

    cat = load_catalogue()
    assert {s.key for s in ods_tables} == {dg.AssetKey(["ods", t.ods_name]) for t in cat.tables.values()}
    spec = next(s for s in ods_tables if s.key.path[1] == "hz_hjrkjbxx")
    assert spec.group_name == "ods" and spec.description.startswith("每个人员编号一行：户籍人口基本信息（HZ_HJRKJBXX）")
    assert len(list(ods_rebase_reconciles.check_keys)) == len(cat.tables)


def test_flags_and_rejects_are_visible_on_the_asset(dirs):
    from dz_assets.defs.province.assets import province_batch_asset
    from dz_assets.defs.resources import build_resources
    from dz_assets.synth import write_package

    info = write_package(dirs["inbox"], persons=50, seed=11, source="TDGF", tables=["HZ_HJRKJBXX"],
                         defects=("flag_id_checkdigit", "row_bad_date"), progress=None)
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("province_batch", [info.batch_id])
    assert dg.materialize([province_batch_asset], partition_key=info.batch_id, instance=instance,
                          resources=build_resources()).success
    md = instance.get_latest_materialization_event(BATCH).asset_materialization.metadata
    assert md["rows_rejected"].value == 1 and md["rows_flagged"].value >= 1
    assert md["rejects_file"].value.endswith(f"{info.batch_id}.rejects.csv")
    flags = _checks(instance, BATCH, "quality_flags")
    assert not flags.passed and flags.severity == dg.AssetCheckSeverity.WARN
    assert "id_checkdigit" in str(flags.metadata["flags"].value)
    ods = instance.get_latest_materialization_event(dg.AssetKey(["ods", "hz_hjrkjbxx"])).asset_materialization
    assert ods.metadata["rows_rejected"].value == 1 and "id_checkdigit" in str(ods.metadata["flagged"].value)
    assert _checks(instance, BATCH, "records_reconcile").passed


def test_failed_run_raises_an_alert(pg_dsn, db):
    from dz_assets.defs.ops.sensors import run_failure_alert
    from dz_assets.defs.resources import build_resources

    @dg.op
    def load_step():
        raise RuntimeError("disk full")

    @dg.job
    def failing():
        load_step()

    instance = dg.DagsterInstance.ephemeral()
    r = failing.execute_in_process(instance=instance, raise_on_error=False,
                                   tags={"dagster/partition": "TFAIL-FULL-20261120-0001"})
    [event] = [e.dagster_event for e in instance.all_logs(r.run_id)
               if e.dagster_event and e.dagster_event.event_type_value == "PIPELINE_FAILURE"]
    run_failure_alert(dg.build_run_status_sensor_context(
        sensor_name="run_failure_alert", dagster_event=event, dagster_instance=instance,
        dagster_run=r.dagster_run, resources=build_resources()).for_run_failure())
    assert db.execute("select severity, code from meta.alert where subject = 'failing/TFAIL-FULL-20261120-0001'"
                      ).fetchall() == [("error", "run_failed")]
