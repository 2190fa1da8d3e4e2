"""Retention: remove what is older than its kind's retention, never what a later step needs.

Each kind has its setting in days (``DZ_RETAIN_*_DAYS``; 0, the default, keeps everything) and
its own rule for what stays whatever its age:

- ``backup`` (``DZ_BACKUP_DIR``): age from the delivery's finish. Kept: a batch not finished
  (``waiting``/``pending_apply``: the apply step reads the INCR from its backup), and each
  source's restore chain, its newest loaded FULL and every FULL/INCR applied after it (the
  source's current state is rebuilt from them; a source with no loaded FULL keeps all). Files
  no delivery names are not touched.
- ``quarantine`` (``DZ_QUARANTINE_DIR``): age from ``quarantined_at`` in the ``.reason.json``
  beside each package. Kept while its batch is unresolved: no delivery of that batch id loaded
  or applied and an alert about it still open. A package without its reason file is not touched.
- ``rejects`` (``DZ_REJECT_DIR``): ``*.rejects.csv`` by age. Nothing reads them: they are
  written from ``meta.reject``, which stays (``dzhub rejects BATCH --csv`` writes them again).
- ``objects`` (``DZ_OBJECT_STORE``): age from ``meta.object.stored_at``. Kept while a live ODS
  row (same key, not deleted) references it in ``meta.object_ref``. Removed with its metadata,
  under the FULL-load slot so that no load links a row to it meanwhile.
- ``outbox`` (``DZ_OUTBOX``): complete entries (not ``*.part``, still being written) by age.
  Kept: the repair request of each table's latest reconciliation.
- ``records`` (rows in ``meta``, no folder): rejected rows and quality flags of finished
  deliveries, poison messages, declared sources' rejected records, resolved alerts, expired silences, reconciliations (each table's
  latest stays) and purge records, by age. Never the audit log (append-only by design), the
  batch registry, or anything a restore or a status page reads.

Removed files are only ever under their kind's folder. Each run is recorded per kind in
``meta.purge_run`` (files, bytes, kept, error); a kind that fails raises ``purge_failed``, which
a later run that succeeds for that kind resolves.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg import sql

from dz_assets.catalog import load_catalogue
from dz_assets.db.named_sql import NamedSql
from dz_assets.ods.ddl import ods_rel
from dz_assets.ops.alerts import raise_alert, resolve_alerts
from dz_assets.province.delivery.pipeline import full_load_slot
from dz_assets.security.audit import audit_in
from dz_assets.settings import Settings, get_settings

log = logging.getLogger(__name__)
query = NamedSql(__file__)

KINDS = ("backup", "quarantine", "rejects", "objects", "outbox", "records")
# Tables the records kind trims, in an order that respects their references.
RECORD_TABLES = ("reject", "batch_flag", "cdc_poison", "source_reject", "alert", "alert_silence", "recon_run",
                 "purge_run")
REASON_SUFFIX = ".reason.json"
MARKER_SUFFIX = ".ok"


@dataclass(frozen=True)
class Removed:
    path: Path
    bytes: int


@dataclass(frozen=True)
class Kept:
    path: Path
    why: str


@dataclass
class KindPurge:
    kind: str
    retain_days: int
    folder: Path | None  # None: the records kind, rows in the warehouse
    removed: list[Removed] = field(default_factory=list)
    kept: list[Kept] = field(default_factory=list)  # old enough, but needed
    error: str | None = None
    rows: dict[str, int] = field(default_factory=dict)  # records kind: rows removed per meta table

    @property
    def files(self) -> int:
        return len(self.removed)

    @property
    def bytes(self) -> int:
        return sum(r.bytes for r in self.removed)


@dataclass
class Purge:
    purge_id: int
    dry_run: bool
    kinds: list[KindPurge]

    @property
    def ok(self) -> bool:
        return all(k.error is None for k in self.kinds)


def _retention(s: Settings) -> dict[str, tuple[int, Path]]:
    return {"backup": (s.retain_backup_days, s.backup_dir), "quarantine": (s.retain_quarantine_days, s.quarantine_dir),
            "rejects": (s.retain_rejects_days, s.reject_dir), "objects": (s.retain_objects_days, s.object_store),
            "outbox": (s.retain_outbox_days, s.outbox), "records": (s.retain_records_days, None)}


def _inside(path: Path, folder: Path) -> bool:
    return path.resolve().is_relative_to(folder.resolve())


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


class _Remover:
    """Removes (or, in a dry run, only counts) files of one kind, never outside its folder."""

    def __init__(self, result: KindPurge, dry_run: bool) -> None:
        self.result, self.dry_run = result, dry_run

    def remove(self, *paths: Path) -> None:
        for p in paths:
            if not p.is_file() or p.is_symlink() or not _inside(p, self.result.folder):
                continue
            size = _size(p)
            if not self.dry_run:
                p.unlink()
            self.result.removed.append(Removed(p, size))

    def keep(self, path: Path, why: str) -> None:
        self.result.kept.append(Kept(path, why))


def _purge_backups(conn: psycopg.Connection, r: _Remover, cutoff: datetime) -> None:
    why = {"open": "batch not finished: its apply reads this backup",
           "chain": "restore chain of its source (newest loaded FULL and what applied after it)"}
    for path, at, needed in conn.execute(query("retention", "backups")).fetchall():
        if at >= cutoff:
            continue
        zip_path = Path(path)
        if needed:
            r.keep(zip_path, why[needed])
        else:
            r.remove(zip_path, zip_path.with_name(zip_path.name + MARKER_SUFFIX))


def _quarantined(folder: Path) -> Iterator[tuple[Path, Path, str, datetime]]:
    """(zip, reason file, subject, quarantined_at) of each package set aside with its reason."""
    if not folder.is_dir():
        return
    for reason in sorted(folder.glob("*" + REASON_SUFFIX)):
        try:
            body = json.loads(reason.read_text(encoding="utf-8"))
            at = datetime.fromisoformat(body["quarantined_at"])
        except (OSError, ValueError, KeyError, TypeError):
            log.warning("purge: %s unreadable; its package is kept", reason)
            continue
        zip_path = reason.with_name(reason.name.removesuffix(REASON_SUFFIX))
        subject = body.get("batch_id") or Path(body.get("from") or zip_path.name).name
        yield zip_path, reason, subject, at if at.tzinfo else at.replace(tzinfo=UTC)


def _purge_quarantine(conn: psycopg.Connection, r: _Remover, cutoff: datetime) -> None:
    old = [q for q in _quarantined(r.result.folder) if q[3] < cutoff]
    resolved = dict(conn.execute(query("retention", "quarantine_subjects"),
                                 {"subjects": sorted({q[2] for q in old})}).fetchall()) if old else {}
    for zip_path, reason, subject, _ in old:
        if not resolved.get(subject):
            r.keep(zip_path, f"batch {subject} unresolved: not loaded since, and its alert is open")
        else:
            r.remove(zip_path, zip_path.with_name(zip_path.name + MARKER_SUFFIX), reason)


def _older_files(folder: Path, pattern: str, cutoff: datetime) -> list[Path]:
    if not folder.is_dir():
        return []
    limit = cutoff.timestamp()
    return sorted(p for p in folder.glob(pattern)
                  if p.is_file() and not p.name.endswith(".part") and p.stat().st_mtime < limit)


def _purge_rejects(conn: psycopg.Connection, r: _Remover, cutoff: datetime) -> None:
    for p in _older_files(r.result.folder, "*.rejects.csv", cutoff):
        r.remove(p)


def _purge_outbox(conn: psycopg.Connection, r: _Remover, cutoff: datetime) -> None:
    latest = {Path(p).resolve() for (p,) in conn.execute(query("retention", "latest_repairs"))}
    for p in _older_files(r.result.folder, "*", cutoff):
        if p.resolve() in latest:
            r.keep(p, "repair request of a table's latest reconciliation")
        else:
            r.remove(p)


def _live_objects(conn: psycopg.Connection, candidates: list[tuple]) -> set[str]:
    """The candidates a live ODS row still references (a table without ODS: all its refs live)."""
    cat = load_catalogue()
    by_table: dict[str, list[str]] = {}
    for sha, _, _, tables in candidates:
        for t in tables:
            by_table.setdefault(t, []).append(sha)
    live: set[str] = set()
    for code, shas in by_table.items():
        table = cat.tables.get(code)
        exists = table is not None and conn.execute("select to_regclass(%s)", (f"ods.{table.ods_name}",)).fetchone()[0]
        if not exists:
            live.update(shas)
            continue
        key = sql.SQL(", ").join(sql.SQL("o.{}").format(sql.Identifier(k.lower())) for k in table.key)
        q = query("retention", "live_refs", ods=ods_rel(table), key=key)
        live.update(r[0] for r in conn.execute(q, {"table": code, "shas": shas}))
    return live


def _purge_objects(conn: psycopg.Connection, r: _Remover, cutoff: datetime) -> None:
    with full_load_slot(conn):
        candidates = conn.execute(query("retention", "object_candidates"), {"cutoff": cutoff}).fetchall()
        live = _live_objects(conn, candidates)
        for sha, _size_b, store_path, _tables in candidates:
            path = Path(store_path)
            if sha in live:
                r.keep(path, "referenced by a live ODS row")
                continue
            if r.dry_run:
                r.remove(path)
                continue
            # Metadata and file go together: a file that cannot be removed rolls its rows back.
            with conn.transaction():
                conn.execute(query("retention", "forget_refs"), {"sha": sha})
                conn.execute(query("retention", "forget_object"), {"sha": sha})
                r.remove(path)
            for parent in (path.parent, path.parent.parent):  # the ab/cd fan-out folders, once empty
                if _inside(parent, r.result.folder) and parent.is_dir() and not any(parent.iterdir()):
                    parent.rmdir()


class _Rollback(Exception):
    """Ends a dry run's transaction: its deletes counted, none kept."""


