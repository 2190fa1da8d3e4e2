"""The batch registry: one ``meta.batch`` row per delivery of a provincial package.

It knows the spec's delivery rules (package-format.md, "Delivery"): a batch id that was loaded
is a ``duplicate_batch`` when delivered again (a failed or quarantined one may come again); the
batches of one source apply in BATCH_ID order, so a FULL/INCR older than the newest applied one
is ``stale``; an INCR whose ``prev`` is not applied yet is ``waiting`` (alerted after
``DZ_INCR_WAIT_ALERT_S``). Status changes carry their times and counts; the registry never
touches packages on disk (``inbox.py``) or ODS tables (the loader).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

import psycopg

from dz_assets.db.named_sql import NamedSql
from dz_assets.ops.alerts import raise_alert
from dz_assets.province.reader.index import BATCH_ID_RE

query = NamedSql(__file__)

# Statuses under which a batch id counts as delivered for good: a new delivery is a duplicate.
TAKEN = ("loaded", "pending_apply", "applied", "waiting")


@dataclass(frozen=True)
class BatchName:
    """What a package's file name says: ``<SOURCE>-<KIND>-<YYYYMMDD>-<NNNN>``."""

    batch_id: str
    source: str
    kind: str
    day: date
    no: int

    @classmethod
    def parse(cls, batch_id: str) -> BatchName | None:
        m = BATCH_ID_RE.match(batch_id)
        if not m:
            return None
        try:
            day = date(int(m["date"][:4]), int(m["date"][4:6]), int(m["date"][6:]))
        except ValueError:
            return None
        return cls(batch_id, m["source"], m["kind"], day, int(m["no"]))

    @property
    def order(self) -> tuple[date, int]:
        return (self.day, self.no)


@dataclass(frozen=True)
class OrderVerdict:
    status: str  # "ok" | "stale" | "waiting"
    reason: str | None = None


class BatchRegistry:
    """Registry operations on one connection; each call commits its own change."""

    def __init__(self, conn: psycopg.Connection):
        self.conn = conn

    def _run(self, name: str, params: dict[str, Any]) -> list[tuple]:
        with self.conn.transaction():
            cur = self.conn.execute(query("registry", name), params)
            return cur.fetchall() if cur.description else []

    def register(self, name: BatchName, *, file_name: str, size: int, sha256: str) -> int:
        """Record a delivery (status ``received``); the open row of the same bytes is reused."""
        rows = self._run("register", {
            "batch_id": name.batch_id, "source": name.source, "kind": name.kind,
            "batch_date": name.day, "batch_no": name.no, "file_name": file_name,
            "size_bytes": size, "sha256": sha256})
        return rows[0][0]

    def taken_by(self, batch_id: str) -> tuple[int, str, str, str | None] | None:
        """(delivery_id, status, sha256, backup_path) of the delivery holding ``batch_id``, if any."""
        rows = self._run("taken", {"batch_id": batch_id})
        return rows[0] if rows else None

    def update(self, delivery_id: int, *, _finished: bool = False, **cols: Any) -> None:
        """Set columns of a delivery (jsonb columns given as Python lists are serialised)."""
        for k in ("errors", "drift"):
            if k in cols and not isinstance(cols[k], str):
                cols[k] = json.dumps(cols[k], ensure_ascii=False, default=str)
        sets = [psycopg.sql.SQL("{} = {}").format(psycopg.sql.Identifier(k), psycopg.sql.Placeholder(k))
                for k in cols]
        if _finished:
            sets.append(psycopg.sql.SQL("finished_at = now()"))
        with self.conn.transaction():
            self.conn.execute(psycopg.sql.SQL("update meta.batch set {} where delivery_id = {}").format(
                psycopg.sql.SQL(", ").join(sets), psycopg.sql.Literal(delivery_id)), cols)

    def finish(self, delivery_id: int, status: str, **cols: Any) -> None:
        """A terminal (or parked) status, stamped with its finishing time in the same statement."""
        self.update(delivery_id, _finished=True, status=status, **cols)

    def start_loading(self, delivery_id: int, batch_id: str) -> list[int]:
        """Mark the delivery ``loading``; deliveries of the batch left ``loading`` by a dead loader
        are failed first (the caller holds the batch lock). Returns the ids it superseded."""
        gone = [r[0] for r in self._run("abandon_interrupted", {"batch_id": batch_id, "by": delivery_id})]
        with self.conn.transaction():
            self.conn.execute("update meta.batch set status = 'loading', started_at = now(), "
                              "reason = null where delivery_id = %s", (delivery_id,))
        return gone

    def swapped_interrupted(self, *, source: str | None = None,
                            batch_id: str | None = None) -> list[tuple[int, str, str, int | None, list[str]]]:
        """(delivery_id, batch_id, source, seq, table codes) of FULL deliveries whose loader died after
        their swap committed (status still ``loading``), oldest batch first."""
        return [tuple(r) for r in self._run("swapped_interrupted", {"source": source, "batch_id": batch_id})]

    def mark_recovered(self, delivery_id: int, reason: str) -> None:
        """``loaded``, with the figures the swap recorded per file."""
        self._run("mark_recovered", {"delivery_id": delivery_id, "reason": reason})

    def order_verdict(self, name: BatchName, prev: str | None) -> OrderVerdict:
        """Where the batch stands in its source's order (RECON figures are never stale)."""
        if name.kind == "RECON":
            return OrderVerdict("ok")
        newest = self._run("newest_applied", {"source": name.source, "batch_id": name.batch_id})
        if newest and (newest[0][1], newest[0][2]) > name.order:
            return OrderVerdict("stale", f"older than {newest[0][0]}, already applied for source "
                                         f"{name.source}")
        if name.kind == "INCR" and prev:
            done = self.conn.execute(
                "select 1 from meta.batch where batch_id = %s and status in ('loaded', 'applied')",
                (prev,)).fetchone()
            self.conn.commit()
            if not done:
                return OrderVerdict("waiting", f"waits for its prev batch {prev} to be applied")
        return OrderVerdict("ok")

    def release_waiting(self, source: str) -> list[tuple[int, str]]:
        """INCR batches whose prev got applied move on to ``pending_apply``."""
        return [tuple(r) for r in self._run("release_waiting", {"source": source})]

    def pending_incr(self, source: str | None = None) -> list[tuple[int, str, str, str | None]]:
        """(delivery_id, batch_id, source, backup_path) of INCR batches ``pending_apply``, in order."""
        return [tuple(r) for r in self._run("pending_incr", {"source": source})]

    def alert_overdue_waits(self, threshold_s: float) -> list[str]:
        """Alert (once each) on INCR batches waiting longer than ``threshold_s``; their ids."""
        out = []
        with self.conn.transaction():
            for _, batch_id, source, prev, received in self.conn.execute(
                    query("registry", "overdue_waits"), {"threshold_s": threshold_s}).fetchall():
                raise_alert(self.conn, severity="warning", source="province", code="incr_waiting",
                            subject=batch_id, message=f"INCR batch {batch_id} of {source} has waited "
                            f"since {received:%Y-%m-%d %H:%M} for its prev batch {prev}",
                            details={"prev": prev, "threshold_s": threshold_s})
                out.append(batch_id)
        return out

    def get(self, delivery_id: int) -> dict[str, Any]:
        with self.conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
            row = cur.execute("select * from meta.batch where delivery_id = %s", (delivery_id,)).fetchone()
        self.conn.commit()
        return row
