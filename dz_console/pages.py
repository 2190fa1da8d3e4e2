"""What each console page reads, as the signed-in login: typed rows from ``pages.sql``.

Lists are paged by keyset (an id or time below/above the last row shown) with a fixed page size,
and counts come from the registry's own figures (``meta.batch.rows_rejected``), never from a
count over a million rejects per page view.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.rows import class_row

from dz_assets.db.named_sql import NamedSql
from dz_assets.sources.status import source_list

query = NamedSql(__file__)
T = TypeVar("T")
PAGE = 50


def rows(conn: psycopg.Connection, name: str, cls: type[T], params: dict[str, Any] | None = None,
         **parts: sql.Composable) -> list[T]:
    with conn.cursor(row_factory=class_row(cls)) as cur:
        return cur.execute(query("pages", name, **parts), params or {}).fetchall()


@dataclass(frozen=True)
class Count:
    status: str
    n: int


@dataclass(frozen=True)
class DayCount:
    day: date
    deliveries: int


@dataclass(frozen=True)
class BatchRow:
    delivery_id: int
    batch_id: str
    source: str
    kind: str
    status: str
    received_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_s: float | None
    size_bytes: int
    rows_total: int
    rows_loaded: int
    rows_rejected: int
    rows_duplicate: int
    rows_flagged: int
    objects: int
    reason: str | None


@dataclass(frozen=True)
class Batch:
    delivery_id: int
    batch_id: str
    source: str
    kind: str
    status: str
    batch_date: date
    file_name: str
    size_bytes: int
    sha256: str
    created: datetime | None
    seq: int | None
    prev: str | None
    received_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_s: float | None
    reason: str | None
    rows_total: int
    rows_loaded: int
    rows_rejected: int
    rows_duplicate: int
    rows_flagged: int
    objects: int
    backup_path: str | None
    quarantine_path: str | None
    errors: Any
    drift: Any


@dataclass(frozen=True)
class BatchFile:
    table_code: str
    file_name: str
    records: int
    bytes: int
    rows_loaded: int
    rows_rejected: int
    rows_duplicate: int
    rows_flagged: int
    duration_s: float | None


@dataclass(frozen=True)
class Flag:
    table_code: str
    field: str
    flag: str
    rows: int
    sample_file: str | None
    sample_line: int | None


@dataclass(frozen=True)
class Reject:
    reject_id: int
    table_code: str | None
    file_name: str
    line: int
    field: str | None
    reason: str


@dataclass(frozen=True)
class Daily:
    day: date
    source: str
    kind: str
    deliveries: int
    loaded: int
    quarantined: int
    failed: int
    duplicate: int
    waiting: int
    in_progress: int
    rows_total: int
    rows_loaded: int
    rows_rejected: int
    rows_duplicate: int
    rows_flagged: int
    objects: int
    rows_unreconciled: int
    avg_duration_s: float | None
    last_finished_at: datetime | None


@dataclass(frozen=True)
class OpenAlert:
    alert_id: int
    code: str
    severity: str
    subject: str | None
    message: str
    raised_at: datetime
    last_seen: datetime
    count: int


@dataclass(frozen=True)
class TableState:
    table_code: str
    base_seq: int | None
    base_batch_id: str | None
    watermark_seq: int | None
    last_applied_at: datetime | None
    last_change_ts: datetime | None
    applied: int
    ignored: int
    deleted: int
    channels: list[str]
    behind_s: float | None


@dataclass(frozen=True)
class Hourly:
    hour: datetime
    table_code: str
    changes: int
    applied: int
    lag_avg_s: float | None
    lag_max_s: float | None


@dataclass(frozen=True)
class Poison:
    poison_id: int
    received_at: datetime
    queue: str | None
    routing_key: str | None
    msg_id: str | None
    table_code: str | None
    reason_code: str
    reason: str


@dataclass(frozen=True)
class ReconRun:
    recon_id: int
    batch_id: str
    table_code: str
    as_of: datetime
    rows_province: int
    rows_local: int
    buckets_differing: int
    buckets_in_flight: int
    keys_differing: int
    keys_in_flight: int
    repair_path: str | None
    ran_at: datetime


@dataclass(frozen=True)
class ReconBucket:
    bucket: int
    province_rows: int
    local_rows: int
    in_flight: bool


@dataclass(frozen=True)
class ReconKey:
    bucket: int
    pk_text: str
    state: str
    local: str


@dataclass(frozen=True)
class StationCount:
    gajgjgdm: str
    model_code: str
    n: int


@dataclass(frozen=True)
class Finding:
    finding_id: str
    model_code: str
    model_name: str | None
    rule_version: str | None
    as_of: date
    subject_gmsfhm: str | None
    subject_xm: str | None
    subject_dzbm: str | None
    xzqhdm: str | None
    gajgjgdm: str | None
    evidence: str | None
    first_seen: date | None
    last_seen: date | None
    verdict: str | None
    reviewer: str | None
    reviewed_at: datetime | None


@dataclass(frozen=True)
class AddressCount:
    day: date
    xzqhdm: str | None
    action: str
    n: int


@dataclass(frozen=True)
class QrBatch:
    id: int
    kind: str
    day: date
    count: int
    sha256: str | None
    path: str | None
    generated_at: datetime | None
    provisional: bool | None
    verified: bool | None


@dataclass(frozen=True)
class SourceReject:
    source: str
    position: str | None
    field: str | None
    reason: str | None
    record: str | None
    run_id: str | None
    rejected_at: datetime


@dataclass(frozen=True)
class AuditEntry:
    audit_id: int
    at: datetime
    db_user: str
    os_user: str | None
    client_addr: str | None
    action: str
    object: str | None
    details: str


def batch_status(conn):
    return rows(conn, "batch_status", Count)


def batch_daily(conn):
    return rows(conn, "batch_daily", DayCount)


def batches(conn, *, before=None, q=None, source=None, status=None, kind=None, limit=PAGE):
    return rows(conn, "batches", BatchRow, {"before": before, "q": q, "source": source, "status": status,
                                            "kind": kind, "limit": limit})


def batch(conn, delivery_id: int) -> Batch | None:
    found = rows(conn, "batch", Batch, {"delivery_id": delivery_id})
    return found[0] if found else None


def batch_files(conn, delivery_id: int):
    return rows(conn, "batch_files", BatchFile, {"delivery_id": delivery_id})


def batch_flags(conn, delivery_id: int):
    return rows(conn, "batch_flags", Flag, {"delivery_id": delivery_id})


def rejects(conn, delivery_id: int, after: int = 0, limit: int = PAGE):
    return rows(conn, "rejects", Reject, {"delivery_id": delivery_id, "after": after, "limit": limit})


def monitoring(conn, days: int = 30):
    return rows(conn, "monitoring", Daily, {"days": days})


def interrupted(conn):
    return rows(conn, "interrupted", OpenAlert)


def cdc_state(conn):
    return rows(conn, "cdc_state", TableState)


def cdc_hourly(conn, hours: int = 24):
    return rows(conn, "cdc_hourly", Hourly, {"hours": hours})


def poison(conn, before=None, limit=PAGE):
    return rows(conn, "poison", Poison, {"before": before, "limit": limit})


def recon_runs(conn, before=None, limit=PAGE):
    return rows(conn, "recon_runs", ReconRun, {"before": before, "limit": limit})


def recon_buckets(conn, recon_id: int):
    return rows(conn, "recon_buckets", ReconBucket, {"recon_id": recon_id})


def recon_keys(conn, recon_id: int):
    return rows(conn, "recon_keys", ReconKey, {"recon_id": recon_id})


def finding_days(conn) -> list[date]:
    return [d for (d,) in conn.execute(query("pages", "finding_days")).fetchall()]


def findings_per_station(conn, as_of: date):
    return rows(conn, "findings_per_station", StationCount, {"as_of": as_of})


def findings(conn, as_of: date, *, after: str = "", station=None, model=None, limit=PAGE):
    ids = [i for (i,) in conn.execute(query("pages", "finding_page"), {"as_of": as_of, "after": after,
                                                                     "station": station, "model": model,
                                                                     "limit": limit})]
    return rows(conn, "findings", Finding, {"as_of": as_of, "ids": ids}) if ids else []


def finding_visible(conn, finding_id: str) -> tuple[str, str | None] | None:
    return conn.execute(query("pages", "finding_visible"), {"finding_id": finding_id}).fetchone()


def address_changes(conn, days: int = 30):
    return rows(conn, "address_changes", AddressCount, {"days": days})


def qr_batches(conn):
    return rows(conn, "qr_batches", QrBatch)


def qr_batch_path(conn, batch_id: int) -> str | None:
    row = conn.execute(query("pages", "qr_batch_path"), {"id": batch_id}).fetchone()
    return row[0] if row else None


def sources(conn):
    """The declared sources with their status, as `dzhub sources list` gives them."""
    return source_list(conn)


def source_rejects(conn, *, source=None, before=None, limit=PAGE):
    return rows(conn, "source_rejects", SourceReject, {"source": source, "before": before, "limit": limit})


def audit(conn, *, before=None, action=None, who=None, limit=PAGE):
    return rows(conn, "audit", AuditEntry, {"before": before, "action": action, "who": who, "limit": limit})


def rejects_csv_query(raw: bool) -> sql.Composed:
    """The CSV's statement: the raw line for a login granted it, else an empty column."""
    return query("pages", "rejects_csv", raw=sql.SQL("raw_line" if raw else "null::bytea as raw_line"))
