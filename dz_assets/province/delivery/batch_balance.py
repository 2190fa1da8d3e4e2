"""Reconciliation figures of a provincial batch, for its asset checks and the monitoring pages.

Three facts hold for every loaded FULL batch (issue 4, "Monitoring and reconciliation"):
declared records = loaded + rejected + duplicate, for every file and every table; the re-based
ODS table's live rows = the distinct keys delivered (= loaded); duplicates on the key are
reported. The loader proves them before its swap; these functions re-read them from
``meta.batch_file`` and the ODS tables, so a check shows what the warehouse really holds.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import psycopg
from psycopg import sql

from dz_assets.db.named_sql import NamedSql

query = NamedSql(__file__)


def _rows(conn: psycopg.Connection, name: str, params: dict) -> list[tuple]:
    return conn.execute(query("batch_balance", name), params).fetchall()


def ods_live_rows(conn: psycopg.Connection, table_code: str, batch_id: str | None = None) -> int:
    q = sql.SQL("select count(*) from ods.{} where not _deleted").format(sql.Identifier(table_code.lower()))
    if batch_id is None:
        return conn.execute(q).fetchone()[0]
    return conn.execute(q + sql.SQL(" and _batch_id = %s"), (batch_id,)).fetchone()[0]


def rebase_lineage(conn: psycopg.Connection, table_code: str, batch_id: str) -> tuple[int, int, int]:
    """(live rows, live rows from ``batch_id``, rows of any state whose lineage is elsewhere) of an
    ODS table just re-based by ``batch_id``: changes applied again on top of a FULL move rows onto
    their own lineage (updated, inserted or deleted), so the batch's own rows plus those cover
    every key it delivered."""
    q = sql.SQL("select count(*) filter (where not _deleted), "
                "count(*) filter (where not _deleted and _batch_id = %(b)s), "
                "count(*) filter (where _batch_id is distinct from %(b)s) from ods.{}").format(
        sql.Identifier(table_code.lower()))
    return conn.execute(q, {"b": batch_id}).fetchone()


def batch_figures(conn: psycopg.Connection, delivery_id: int) -> dict[str, Any]:
    """Per-file and per-table figures of a delivery, with what does not reconcile."""
    files = []
    tables: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for t, f, records, loaded, rejected, dup, flagged, nbytes, _ in _rows(conn, "files", {"delivery_id": delivery_id}):
        files.append({"table": t, "file": f, "records": records, "loaded": loaded, "rejected": rejected,
                      "duplicate": dup, "flagged": flagged, "bytes": nbytes})
        for k, v in (("records", records), ("loaded", loaded), ("rejected", rejected), ("duplicate", dup),
                     ("flagged", flagged), ("bytes", nbytes)):
            tables[t][k] += v
    unreconciled = [f"{x['file']}: declared {x['records']} ≠ loaded {x['loaded']} + rejected {x['rejected']}"
                    f" + duplicate {x['duplicate']}" for x in files
                    if x["records"] != x["loaded"] + x["rejected"] + x["duplicate"]]
    flags: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for t, field, flag, n, *_ in _rows(conn, "flags", {"delivery_id": delivery_id}):
        flags[t][field][flag] = n
    return {"files": files, "tables": {k: dict(v) for k, v in tables.items()},
            "unreconciled": unreconciled, "flags": {t: dict(v) for t, v in flags.items()}}


def last_rebase(conn: psycopg.Connection, table_code: str) -> dict[str, Any] | None:
    """The latest FULL re-base of a table and whether it still reconciles with the ODS table."""
    rows = _rows(conn, "last_rebase", {"table_code": table_code})
    if not rows:
        return None
    batch_id, delivery, declared, loaded, rejected, dup = rows[0]
    live_from_batch = ods_live_rows(conn, table_code, batch_id)
    return {"batch_id": batch_id, "delivery_id": delivery, "declared": int(declared), "loaded": int(loaded),
            "rejected": int(rejected), "duplicate": int(dup), "ods_live_rows": ods_live_rows(conn, table_code),
            "ods_rows_from_batch": live_from_batch,
            "reconciles": declared == loaded + rejected + dup}
