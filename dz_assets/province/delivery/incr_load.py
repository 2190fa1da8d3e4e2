"""INCR packages (文件数据同步): ``_OP``/``_TS`` rows → change log → apply, like change messages.

Rows are proven by the FULL loader's own prover (``bcp.prove_stream`` with ``kind="INCR"``), so
an INCR row and a FULL row accept the same text; rejected rows go to ``meta.reject`` with batch,
file, line, field and reason. Good rows become changes in the order the spec gives (BATCH_ID,
then FILE order in the index, then line): their ``seq`` is that order, on a scale of its own
(the batch's day and number, then the row's position), so a later INCR row always wins over an
earlier one and over a FULL's rows. Each row's ``msg_id`` is ``<batch>/<file>/<line>``: applying a
batch twice stores and applies nothing new. The whole batch is one transaction, and with a
delivery it sets that delivery ``applied`` in it.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from datetime import date
from typing import Any

import polars as pl
import psycopg

from dz_assets.catalog import Table, load_catalogue
from dz_assets.catalog.values import BEIJING, parse_datetime, unescape
from dz_assets.db import pg_dsn
from dz_assets.ods.apply import apply_changes
from dz_assets.ods.changelog import Change, store_changes
from dz_assets.province.reader.bcp import LINE, prove_stream
from dz_assets.province.reader.index import BATCH_ID_RE, Dataset
from dz_assets.province.reader.package import Package
from dz_assets.province.reader.quality import count_flags, flag_rules
from dz_assets.province.reader.reject_spool import RejectDicts, RejectSpool
from dz_assets.province.reader.verdict import RowCounts

ROWS_PER_BATCH = 10**9  # seq = (day × 10 000 + NNNN) × 10^9 + row: ~10^17 by 2100, below 2^63


def batch_seq_base(batch_id: str) -> int:
    m = BATCH_ID_RE.match(batch_id)
    if not m:
        raise ValueError(f"{batch_id} is not <SOURCE>-<KIND>-<YYYYMMDD>-<NNNN>")
    d = m["date"]
    days = (date(int(d[:4]), int(d[4:6]), int(d[6:])) - date(2000, 1, 1)).days
    return (days * 10_000 + int(m["no"])) * ROWS_PER_BATCH


def _field_names(ds: Dataset, table: Table) -> dict[str, str]:
    """Declared field → the name it is logged under: a field the catalogue types differently is
    kept under ``_drift_<code>`` (it lands in ``_extra``, as the FULL loader keeps it)."""
    out = {}
    for f in ds.fields:
        same = table.has_field(f.code) and (table.field(f.code).type == f.type
                                             or table.field(f.code).pg_type == "text")
        out[f.code] = f.code if same or not table.has_field(f.code) else f"_drift_{f.code}"
    return out


def _changes(frame: pl.DataFrame, ds: Dataset, table: Table, names: dict[str, str], batch_id: str,
             file: str, base: int) -> list[Change]:
    out = []
    codes = [f.code for f in ds.fields]
    for row in frame.select(["_OP", "_TS", *codes, LINE]).iter_rows():
        op, ts, values, line = row[0], row[1], row[2:-1], row[-1]
        data = {names[c]: unescape(v) for c, v in zip(codes, values, strict=True) if v is not None}
        if op == "D":
            data = {k: data[k] for k in table.key if k in data}
        out.append(Change(f"{batch_id}/{file}/{line}", table.code, op, base + line,
                          parse_datetime(ts).replace(tzinfo=BEIJING), tuple(data[k] for k in table.key), data,
                          source=batch_id, file=file, line=line))
    return out


def _record_rejects(conn: psycopg.Connection, rejects: RejectSpool, delivery_id: int, batch_id: str) -> None:
    conn.execute("delete from meta.reject where delivery_id = %s", (delivery_id,))
    with conn.cursor() as cur, cur.copy("copy meta.reject (delivery_id, batch_id, table_code, file_name, line, "
                                        "field, reason, raw_line) from stdin") as cp:
        for r in rejects:
            cp.write_row((delivery_id, batch_id, r.table, r.file, r.line, r.field, r.reason, r.raw))


@dataclass
class IncrResult:
    """What applying an INCR batch did: figures per table and overall (``as_json``: the object
    ``dzhub cdc incr --json`` prints and a verdict's ``applied``)."""

    batch_id: str
    tables: dict[str, dict[str, int]]  # table -> rows, rejected, flagged, stored, applied, deleted, ignored
    rows: RowCounts
    stored: int
    applied: int
    rejects: RejectDicts
    duration_s: float

    def as_json(self) -> dict[str, Any]:
        return {"batch_id": self.batch_id, "tables": self.tables, "rows": self.rows.as_json(),
                "stored": self.stored, "applied": self.applied, "rejects": self.rejects,
                "duration_s": self.duration_s}


def apply_incr_batch(dsn: str | None, package: Package, *, delivery_id: int | None, batch_id: str) -> IncrResult:
    """Log and apply every row of a valid INCR package; returns figures per table and overall."""
    if not package.valid or package.index is None or package.index.kind != "INCR":
        raise ValueError(f"{batch_id}: not a valid INCR package")
    t0 = time.monotonic()
    cat = load_catalogue()
    base = batch_seq_base(batch_id)
    rejects = RejectSpool()
    tables: dict[str, Counter] = {}
    offset = 0  # rows of the files before this one: keeps FILE order, then line order, in seq
    with psycopg.connect(dsn or pg_dsn()) as conn, conn.transaction():
        for ds in package.index.datasets:
            table = cat.tables[ds.table]
            names = _field_names(ds, table)
            rules = flag_rules(ds, cat, package.index.created)
            t = tables.setdefault(table.code, Counter())
            for f in ds.files:
                with package.open_member(f.name) as fh:
                    for chunk in prove_stream(fh, ds, f.name, kind="INCR", objects=frozenset(package.objects)):
                        rejects.extend(chunk.rejects)
                        t["rows"] += chunk.total
                        t["rejected"] += len(chunk.rejects)
                        t["flagged"] += count_flags(chunk.frame, rules, f.name).rows_flagged
                        changes = _changes(chunk.frame, ds, table, names, batch_id, f.name, base + offset)
                        t["stored"] += store_changes(conn, table, changes)
                offset += f.records
        for code in tables:
            r = apply_changes(conn, cat.tables[code])
            for k in ("applied", "deleted", "ignored"):
                tables[code][k] += getattr(r, k)
        totals = {k: sum(t[k] for t in tables.values()) for k in ("rows", "rejected", "flagged", "stored", "applied")}
        if delivery_id is not None:
            _record_rejects(conn, rejects, delivery_id, batch_id)
            # The batch's status commits with its changes: a loader that dies right after this
            # commit leaves no applied batch that the registry still calls pending.
            conn.execute("update meta.batch set status = 'applied', reason = null, finished_at = now(), "
                         "rows_total = %s, rows_rejected = %s, rows_loaded = %s, rows_flagged = %s "
                         "where delivery_id = %s",
                         (totals["rows"], totals["rejected"], totals["rows"] - totals["rejected"],
                          totals["flagged"], delivery_id))
    return IncrResult(batch_id=batch_id, tables={k: dict(v) for k, v in tables.items()},
                      rows=RowCounts(totals["rows"], totals["rejected"], totals["flagged"]),
                      stored=totals["stored"], applied=totals["applied"], rejects=rejects.dicts(),
                      duration_s=round(time.monotonic() - t0, 3))
