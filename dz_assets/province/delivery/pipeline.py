"""One provincial package from the inbox to its end state: the path the asset, the CLI, the
demo and the benchmark all take.

``process_package``: register the delivery → (duplicate? set aside) → package checks
(``open_package``; invalid: quarantine + alert) → order per source (stale: set aside + alert) →
FULL: ``load_full`` (COPY, checks, objects, swap), re-base, backup, ``loaded``; INCR/RECON:
recorded ``pending_apply`` (or ``waiting`` for their prev), backed up, then applied (INCR) or
reconciled (RECON), ``applied``.

A session advisory lock per batch id keeps two loaders off one batch (``BatchBusy``; the CLI
prints it as a ``busy`` verdict). One per source makes the order check and the apply one step:
the batches of a source apply in BATCH_ID order whatever the timing of their loaders. A loader
that died leaves its delivery ``loading`` with the locks released. If it died before its swap
committed, the previous ODS tables are in place and the next run of the batch supersedes the
delivery; if after, the batch is live and the next start records it ``loaded``
(``recover_swapped``). INCRs left ``pending_apply`` are applied under the source's lock
(``parked.apply_pending``).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from dz_assets.catalog import load_catalogue
from dz_assets.db import connect, pg_dsn
from dz_assets.ods.rebase import rebase_after_full
from dz_assets.ops.alerts import raise_alert
from dz_assets.province.delivery import inbox
from dz_assets.province.delivery.full_load import TableLoad, load_full
from dz_assets.province.delivery.objects import store_objects
from dz_assets.province.delivery.outcome import LoadSummary, Outcome
from dz_assets.province.delivery.parked import apply_parked, apply_pending
from dz_assets.province.delivery.registry import BatchName, BatchRegistry, OrderVerdict
from dz_assets.province.delivery.rejects import write_rejects_file
from dz_assets.province.reader.package import MemberCheckFailed, Package, not_regular, open_package
from dz_assets.province.reader.verdict import RowCounts, verdict_of
from dz_assets.settings import Settings, get_settings

log = logging.getLogger(__name__)


class BatchBusy(RuntimeError):
    """Another live loader holds the batch; retry later."""


@contextmanager
def batch_lock(conn: psycopg.Connection, batch_id: str) -> Iterator[None]:
    key = "dz.province.batch:" + batch_id
    got = conn.execute("select pg_try_advisory_lock(hashtextextended(%s, 0))", (key,)).fetchone()[0]
    if not got:
        raise BatchBusy(f"batch {batch_id} is being processed by another loader")
    try:
        yield
    finally:
        conn.execute("select pg_advisory_unlock(hashtextextended(%s, 0))", (key,))


@contextmanager
def source_lock(conn: psycopg.Connection, source: str) -> Iterator[None]:
    """Batches of one source take their turns: waits while another loader of the source decides
    its order or applies (a FULL's load, an INCR's apply)."""
    key = "dz.province.source:" + source
    conn.execute("select pg_advisory_lock(hashtextextended(%s, 0))", (key,))
    try:
        yield
    finally:
        conn.execute("select pg_advisory_unlock(hashtextextended(%s, 0))", (key,))


@contextmanager
def full_load_slot(conn: psycopg.Connection) -> Iterator[None]:
    """One FULL load at a time; retention takes it too before it removes stored objects, so that
    no load links a row to an object it is removing."""
    conn.execute("select pg_advisory_lock(hashtextextended('dz.province.full_load', 0))")
    try:
        yield
    finally:
        conn.execute("select pg_advisory_unlock(hashtextextended('dz.province.full_load', 0))")


def recover_swapped(conn: psycopg.Connection, reg: BatchRegistry, s: Settings, *, source: str | None = None,
                    batch_id: str | None = None) -> list[int]:
    """Reconcile the registry with what is live after a loader died between its swap's commit and
    marking the batch: such a FULL is ``loaded`` (the swap recorded its per-file figures in the
    same transaction), its tables still holding it are re-based on the change log if the loader
    had not got to that, its rejects file is written and INCRs waiting for it move on. Returns the
    recovered deliveries."""
    cat = load_catalogue()
    out = []
    for delivery, bid, src, seq, tables in reg.swapped_interrupted(source=source, batch_id=batch_id):
        for code in tables:
            live = conn.execute(sql.SQL("select exists (select 1 from ods.{} where _batch_id = %s)").format(
                sql.Identifier(cat.tables[code].ods_name)), (bid,)).fetchone()[0]
            base = conn.execute("select base_batch_id from meta.cdc_table_state where table_code = %s",
                                (code,)).fetchone()
            if live and (base is None or base[0] != bid):
                rebase_after_full(conn, code, seq, bid)
        reason = ("recovered: the loader stopped after its swap had committed; the batch is live, "
                  "recorded loaded from the swap's figures")
        reg.mark_recovered(delivery, reason)
        raise_alert(conn, severity="warning", source="province", code="load_recovered", subject=bid,
                    message=f"{bid}: 加载进程在表切换提交后中断；数据已生效，批次已补记为已加载",
                    details={"delivery_id": delivery, "tables": tables})
        reg.release_waiting(src)
        write_rejects_file(conn, bid, s.reject_dir)
        out.append(delivery)
    return out


@dataclass
class _Arrival:
    """One package on its way through the pipeline, its batch lock held: what every step reads."""

    conn: psycopg.Connection
    reg: BatchRegistry
    s: Settings
    dsn: str
    zip_path: Path
    name: BatchName
    t0: float
    delivery: int = 0  # its meta.batch row, once registered

    @property
    def batch_id(self) -> str:
        return self.name.batch_id


def _set_aside(a: _Arrival, status: str, errors: list[dict], reason: str, severity: str) -> Path:
    target = inbox.quarantine(a.zip_path, a.s.quarantine_dir, batch_id=a.batch_id, errors=errors, reason=reason)
    a.reg.finish(a.delivery, status, errors=errors, reason=reason, quarantine_path=str(target))
    raise_alert(a.conn, severity=severity, source="province", code=errors[0]["code"] if errors else status,
                subject=a.batch_id, message=f"{a.batch_id}: {reason}",
                details={"delivery_id": a.delivery, "path": str(target), "errors": errors})
    return target


def process_package(zip_path: Path | str, *, dsn: str | None = None, settings: Settings | None = None,
                    sha256: str | None = None) -> Outcome:
    """Process one complete package; returns the spec's verdict plus what happened to it.

    ``sha256``: the zip's hash when the caller has just computed it (a copy hashed while it was
    written, a sensor's hash of an unchanged file): 300 MB take ~1 s to hash here.
    """
    s = settings or get_settings()
    dsn = dsn or pg_dsn()
    zip_path = Path(zip_path)
    batch_id = zip_path.name.removesuffix(".zip")
    name = BatchName.parse(batch_id)
    t0 = time.monotonic()
    with connect(dsn, autocommit=True) as conn:
        reg = BatchRegistry(conn)
        if name is None:  # no batch row can name it: kept in quarantine, alerted, nothing read
            errors = [{"code": "index_invalid", "file": zip_path.name, "message":
                       f"{zip_path.name}: file name is not <SOURCE>-<KIND>-<YYYYMMDD>-<NNNN>.zip"}]
            target = inbox.quarantine(zip_path, s.quarantine_dir, batch_id=None, errors=errors,
                                      reason="bad package file name")
            raise_alert(conn, severity="error", source="province", code="index_invalid",
                        subject=zip_path.name, message=errors[0]["message"], details={"path": str(target)})
            return Outcome.refused(batch_id, errors, status="quarantined", quarantine_path=str(target))
        with batch_lock(conn, batch_id):
            return _process_locked(_Arrival(conn, reg, s, dsn, zip_path, name, t0), sha256)


def _process_locked(a: _Arrival, sha: str | None) -> Outcome:
    conn, reg, s, zip_path, batch_id = a.conn, a.reg, a.s, a.zip_path, a.batch_id
    recover_swapped(conn, reg, s, batch_id=batch_id)  # a dead loader's swap counts before the duplicate check
    if sha is None:
        sha, size = inbox.sha256_file(zip_path)
    else:
        size = zip_path.stat().st_size
    taken = reg.taken_by(batch_id)
    a.delivery = reg.register(a.name, file_name=zip_path.name, size=size, sha256=sha)
    if taken and taken[1] == "loaded" and taken[2] == sha and taken[3] is None:
        # The very bytes whose load committed but whose move to backup did not happen (a crash
        # between the two): finish that move instead of calling the package a duplicate.
        target = inbox.backup(zip_path, s.backup_dir)
        reg.update(taken[0], backup_path=str(target))
        reason = f"same bytes as delivery {taken[0]} (loaded); its move to backup completed now"
        reg.finish(a.delivery, "duplicate", reason=reason, backup_path=str(target))
        return Outcome.refused(batch_id, [], delivery_id=taken[0], status="loaded", reason=reason,
                               backup_path=str(target))
    if taken:
        errors = [{"code": "duplicate_batch", "file": zip_path.name, "message":
                   f"batch {batch_id} was already delivered (delivery {taken[0]}, {taken[1]}); "
                   "not loaded again"}]
        target = _set_aside(a, "duplicate", errors, errors[0]["message"], "warning")
        return Outcome.refused(batch_id, errors, delivery_id=a.delivery, status="duplicate",
                               quarantine_path=str(target))

    # A FULL's data files are hashed and counted in the load's own pass (deep=False): the same
    # checks, but 1.6 GB of a 10 M-row package are inflated once instead of twice.
    package = open_package(zip_path, inbox.marker_of(zip_path), deep=a.name.kind != "FULL", sha256=sha)
    try:
        index = package.index
        if index is not None:
            reg.update(a.delivery, created=index.created, seq=index.seq, prev=index.prev or None,
                       drift=package.drift)
        if not package.valid:
            return _quarantine_invalid(a, package)

        # The order is decided and the batch applied under its source's lock: whichever loader
        # of the source comes second sees what the first applied (a newer batch that was
        # being applied makes this one stale), and an INCR's prev cannot be applied between
        # its check and its parking as `waiting`.
        with source_lock(conn, a.name.source):
            return _apply_in_order(a, package)
    finally:
        package.close()  # its archive: read by every step above, released here


def _apply_in_order(a: _Arrival, package: Package) -> Outcome:
    """A valid package, its source's lock held: stale, or parked/applied (INCR, RECON) or loaded
    (FULL)."""
    conn, reg, s, batch_id = a.conn, a.reg, a.s, a.batch_id
    recover_swapped(conn, reg, s, source=a.name.source)  # a newer batch a dead loader swapped in counts
    apply_pending(conn, reg, a.dsn, a.name.source)  # INCRs a dead loader or a FULL left pending go first
    order = reg.order_verdict(a.name, package.index.prev)
    if order.status == "stale":
        target = inbox.quarantine(a.zip_path, s.quarantine_dir, batch_id=batch_id,
                                  errors=[{"code": "stale", "message": order.reason, "file": a.zip_path.name}],
                                  reason=order.reason)
        reg.finish(a.delivery, "stale", reason=order.reason, quarantine_path=str(target))
        raise_alert(conn, severity="warning", source="province", code="stale_batch", subject=batch_id,
                    message=f"{batch_id}: {order.reason}; not applied", details={"path": str(target)})
        return Outcome.refused(batch_id, [], delivery_id=a.delivery, status="stale", reason=order.reason,
                               quarantine_path=str(target))

    if a.name.kind != "FULL":
        result = _park(a, order, package)
        if result.status == "pending_apply":  # INCR applied, RECON reconciled
            result = apply_parked(conn, reg, a.dsn, a.name, a.delivery, package, result)
        return result
    return _load(a, package)


def _quarantine_invalid(a: _Arrival, package: Package) -> Outcome:
    """An invalid package: quarantined with its verdict (every check: a package whose data files
    were left to the loader is judged again in full), alerted, nothing loaded."""
    if not package.members_checked:
        package = open_package(a.zip_path, inbox.marker_of(a.zip_path), sha256=package.sha256)
    verdict = verdict_of(package)
    reasons = "; ".join(f"{e['code']}: {e['message']}" for e in verdict.errors)
    target = _set_aside(a, "quarantined", verdict.errors, reasons, "error")
    rows = verdict.rows  # what the package held, for the monitoring pages (nothing loaded)
    a.reg.update(a.delivery, rows_total=rows.total, rows_rejected=rows.rejected, rows_flagged=rows.flagged)
    return Outcome.judged(verdict, delivery_id=a.delivery, status="quarantined", quarantine_path=str(target))


def _park(a: _Arrival, order: OrderVerdict, package: Package) -> Outcome:
    """INCR/RECON: proven and recorded, kept in backup for the apply step."""
    verdict = verdict_of(package)
    status = "waiting" if order.status == "waiting" else "pending_apply"
    reason = order.reason or f"{a.name.kind} batch recorded, proven and backed up; applied next"
    target = inbox.backup(a.zip_path, a.s.backup_dir)
    rows = verdict.rows
    a.reg.finish(a.delivery, status, reason=reason, backup_path=str(target), rows_total=rows.total,
                 rows_rejected=rows.rejected, rows_flagged=rows.flagged)
    return Outcome.judged(verdict, delivery_id=a.delivery, status=status, reason=reason, backup_path=str(target))


def _load(a: _Arrival, package: Package) -> Outcome:
    conn, reg, s, batch_id = a.conn, a.reg, a.s, a.batch_id
    superseded = reg.start_loading(a.delivery, batch_id)
    stored: list[int] = []

    def objects_first(tables: dict[str, TableLoad]) -> None:
        # Before the swap: once the rows are live, a loader that dies leaves nothing the batch
        # needs undone but the change log's re-base, which the next start redoes.
        refs = [(t.table, k, f, m) for t in tables.values() for k, f, m in t.file_refs]
        stored.append(store_objects(conn, package, batch_id=batch_id, store=s.object_store, refs=refs))

    try:
        # One FULL load at a time: each already keeps both cores busy (a prover thread and a
        # PostgreSQL backend per table), and two re-bases of one table must not interleave.
        with full_load_slot(conn):
            try:
                result = load_full(a.dsn, package, delivery_id=a.delivery, batch_id=batch_id,
                                   before_swap=objects_first)
            except MemberCheckFailed:  # a data file is not what the index says: nothing swapped in
                return _quarantine_invalid(a, package)
    except Exception as exc:
        reg.finish(a.delivery, "failed", reason=f"{type(exc).__name__}: {exc}"[:2000])
        raise_alert(conn, severity="error", source="province", code="load_failed", subject=batch_id,
                    message=f"{batch_id}: load failed: {exc}", details={"delivery_id": a.delivery,
                                                                       "path": str(a.zip_path)})
        raise
    objects = stored[0]
    try:
        for ds in package.index.datasets:  # held changes above BATCH@seq
            rebase_after_full(conn, ds.table, package.index.seq, batch_id)
    except Exception as exc:
        # The swap has committed: the batch is live and must not be called failed (an older
        # FULL would then not be stale). It stays `loading`; once this loader has let go of the
        # batch, the next run's recover_swapped redoes the re-base and records it loaded.
        reg.update(a.delivery, reason=f"swapped in; the change log's re-base failed, the next run redoes "
                                      f"it: {type(exc).__name__}: {exc}"[:2000])
        raise_alert(conn, severity="error", source="province", code="rebase_failed", subject=batch_id,
                    message=f"{batch_id}: 已切换生效，但变更日志重放失败，下次运行将重做：{exc}",
                    details={"delivery_id": a.delivery, "path": str(a.zip_path)})
        raise
    # The ODS tables' live rows are counted by the asset's checks, not here: a count(*) of a
    # 10M-row table costs seconds, and the CLI and the benchmark need not pay for it.
    tables = {t.table: t for t in result.tables.values()}
    totals = {k: sum(getattr(t, k) for t in tables.values()) for k in ("declared", "loaded", "rejected", "duplicate")}
    flagged = result.flagged_rows
    reg.update(a.delivery, rows_total=totals["declared"], rows_loaded=totals["loaded"],
               rows_rejected=totals["rejected"], rows_duplicate=totals["duplicate"],
               rows_flagged=flagged, objects=objects)
    # Marked loaded before the move: a crash between the two leaves a loaded batch whose zip is
    # still in the inbox; the next pass finishes the move (same bytes), never loads it twice.
    reg.finish(a.delivery, "loaded", reason=None)
    target = inbox.backup(a.zip_path, s.backup_dir)
    reg.update(a.delivery, backup_path=str(target))
    apply_pending(conn, reg, a.dsn, a.name.source)  # INCRs that waited for this batch
    rejects_file = write_rejects_file(conn, batch_id, s.reject_dir) if totals["rejected"] else None
    loaded = LoadSummary(**totals, flagged=flagged, objects=objects, tables=tables,
                         duration_s=time.monotonic() - a.t0)
    return Outcome.judged(
        verdict_of(package, prove_rows=False), rows=RowCounts(totals["declared"], totals["rejected"], flagged),
        rejects=result.rejects.dicts(), delivery_id=a.delivery, status="loaded", backup_path=str(target),
        superseded=superseded, rejects_file=str(rejects_file) if rejects_file else None, loaded=loaded)


def process_inbox(*, dsn: str | None = None, settings: Settings | None = None) -> list[Outcome]:
    """Every complete package in the inbox, per source in BATCH_ID order (date, then NNNN).

    A package that fails to load stays in the inbox (status ``failed``, alerted) and the scan
    goes on with the others. INCR waits longer than ``DZ_INCR_WAIT_ALERT_S`` are alerted.
    """
    s = settings or get_settings()
    dsn = dsn or pg_dsn()
    out = []
    try:
        with connect(dsn, autocommit=True) as conn:
            reg = BatchRegistry(conn)
            recover_swapped(conn, reg, s)
            for source in sorted({r[2] for r in reg.pending_incr()}):  # left by a loader that died
                with source_lock(conn, source):
                    apply_pending(conn, reg, dsn, source)
    except Exception:  # each package's own run tries its source's recovery again, and fails there
        log.exception("recovering interrupted loads failed; the packages of their sources will retry")
    for p in inbox.scan_inbox(s.inbox):
        try:
            out.append(process_package(p.zip_path, dsn=dsn, settings=s))
        except Exception as exc:  # recorded and alerted by process_package where it could be
            out.append(Outcome(p.batch_id, status="failed", error=f"{type(exc).__name__}: {exc}"))
    with connect(dsn, autocommit=True) as conn:
        BatchRegistry(conn).alert_overdue_waits(s.incr_wait_alert_s)
    return out

# A work folder whose name carries no owner pid (written before it did) is removed once this old.
UNOWNED_WORK_S = 6 * 3600


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def sweep_work(folder: Path) -> list[Path]:
    """Remove the package copies of loads whose process is gone (killed, or the machine went
    down): each is a full copy of a package, millions of ID numbers. A copy whose owner still
    runs (a concurrent load) is left alone. Returns what was removed."""
    removed = []
    if not folder.is_dir():
        return removed
    now = time.time()
    for entry in folder.iterdir():
        parts = entry.name.rsplit(".", 2)
        if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
            if _alive(int(parts[1])):
                continue
        else:
            try:
                if now - entry.lstat().st_mtime < UNOWNED_WORK_S:
                    continue
            except FileNotFoundError:
                continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    if removed:
        log.info("removed %d work copies of loads that are gone", len(removed))
    return removed


def load_package_copy(path: Path | str, *, dsn: str | None = None,
                      settings: Settings | None = None) -> Outcome:
    """``dzhub package load``: the asset's path on a copy of ``path`` (which stays where it is).

    A batch id already loaded is reported as ``duplicate_batch`` (and recorded) before any byte
    of the package is read; one another loader holds right now is ``busy`` (``duplicate_batch``,
    not recorded), a verdict like every other outcome.
    """
    s = settings or get_settings()
    dsn = dsn or pg_dsn()
    path = Path(path).resolve()
    batch_id = path.name.removesuffix(".zip")
    name = BatchName.parse(batch_id)
    if name is not None:
        with connect(dsn, autocommit=True) as conn:
            reg = BatchRegistry(conn)
            recover_swapped(conn, reg, s, batch_id=batch_id)
            taken = reg.taken_by(batch_id)
            if taken:
                marker = inbox.marker_of(path)
                sha = marker.read_text().strip().lower() if marker.is_file() else ""
                delivery = reg.register(name, file_name=path.name, size=path.stat().st_size, sha256=sha)
                errors = [{"code": "duplicate_batch", "file": path.name, "message":
                           f"batch {batch_id} was already delivered (delivery {taken[0]}, {taken[1]}); "
                           "not loaded again"}]
                reg.finish(delivery, "duplicate", errors=errors, reason=errors[0]["message"])
                return Outcome.refused(batch_id, errors, delivery_id=delivery, status="duplicate")
    if why := not_regular(path):  # a FIFO would hang the copy; a directory is no package
        return Outcome.refused(batch_id, [{"code": "not_zip", "file": path.name, "message": why}])
    sweep_work(s.state_dir / "work")
    # The owner's pid in the name: a later load removes the copy if this process dies (kill -9).
    work = s.state_dir / "work" / f"{batch_id}.{os.getpid()}.{time.time_ns()}"
    work.mkdir(parents=True)
    try:
        copy = work / path.name
        try:
            sha = inbox.copy_hashed(path, copy)
        except OSError as exc:  # a file stat calls regular that cannot be read (/proc/self/mem: EIO)
            return Outcome.refused(batch_id, [{"code": "not_zip", "file": path.name,
                                        "message": f"{path}: cannot be read ({exc.strerror or exc})"}])
        if inbox.marker_of(path).is_file():
            shutil.copy2(inbox.marker_of(path), inbox.marker_of(copy))
        try:
            return process_package(copy, dsn=dsn, settings=s, sha256=sha)
        except BatchBusy as exc:
            # Another loader has the batch in hand right now: it is that delivery's batch, so
            # this one is not loaded again (nothing was recorded; the other's outcome will be).
            errors = [{"code": "duplicate_batch", "file": path.name, "message":
                       f"{exc}; not loaded again (retry once it has finished if it fails)"}]
            return Outcome.refused(batch_id, errors, status="busy", reason=errors[0]["message"])
    finally:
        shutil.rmtree(work, ignore_errors=True)  # our own scratch copy; the package was moved on