def _purge_records(conn: psycopg.Connection, r: _Remover, cutoff: datetime, purge_id: int) -> None:
    # One transaction for all tables: a failure leaves every table as it was. A dry run runs the
    # same deletes and rolls them back, so its counts are the real run's.
    rows: dict[str, int] = {}
    try:
        with conn.transaction():
            for table in RECORD_TABLES:
                cur = conn.execute(query("retention", f"records_{table}"), {"cutoff": cutoff, "purge_id": purge_id})
                rows[f"meta.{table}"] = cur.rowcount
            if r.dry_run:
                raise _Rollback
    except _Rollback:
        pass
    r.result.rows = rows


_PURGERS: dict[str, Callable[[psycopg.Connection, _Remover, datetime], None]] = {
    "backup": _purge_backups, "quarantine": _purge_quarantine, "rejects": _purge_rejects,
    "objects": _purge_objects, "outbox": _purge_outbox}


def purge(conn: psycopg.Connection, *, dry_run: bool = False, settings: Settings | None = None,
          now: datetime | None = None) -> Purge:
    """Apply every kind's retention (``conn`` in autocommit mode: each record commits as it
    goes). A kind that fails is recorded and alerted; the others go on."""
    s = settings or get_settings()
    now = now or datetime.now(UTC)
    purge_id = conn.execute(query("retention", "next_purge")).fetchone()[0]
    out = Purge(purge_id, dry_run, [])
    for kind, (days, folder) in _retention(s).items():
        if days <= 0:
            continue
        result = KindPurge(kind, days, folder)
        started = datetime.now(UTC)
        try:
            if kind == "records":
                _purge_records(conn, _Remover(result, dry_run), now - timedelta(days=days), purge_id)
            else:
                _PURGERS[kind](conn, _Remover(result, dry_run), now - timedelta(days=days))
        except Exception as exc:  # recorded and alerted; the other kinds still run
            log.exception("purge of %s failed", kind)
            result.error = f"{type(exc).__name__}: {exc}"[:2000]
        out.kinds.append(result)
        conn.execute(query("retention", "record"), {
            "purge_id": purge_id, "kind": kind, "started_at": started, "dry_run": dry_run, "retain_days": days,
            "files": result.files, "bytes": result.bytes, "kept": len(result.kept), "error": result.error,
            "rows": sum(result.rows.values())})
        if result.error:
            raise_alert(conn, severity="error", source="ops", code="purge_failed", subject=kind,
                        message=f"保留期清理失败（{kind}，{f'目录 {folder}' if folder else '库内记录'}）：{result.error}",
                        details={"purge_id": purge_id, "removed": result.files, "bytes": result.bytes})
        elif not dry_run:
            resolve_alerts(conn, "purge_failed", kind)
    if not dry_run and out.kinds:
        # Removing backups and quarantined packages deletes personal data: who did it, and what.
        audit_in(conn, "purge", f"purge_run {purge_id}", kinds={
            k.kind: {"files": k.files, "bytes": k.bytes, "rows": k.rows, "retain_days": k.retain_days, "error": k.error}
            for k in out.kinds})
    return out
