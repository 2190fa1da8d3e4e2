"""Apply: merge a table's pending logged changes into ``ods.<table>``, set-based.

Per key the change with the highest ``(seq, msg_id)`` wins whatever the arrival order; ``I``/``U``
replace the whole row, ``D`` keeps it as deleted at its ``ts``; re-applying is a no-op (the ODS
row remembers ``_seq``/``_msg_id``). Messages at or below the table's last FULL ``BATCH@seq``
are ignored and counted. One statement per micro-batch, never row by row; the caller's
transaction also holds the log write, so a micro-batch is stored and applied together.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import psycopg
from psycopg import sql

from dz_assets.catalog import Field, Table
from dz_assets.db.named_sql import NamedSql
from dz_assets.ods.changelog import ensure_log, key_ident, key_join, lock_table, log_rel
from dz_assets.ods.ddl import ods_rel
from dz_assets.ops.alerts import raise_alert

query = NamedSql(__file__)


@dataclass
class ApplyResult:
    table: str
    pending: int = 0  # logged changes this apply settled
    applied: int = 0  # ODS rows written (inserted or replaced)
    deleted: int = 0  # of which now deleted
    ignored_base: int = 0  # at or below the FULL's BATCH@seq
    ignored: int = 0  # older than what the row holds, duplicates by seq, or superseded in the batch

    def as_dict(self) -> dict:
        return asdict(self)


def _value(f: Field) -> sql.Composable:
    v = sql.SQL("(w.data ->> {})").format(sql.Literal(f.code))
    if f.type == "int":
        return sql.SQL("{}::bigint").format(v)
    if f.type == "decimal":
        return sql.SQL("{}::numeric").format(v)
    if f.type == "date":
        return sql.SQL("to_date({}, 'YYYYMMDD')").format(v)
    if f.type == "datetime":  # YYYYMMDDHHMMSS, Beijing time (as the FULL loader casts it)
        return sql.SQL("(left({v}, 8) || 'T' || substr({v}, 9, 6) || '+08')::timestamptz").format(v=v)
    return v


def _pending(alias: str | None, rebase: bool) -> sql.Composable:
    """Which logged rows this apply settles: those above the table's position, or, for a re-base,
    every message above the FULL's seq (they are applied again on top of the FULL's rows)."""
    p = sql.SQL(f"{alias}." if alias else "")
    if rebase:
        return sql.SQL("{p}source = 'mq' and {p}seq > %(base)s::bigint").format(p=p)
    return sql.SQL("{p}log_id > %(from)s").format(p=p)


def _upsert(table: Table, rebase: bool) -> sql.Composed:
    keys = set(table.key)
    cols = [f.column for f in table.fields]
    exprs = [sql.SQL("w.{}").format(sql.Identifier(f.column)) if f.code in keys else _value(f)
             for f in table.fields]
    sets = [sql.SQL("{c} = case when excluded._deleted then o.{c} else excluded.{c} end").format(
        c=sql.Identifier(f.column)) for f in table.fields if f.code not in keys]
    return query("apply", "upsert", log=log_rel(table), ods=ods_rel(table), key=key_ident(table),
                 pending=_pending(None, rebase), cols=sql.SQL(", ").join(map(sql.Identifier, cols)),
                 exprs=sql.SQL(", ").join(exprs), wjoin=key_join(table, "o", "w"),
                 sets=sql.SQL(", ").join(sets) if sets else sql.SQL("_deleted = excluded._deleted"))


def _refill(table: Table) -> sql.Composed:
    keys = set(table.key)
    sets = [sql.SQL("{} = {}").format(sql.Identifier(f.column), _value(f)) for f in table.fields if f.code not in keys]
    return query("apply", "refill_deleted", log=log_rel(table), ods=ods_rel(table),
                 pkey=sql.SQL(", ").join(sql.SQL("p.{}").format(sql.Identifier(k.lower())) for k in table.key),
                 pjoin=key_join(table, "o", "p"),
                 sets=sql.SQL(", ").join(sets) if sets else sql.SQL("_deleted = true"), join=key_join(table, "o", "w"))


def apply_changes(conn: psycopg.Connection, table: Table, *, rebase: bool = False) -> ApplyResult:
    """Settle the pending changes of ``table`` (in the caller's transaction, which should also
    hold the log write: then a change is applied in the transaction that stores it)."""
    ensure_log(conn, table)
    lock_table(conn, table)
    res = ApplyResult(table.code)
    pos = conn.execute(query("apply", "position"), {"table": table.code}).fetchone()
    start, base = (pos[0], pos[1]) if pos else (0, None)
    params = {"table": table.code, "from": start, "base": base, "known": [f.code for f in table.fields]}
    # One statement upserts and returns the settle figures and the refill's candidates.
    res.applied, res.deleted, below, n, last_id, watermark, last_ts, mq, incr, cand = conn.execute(
        _upsert(table, rebase), params).fetchone()
    if cand:  # pending I/U rows that did not become their key's row: some may refill a deleted one
        conn.execute(_refill(table), {**params, "cand": cand})
    res.pending, res.ignored_base = n, below
    res.ignored = n - below - res.applied
    if not n:
        return res
    channels = [c for c, used in (("incr", incr), ("mq", mq)) if used]
    _, seen, alerted = conn.execute(query("apply", "state_upsert"), {
        "table": table.code, "log_id": last_id if not rebase else None, "watermark": watermark,
        "last_ts": last_ts, "applied": res.applied, "ignored": res.ignored + res.ignored_base,
        "deleted": res.deleted, "channels": channels}).fetchone()
    if len(seen) > 1 and not alerted:
        # package-format.md: a table is fed by messages or by INCR packages, not both.
        raise_alert(conn, severity="warning", source="cdc", code="both_channels", subject=table.code,
                    message=f"{table.code} receives changes both as messages and in INCR packages",
                    details={"channels": list(seen)})
        conn.execute("update meta.cdc_table_state set both_alerted = true where table_code = %s", (table.code,))
    return res

