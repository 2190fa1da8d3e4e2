"""The provincial batch asset: one dynamic partition per BATCH_ID (``meta/batch``, the registry it writes).

Shape, and why: Dagster does not let one multi-asset mix a partitioned output (the batch) with
unpartitioned ones (the ODS tables, which the CDC apply also writes). So the batch is a
partitioned asset whose run does the whole delivery — register, package checks, quarantine,
FULL load with its swap, objects, backup (``dz_assets.province.delivery.pipeline``) — and reports an
``AssetMaterialization`` for each ODS table it re-based, plus that table's ``rebase_reconciles``
check result. The ODS tables are plain ``AssetSpec``s (``ods.py``), unpartitioned, so re-running
an old batch never rolls one back: a partition whose package already left the inbox reports the
registry's figures and loads nothing.
"""


import dataclasses
import json
from pathlib import Path

import dagster as dg

from dz_assets.defs.keys import BATCH_KEY, ods_key
from dz_assets.defs.ods.tables import rebase_check_result
from dz_assets.defs.province.partitions import province_batch
from dz_assets.defs.resources import PathsResource, WarehouseResource
from dz_assets.province.delivery import pipeline
from dz_assets.province.delivery.batch_balance import (
    BatchFigures,
    RebaseFigures,
    TableFigures,
    batch_figures,
    just_rebased,
    rerun_mismatches,
)
from dz_assets.province.delivery.outcome import Outcome
from dz_assets.province.delivery.registry import BatchRegistry
from dz_assets.province.reader.verdict import RowCounts
from dz_assets.settings import get_settings

CHECKS = {
    "package_valid": ("包文校验：标记文件、压缩包、索引、文件清单、校验和、记录数、表代码、主键字段、非结构化对象均符合规范；"
                      "不合格的包整包不入库，移入隔离区并告警", False),
    "records_reconcile": ("记录对账：每个文件、每张表的声明记录数 = 入库 + 拒收 + 重复", True),
    "ods_rows_match_keys": ("入库核对：重建后的 ODS 表中来自本批次的在用记录数 = 本批次入库的不同主键数", True),
    "delivery_in_order": ("投递顺序：批次号未重复投递、不早于已应用批次、增量批次的前序批次已应用", False),
    "no_duplicate_keys": ("主键重复：同一全量包内重复出现的主键（保留最后一次出现，其余计为重复）", False),
    "quality_flags": ("质量标记：身份号码校验位/地区/出生日期、代码不在代码表、日期晚于批次、地址不在达州的记录数"
                      "（入库但标记）", False),
}


def _settings(paths: PathsResource):
    return dataclasses.replace(
        get_settings(), inbox=Path(paths.inbox), backup_dir=Path(paths.backup_dir),
        quarantine_dir=Path(paths.quarantine_dir), reject_dir=Path(paths.reject_dir),
        object_store=Path(paths.object_store))


def _md(value):
    """Metadata values Dagster takes as is; nested figures as JSON."""
    if isinstance(value, dict | list):
        return dg.MetadataValue.json(json.loads(json.dumps(value, ensure_ascii=False, default=str)))
    return value


def _from_registry(batch_id: str, warehouse: WarehouseResource) -> Outcome:
    """A partition whose package already left the inbox: its latest delivery, nothing loaded."""
    with warehouse.connect() as conn:
        row = conn.execute(
            "select delivery_id from meta.batch where batch_id = %s order by "
            "(status in ('loaded', 'pending_apply', 'applied', 'waiting')) desc, delivery_id desc limit 1",
            (batch_id,)).fetchone()
        if row is None:
            raise dg.Failure(f"no package {batch_id}.zip in the inbox and no delivery of it registered")
        b = BatchRegistry(conn).get(row[0])
    return Outcome(batch_id, valid=not b["errors"], errors=b["errors"], status=b["status"],
                   delivery_id=b["delivery_id"], reason="re-run: package no longer in the inbox; "
                   "nothing re-loaded (an old batch never rolls a table back)",
                   rows=RowCounts(b["rows_total"], b["rows_rejected"], b["rows_flagged"]), rerun=True)


