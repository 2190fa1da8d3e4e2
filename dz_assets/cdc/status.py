"""What the incremental channels are doing: queue depth, pending changes and their age (lag),
per-table apply state, poison, and the local reconciliation of change logs against ODS."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, NamedTuple

import pika
import psycopg
from psycopg import sql

from dz_assets.catalog import load_catalogue
from dz_assets.cdc.topology import Topology, queue_depth
from dz_assets.db.named_sql import NamedSql
from dz_assets.ods.apply import apply_changes
from dz_assets.ods.changelog import key_ident, log_rel
from dz_assets.ods.ddl import ods_rel
from dz_assets.settings import Settings, get_settings

query = NamedSql(__file__)


@dataclass(frozen=True)
class BrokerDepth:
    """Messages waiting in dz-hub's queue and its dead-letter queue (None: not known, ``error`` says why)."""

    queue: str
    ready: int | None = None
    dead_lettered: int | None = None
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"queue": self.queue, "ready": self.ready, "dead_lettered": self.dead_lettered}
        if self.error is not None:
            out["error"] = self.error
        return out


def broker_depth(settings: Settings | None = None) -> BrokerDepth:
    """Messages waiting in dz-hub's queue and its dead-letter queue (None when unreachable)."""
    s = settings or get_settings()
    topo = Topology.from_settings(s)
    try:
        conn = pika.BlockingConnection(pika.URLParameters(s.amqp_url))
    except Exception as exc:
        return BrokerDepth(topo.queue, error=type(exc).__name__)
    try:
        ready, dead = queue_depth(conn.channel(), topo)
        return BrokerDepth(topo.queue, ready, dead)
    except Exception as exc:  # not declared yet
        return BrokerDepth(topo.queue, error=f"{type(exc).__name__}: {exc}")
    finally:
        if conn.is_open:
            conn.close()


def _log_tables(conn: psycopg.Connection) -> list[str]:
    by_log = {f"{t.ods_name}__changes": t.code for t in load_catalogue().tables.values()}
    return [by_log[name] for name, _ in conn.execute(query("status", "logs")).fetchall() if name in by_log]


class Pending(NamedTuple):
    """A change log's unapplied changes and the age of the oldest (seconds)."""

    pending: int
    oldest_received_at: datetime | None
    oldest_age_s: float


def pending(conn: psycopg.Connection) -> dict[str, Pending]:
    """Per change log: unapplied changes and the age of the oldest (seconds)."""
    cat = load_catalogue()
    out = {}
    for code in _log_tables(conn):
        n, oldest, age = conn.execute(query("status", "pending", log=log_rel(cat.tables[code])),
                                      {"table": code}).fetchone()
        out[code] = Pending(n, oldest, float(age) if age else 0.0)
    return out


@dataclass(frozen=True)
class LocalRecon:
    """Change log vs ODS for one table: keys whose newest applied change ODS shows, and the others."""

    table: str
    keys: int
    matching: int
    rebased: int
    missing: int
    behind: int
    wrong_delete: int

    @property
    def ok(self) -> bool:
        return self.missing == 0 and self.behind == 0 and self.wrong_delete == 0

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def local_recon(conn: psycopg.Connection, table_code: str) -> LocalRecon:
    """Change log vs ODS for one table: every key's newest applied change is what ODS shows."""
    t = load_catalogue().tables[table_code]
    q = query("status", "local_recon", log=log_rel(t), ods=ods_rel(t),
              key=key_ident(t), k1=sql.Identifier(t.key[0].lower()))
    keys, matching, rebased, missing, behind, wrong = conn.execute(q, {"table": table_code}).fetchone()
    return LocalRecon(table_code, keys, matching, rebased, missing, behind, wrong)


def local_recon_all(conn: psycopg.Connection) -> list[LocalRecon]:
    return [local_recon(conn, code) for code in _log_tables(conn)]


@dataclass
class CdcStatus:
    """What ``dzhub cdc status`` reports (``as_json``) and the stream's sensor and checks read."""

    tables: dict[str, dict[str, Any]]  # per table: its apply state row and its log's pending figures
    pending: int
    lag_s: float | None
    max_lag_s: float
    lag_ok: bool
    poison: dict[str, dict[str, Any]]
    both_channels: list[str]
    broker: BrokerDepth | None  # None: not asked

    @property
    def queue_ready(self) -> int | None:
        return self.broker.ready if self.broker else None

    @property
    def dead_lettered(self) -> int | None:
        return self.broker.dead_lettered if self.broker else None

    def as_json(self) -> dict[str, Any]:
        out = {"tables": self.tables, "pending": self.pending, "lag_s": self.lag_s, "max_lag_s": self.max_lag_s,
               "lag_ok": self.lag_ok, "poison": self.poison, "both_channels": self.both_channels}
        if self.broker is not None:
            out["broker"] = self.broker.as_json()
        return out


def status(conn: psycopg.Connection, *, settings: Settings | None = None, broker: bool = True) -> CdcStatus:
    """Lag is the age of the oldest logged change not applied, or, while messages wait in the
    queue, the time since the consumer last applied anything (a dead consumer shows here)."""
    s = settings or get_settings()
    cols = ("table", "base_seq", "base_batch_id", "watermark_seq", "last_applied_at", "last_change_ts",
            "applied", "ignored", "deleted", "channels", "since_applied_s")
    tables = {r[0]: dict(zip(cols, r, strict=True)) for r in conn.execute(query("status", "state")).fetchall()}
    pend = pending(conn)
    for code, p in pend.items():
        tables.setdefault(code, {"table": code}).update(p._asdict())
    lag: float | None = max((p.oldest_age_s for p in pend.values()), default=0.0)
    depth = broker_depth(s) if broker else None
    if depth is not None and depth.ready:
        since = [float(t["since_applied_s"]) for t in tables.values() if t.get("since_applied_s") is not None]
        lag = max(lag, min(since)) if since else None  # waiting and never applied: unknown, not OK
    topo = Topology.from_settings(s)
    poison = {r[0]: {"count": r[1], "last": r[2]}
              for r in conn.execute(query("status", "poison"), {"queue": topo.queue}).fetchall()}
    return CdcStatus(tables=tables, pending=sum(p.pending for p in pend.values()),
                     lag_s=round(lag, 3) if lag is not None else None, max_lag_s=s.cdc_max_lag_s,
                     lag_ok=lag is not None and lag <= s.cdc_max_lag_s, poison=poison,
                     both_channels=sorted(c for c, t in tables.items() if len(t.get("channels") or []) > 1),
                     broker=depth)


def catch_up(conn: psycopg.Connection) -> dict[str, dict[str, int]]:
    """Apply whatever is logged but unapplied (a consumer that died between log and apply cannot
    leave any, since both share a transaction; a re-base or an INCR interrupted can)."""
    cat = load_catalogue()
    out = {}
    for code, p in pending(conn).items():
        if p.pending:
            with conn.transaction():
                r = apply_changes(conn, cat.tables[code])
            out[code] = {"applied": r.applied, "deleted": r.deleted, "ignored": r.ignored + r.ignored_base}
    return out
