"""INCR and RECON batches after their parking (recorded ``pending_apply`` and backed up): applied
(INCR) or reconciled (RECON) under their source's lock, then the INCRs that waited for them, in
BATCH_ID order. The registry's status and the alerts of each step are here; the apply itself is
``incr_load``'s, the reconciliation ``recon_package``'s."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import psycopg

from dz_assets.ops.alerts import raise_alert
from dz_assets.province.delivery.incr_load import IncrResult, apply_incr_batch
from dz_assets.province.delivery.outcome import Outcome
from dz_assets.province.delivery.recon_package import reconcile_package
from dz_assets.province.delivery.registry import BatchName, BatchRegistry
from dz_assets.province.reader.package import Package, open_package


def apply_parked(conn: psycopg.Connection, reg: BatchRegistry, dsn: str, name: BatchName, delivery: int,
                 package: Package, parked: Outcome) -> Outcome:
    """The pipeline's step after a valid INCR/RECON was recorded ``pending_apply`` and backed up:
    an INCR is applied (then the INCRs that waited for it follow, from backup, in order); a RECON
    is reconciled. Its status becomes ``applied``; a failure is ``failed``, alerted and raised."""
    # _park moved the zip to backup: read it there (the same bytes, already proven).
    package = dataclasses.replace(package, path=Path(parked.backup_path))
    try:
        if name.kind == "RECON":
            res = reconcile_package(dsn, package, delivery_id=delivery, batch_id=name.batch_id)
            reason = (f"reconciled: {res.differing_keys} differing keys, "
                      f"{res.differing_buckets} differing buckets")
            reg.finish(delivery, "applied", reason=reason)
            if res.differing_buckets:
                raise_alert(conn, severity="warning", source="recon", code="recon_differences",
                            subject=name.batch_id, message=f"{name.batch_id}: {res.differing_keys} keys in "
                            f"{res.differing_buckets} buckets differ; repair request {res.repair_request}",
                            details={"repair_request": res.repair_request})
            return dataclasses.replace(parked, status="applied", reason=reason, recon=res)
        applied = apply_incr_batch(dsn, package, delivery_id=delivery, batch_id=name.batch_id)
        rows = applied.rows
        reg.finish(delivery, "applied", reason=None, rows_total=rows.total, rows_rejected=rows.rejected,
                   rows_loaded=rows.total - rows.rejected, rows_flagged=rows.flagged)
    except Exception as exc:
        reg.finish(delivery, "failed", reason=f"{type(exc).__name__}: {exc}"[:2000])
        raise_alert(conn, severity="error", source="province", code="apply_failed", subject=name.batch_id,
                    message=f"{name.batch_id}: apply failed: {exc}", details={"delivery_id": delivery})
        raise
    # The parking's reason ("applied next") is history now, as it is in meta.batch.
    out = dataclasses.replace(parked, status="applied", reason=None, applied=applied)
    if followed := apply_pending(conn, reg, dsn, name.source):
        out.released = [f.batch_id for f in followed]
    return out


def apply_pending(conn: psycopg.Connection, reg: BatchRegistry, dsn: str, source: str) -> list[IncrResult]:
    """Apply the source's INCR batches that are ``pending_apply`` or whose prev is now applied, in
    BATCH_ID order, from their backup zips. The caller holds the source's lock, under which every
    apply runs, so nobody else is applying these: they were released by a batch just applied (or
    by a FULL), or their loader died mid-apply (the apply's transaction rolled back). One that
    fails is ``failed`` and alerted; the others go on. Returns what each applied."""
    done = []
    while True:
        reg.release_waiting(source)
        if not (pending := reg.pending_incr(source)):
            return done
        for d, batch_id, _src, backup in pending:
            try:
                package = open_package(backup)
                try:
                    done.append(apply_incr_batch(dsn, package, delivery_id=d, batch_id=batch_id))
                finally:
                    package.close()
            except Exception as exc:
                reg.finish(d, "failed", reason=f"{type(exc).__name__}: {exc}"[:2000])
                raise_alert(conn, severity="error", source="province", code="apply_failed", subject=batch_id,
                            message=f"{batch_id}: 增量批次应用失败：{exc}", details={"delivery_id": d})
