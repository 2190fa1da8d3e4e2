"""A FULL's bookkeeping of one table, written in the swap's transaction: ``meta.batch_file`` (the
per-file balance), ``meta.reject`` and ``meta.batch_flag``. Committed with the swap, the
``meta.batch_file`` rows are also what tells the registry, after a crash, that the swap
happened (``pipeline.recover_swapped``)."""

from __future__ import annotations

from collections.abc import Iterable

import psycopg
from psycopg import sql

from dz_assets.province.delivery.full_load_figures import FileLoad
from dz_assets.province.reader.quality import FlagCounts
from dz_assets.province.reader.reject_spool import RejectSpool


def record_table(conn: psycopg.Connection, table_code: str, files: Iterable[FileLoad], rejects: RejectSpool,
                 flags: FlagCounts, *, delivery_id: int, batch_id: str) -> None:
    """Replace what the delivery recorded of the table (a re-run converges) by these figures."""
    for t in ("batch_file", "batch_flag"):
        conn.execute(sql.SQL("delete from meta.{} where delivery_id = %s and table_code = %s").format(
            sql.Identifier(t)), (delivery_id, table_code))
    conn.execute("delete from meta.reject where delivery_id = %s and table_code = %s", (delivery_id, table_code))
    with conn.cursor() as cur:
        with cur.copy("copy meta.batch_file (delivery_id, table_code, file_name, records, bytes, rows_loaded, "
                      "rows_rejected, rows_duplicate, rows_flagged, duration_s) from stdin") as cp:
            for f in files:
                cp.write_row((delivery_id, table_code, f.file, f.declared, f.bytes, f.loaded, f.rejected,
                              f.duplicate, f.flagged, round(f.duration_s, 3)))
        with cur.copy("copy meta.reject (delivery_id, batch_id, table_code, file_name, line, field, reason, "
                      "raw_line) from stdin") as cp:
            for r in rejects:
                cp.write_row((delivery_id, batch_id, table_code, r.file, r.line, r.field, r.reason, r.raw))
        with cur.copy("copy meta.batch_flag (delivery_id, table_code, field, flag, rows, sample_line, "
                      "sample_file) from stdin") as cp:
            for (fld, flag), (n, line, file) in flags.counts.items():
                cp.write_row((delivery_id, table_code, fld, flag, n, line, file))