@dg.asset(
    key=BATCH_KEY,
    partitions_def=province_batch,
    group_name="raw",
    kinds={"python", "postgres"},
    description="每个省级数据包投递一行：批次登记、包文校验（不合格移入隔离区并告警）、全量批次逐行校验后 COPY "
                "入新表并一次事务切换为 ODS 表、非结构化对象入库、原包备份；记录数、拒收、重复、质量标记与耗时"
                "见物化元数据，拒收明细用 dzhub rejects <批次号> --csv 导出。",
    check_specs=[dg.AssetCheckSpec(name, asset=BATCH_KEY, description=desc, blocking=blocking)
                 for name, (desc, blocking) in CHECKS.items()],
    retry_policy=dg.RetryPolicy(max_retries=2, delay=30, backoff=dg.Backoff.EXPONENTIAL),
)
def province_batch_asset(context: dg.AssetExecutionContext, warehouse: WarehouseResource,
                         paths: PathsResource):
    """Runs the package pipeline for the partition's batch and reports what it did."""
    batch_id = context.partition_key
    s = _settings(paths)
    zip_path = s.inbox / f"{batch_id}.zip"
    if zip_path.exists():
        result = pipeline.process_package(zip_path, dsn=warehouse.resolved_dsn(), settings=s,
                                          sha256=_sensor_hash(context.run.tags, zip_path))
    else:
        result = _from_registry(batch_id, warehouse)
    loaded = result.loaded
    with warehouse.connect() as conn:
        figures = batch_figures(conn, result.delivery_id) if result.delivery_id else None
        mismatches = rerun_mismatches(conn, batch_id, figures) if result.rerun and figures else []
        for table, t in (loaded.tables if loaded else {}).items():
            delivered = TableFigures(records=t.declared, loaded=t.loaded, rejected=t.rejected,
                                     duplicate=t.duplicate)
            rebase, mismatch = just_rebased(conn, table, batch_id, result.delivery_id, delivered)
            if mismatch:
                mismatches.append(mismatch)
            context.log_event(dg.AssetMaterialization(asset_key=ods_key(table), metadata={
                "dagster/row_count": rebase.ods_live_rows, "batch_id": batch_id, "rows_in": t.declared,
                "rows_loaded": t.loaded, "rows_rejected": t.rejected, "rows_duplicate": t.duplicate,
                "rows_flagged": t.flagged_rows, "flagged": _md(t.flagged), "bytes": t.bytes,
                "duration_s": t.duration_s, "rows_per_s": t.rows_per_s,
                "rejects": f"dzhub rejects {batch_id} --csv"}))
            context.log_event(_rebase_eval(table, rebase))
    rows = result.rows
    meta = {
        "batch_id": batch_id, "status": result.status, "delivery_id": result.delivery_id,
        "dagster/row_count": loaded.loaded if loaded else 0, "rows_in": rows.total,
        "rows_loaded": loaded.loaded if loaded else 0, "rows_rejected": rows.rejected,
        "rows_duplicate": loaded.duplicate if loaded else 0, "rows_flagged": rows.flagged,
        "objects": loaded.objects if loaded else 0, "bytes": loaded.bytes if loaded else 0,
        "duration_s": round(loaded.duration_s, 3) if loaded else None,
        "rows_per_s": loaded.rows_per_s if loaded else None,
        "rejects": f"dzhub rejects {batch_id} --csv", "rejects_file": result.rejects_file,
        "errors": _md(result.errors), "drift": _md(result.drift or []),
        "where": result.backup_path or result.quarantine_path,
        "reason": result.reason,
    }
    if figures:
        meta["tables"] = _md({t: dataclasses.asdict(f) for t, f in figures.tables.items()})
    return dg.MaterializeResult(
        metadata={k: v for k, v in meta.items() if v is not None},
        check_results=_check_results(result, figures, mismatches))


def _sensor_hash(tags, zip_path: Path) -> str | None:
    """The sensor's SHA-256 of the package, when the file is still the one it hashed."""
    st = zip_path.stat()
    if tags.get("dz/sha256") and tags.get("dz/stat") == f"{st.st_size}:{st.st_mtime_ns}":
        return tags["dz/sha256"]
    return None


def _rebase_eval(table: str, figures: RebaseFigures | None) -> dg.AssetCheckEvaluation:
    r = rebase_check_result(ods_key(table), figures)
    return dg.AssetCheckEvaluation(asset_key=r.asset_key, check_name=r.check_name, passed=r.passed,
                                   metadata=r.metadata)


def _check_results(result: Outcome, figures: BatchFigures | None, mismatches: list[str]) -> list[dg.AssetCheckResult]:
    status = result.status
    errors = result.errors
    package_errors = [e for e in errors if e.get("code") != "duplicate_batch"]
    not_loaded = {"note": f"nothing loaded by this run (status {status})"}
    dup = figures.duplicates() if figures else {}
    flagged = figures.flags if figures else {}
    return [
        dg.AssetCheckResult(check_name="package_valid", passed=not package_errors,
                            metadata={"errors": _md(package_errors), "status": status}),
        dg.AssetCheckResult(check_name="records_reconcile",
                            passed=not (figures and figures.unreconciled),
                            metadata={"unreconciled": _md(figures.unreconciled), "files": len(figures.files)}
                            if figures and status == "loaded" else not_loaded),
        dg.AssetCheckResult(check_name="ods_rows_match_keys", passed=not mismatches,
                            metadata={"mismatches": _md(mismatches)} if status == "loaded" else not_loaded),
        dg.AssetCheckResult(check_name="delivery_in_order", severity=dg.AssetCheckSeverity.WARN,
                            passed=status not in ("duplicate", "stale", "waiting"),
                            metadata={"status": status, "reason": result.reason or ""}),
        dg.AssetCheckResult(check_name="no_duplicate_keys", severity=dg.AssetCheckSeverity.WARN,
                            passed=not dup, metadata={"duplicates": _md(dup)}),
        dg.AssetCheckResult(check_name="quality_flags", severity=dg.AssetCheckSeverity.WARN,
                            passed=not flagged, metadata={"flags": _md(flagged),
                                                          "rows_flagged": result.rows.flagged}),
    ]
