"""What ``dzhub sources list`` and the console show: each configured source with its status."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg

from dz_assets.db import connect
from dz_assets.db.named_sql import NamedSql
from dz_assets.sources.config import load_sources

query = NamedSql(__file__)


@dataclass(frozen=True)
class SourceListing:
    id: str
    name: str
    category: str
    owner: str
    kind: str
    enabled: bool
    schedule: str | None
    file: str
    last_run_at: datetime | None
    last_success_at: datetime | None
    rows_read: int | None
    rows_loaded: int | None
    rows_rejected: int | None
    last_error: str | None
    duration_s: float | None

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "category": self.category, "owner": self.owner,
                "kind": self.kind, "enabled": self.enabled, "schedule": self.schedule, "file": self.file,
                "last_run": _iso(self.last_run_at), "last_success": _iso(self.last_success_at),
                "read": self.rows_read, "loaded": self.rows_loaded, "rows": self.rows_loaded,
                "rejected": self.rows_rejected, "rejects": self.rows_rejected, "last_error": self.last_error,
                "duration_s": self.duration_s}


def _iso(v: datetime | None) -> str | None:
    return v.isoformat() if v else None


def source_list(conn: psycopg.Connection | None = None) -> list[SourceListing]:
    """Every declared source (the YAML files) with its status; ``conn``: read as that connection's
    role (the console's signed-in login), else a connection of its own."""
    loaded = load_sources(check_env=False)
    if conn is None:
        with connect() as own:
            return source_list(own)
    status = {r[0]: r[1:] for r in conn.execute(query("status", "status"))}
    out = []
    for s in loaded.sources:
        st = status.get(s.id, (None,) * 7)
        out.append(SourceListing(s.id, s.name, s.category, s.owner, s.kind, s.enabled, s.schedule, str(s.file),
                                 *st))
    return out


@dataclass(frozen=True)
class SourceReject:
    position: str | None
    field: str | None
    reason: str
    record: Any
    run_id: str
    rejected_at: datetime


def source_rejects(source_id: str, run_id: str | None = None) -> list[SourceReject]:
    with connect() as conn:
        return [SourceReject(*r) for r in conn.execute(query("status", "rejects"),
                                                         {"source": source_id, "run_id": run_id})]
