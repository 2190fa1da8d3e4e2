"""A FULL re-base and the changes dz-hub already holds (package-format.md, "What a batch does to
a table"): after the swap the table holds exactly the FULL's rows; logged messages with a seq
above ``BATCH@seq`` are applied again on top, later ones at or below it are ignored."""

from __future__ import annotations

import psycopg

from dz_assets.catalog import load_catalogue
from dz_assets.db.named_sql import NamedSql
from dz_assets.ods.apply import apply_changes
from dz_assets.ods.changelog import ensure_log, lock_table, log_rel

query = NamedSql(__file__)


def rebase_after_full(conn: psycopg.Connection, table_code: str, batch_seq: int | None,
                      batch_id: str) -> dict:
    """Call right after a FULL swapped ``table_code`` in. Without ``BATCH@seq`` nothing held is
    re-applied (the FULL's position is unknown) and the base is left unset."""
    table = load_catalogue().tables[table_code]
    with conn.transaction():
        ensure_log(conn, table)
        lock_table(conn, table)
        conn.execute(query("apply", "rebase_state"), {"table": table.code, "base": batch_seq,
                                                       "batch_id": batch_id})
        # Every row is the FULL's now: what deleted rows kept before no longer applies (the
        # deletes applied again on top record theirs anew).
        conn.execute("delete from meta.cdc_kept where table_code = %s", (table.code,))
        res = apply_changes(conn, table, rebase=True) if batch_seq is not None else None
        conn.execute(query("apply", "position_to_end", log=log_rel(table)), {"table": table.code})
    return {"table": table.code, "base_seq": batch_seq, **(res.as_dict() if res else {"applied": 0})}
