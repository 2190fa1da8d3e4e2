"""What the incremental channels are doing: queue depth, pending changes and their age (lag),
per-table apply state, poison, and the local reconciliation of change logs against ODS."""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from dz_assets.catalog import load_catalogue
from dz_assets.cdc.topology import Topology, queue_depth
from dz_assets.db.named_sql import NamedSql
from dz_assets.ods.changelog import key_ident, log_rel
from dz_assets.ods.ddl import ods_rel
from dz_assets.settings import Settings, get_settings

query = NamedSql(__file__)


def broker_depth(settings: Settings | None = None) -> dict[str, Any]:
    """Messages waiting in dz-hub's queue and its dead-letter queue (None when unreachable)."""
    import pika

    s = settings or get_settings()
    topo = Topology.from_settings(s)
    try:
        conn = pika.BlockingConnection(pika.URLParameters(s.amqp_url))
    except Exception as exc:
        return {"queue": topo.queue, "ready": None, "dead_lettered": None, "error": type(exc).__name__}
    try:
        ready, dead = queue_depth(conn.channel(), topo)
        return {"queue": topo.queue, "ready": ready, "dead_lettered": dead}
    except Exception as exc:  # not declared yet
        return {"queue": topo.queue, "ready": None, "dead_lettered": None, "error": f"{type(exc).__name__}: {exc}"}
    finally:
        if conn.is_open:
            conn.close()


def _log_tables(conn: psycopg.Connection) -> list[str]:
    by_log = {f"{t.ods_name}__changes": t.code for t in load_catalogue().tables.values()}
    return [by_log[name] for name, _ in conn.execute(query("status", "logs")).fetchall() if name in by_log]


def pending(conn: psycopg.Connection) -> dict[str, dict[str, Any]]:
    """Per change log: unapplied changes and the age of the oldest (seconds)."""
    cat = load_catalogue()
    out = {}
    for code in _log_tables(conn):
        n, oldest, age = conn.execute(query("status", "pending", log=log_rel(cat.tables[code])),
                                      {"table": code}).fetchone()
        out[code] = {"pending": n, "oldest_received_at": oldest, "oldest_age_s": float(age) if age else 0.0}
    return out


def local_recon(conn: psycopg.Connection, table_code: str) -> dict[str, Any]:
    """Change log vs ODS for one table: every key's newest applied change is what ODS shows."""
    t = load_catalogue().tables[table_code]
    q = query("status", "local_recon", log=log_rel(t), ods=ods_rel(t),
              key=key_ident(t), k1=sql.Identifier(t.key[0].lower()))
    keys, matching, rebased, missing, behind, wrong = conn.execute(q, {"table": table_code}).fetchone()
    return {"table": table_code, "keys": keys, "matching": matching, "rebased": rebased, "missing": missing,
            "behind": behind, "wrong_delete": wrong, "ok": missing == 0 and behind == 0 and wrong == 0}


def local_recon_all(conn: psycopg.Connection) -> list[dict[str, Any]]:
    return [local_recon(conn, code) for code in _log_tables(conn)]


def status(conn: psycopg.Connection, *, settings: Settings | None = None, broker: bool = True) -> dict[str, Any]:
    """Lag is the age of the oldest logged change not applied, or, while messages wait in the
    queue, the time since the consumer last applied anything (a dead consumer shows here)."""
    s = settings or get_settings()
    cols = ("table", "base_seq", "base_batch_id", "watermark_seq", "last_applied_at", "last_change_ts",
            "applied", "ignored", "deleted", "channels", "since_applied_s")
    tables = {r[0]: dict(zip(cols, r, strict=True)) for r in conn.execute(query("status", "state")).fetchall()}
    pend = pending(conn)
    for code, p in pend.items():
        tables.setdefault(code, {"table": code}).update(p)
    lag: float | None = max((p["oldest_age_s"] for p in pend.values()), default=0.0)
    depth = broker_depth(s) if broker else {}
    if depth.get("ready"):
        since = [float(t["since_applied_s"]) for t in tables.values() if t.get("since_applied_s") is not None]
        lag = max(lag, min(since)) if since else None  # waiting and never applied: unknown, not OK
    topo = Topology.from_settings(s)
    poison = {r[0]: {"count": r[1], "last": r[2]}
              for r in conn.execute(query("status", "poison"), {"queue": topo.queue}).fetchall()}
    out = {"tables": tables, "pending": sum(p["pending"] for p in pend.values()),
           "lag_s": round(lag, 3) if lag is not None else None, "max_lag_s": s.cdc_max_lag_s,
           "lag_ok": lag is not None and lag <= s.cdc_max_lag_s, "poison": poison,
           "both_channels": sorted(c for c, t in tables.items() if len(t.get("channels") or []) > 1)}
    if broker:
        out["broker"] = depth
    return out


def catch_up(conn: psycopg.Connection) -> dict[str, dict[str, int]]:
    """Apply whatever is logged but unapplied (a consumer that died between log and apply cannot
    leave any, since both share a transaction; a re-base or an INCR interrupted can)."""
    from dz_assets.ods.apply import apply_changes

    cat = load_catalogue()
    out = {}
    for code, p in pending(conn).items():
        if p["pending"]:
            with conn.transaction():
                r = apply_changes(conn, cat.tables[code])
            out[code] = {"applied": r.applied, "deleted": r.deleted, "ignored": r.ignored + r.ignored_base}
    return out
