"""Reconciliation figures of a provincial batch, for its asset checks and the monitoring pages.

Three facts hold for every loaded FULL batch:
declared records = loaded + rejected + duplicate, for every file and every table; the re-based
ODS table's live rows = the distinct keys delivered (= loaded); duplicates on the key are
reported. The loader proves them before its swap; these functions re-read them from
``meta.batch_file`` and the ODS tables, so a check shows what the warehouse really holds.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass

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


@dataclass(frozen=True)
class FileFigures:
    """One data file of a delivery: declared records against what became of them."""

    table: str
    file: str
    records: int
    loaded: int
    rejected: int
    duplicate: int
    flagged: int
    bytes: int

    @property
    def reconciles(self) -> bool:
        return self.records == self.loaded + self.rejected + self.duplicate


@dataclass(frozen=True)
class TableFigures:
    """A table's files of one delivery, added up."""

    records: int = 0
    loaded: int = 0
    rejected: int = 0
    duplicate: int = 0
    flagged: int = 0
    bytes: int = 0

    def plus(self, f: FileFigures) -> TableFigures:
        return TableFigures(*(getattr(self, k) + getattr(f, k) for k in TABLE_FIGURES))


TABLE_FIGURES = ("records", "loaded", "rejected", "duplicate", "flagged", "bytes")


@dataclass(frozen=True)
class BatchFigures:
    """Per-file and per-table figures of a delivery, with what does not reconcile."""

    files: list[FileFigures]
    tables: dict[str, TableFigures]
    unreconciled: list[str]  # one line per file whose declared records do not add up
    flags: dict[str, dict[str, dict[str, int]]]  # table -> field -> flag -> rows

    def duplicates(self) -> dict[str, int]:
        return {t: f.duplicate for t, f in self.tables.items() if f.duplicate}


def batch_figures(conn: psycopg.Connection, delivery_id: int) -> BatchFigures:
    """Per-file and per-table figures of a delivery, with what does not reconcile."""
    files = [FileFigures(t, f, records, loaded, rejected, dup, flagged, nbytes)
             for t, f, records, loaded, rejected, dup, flagged, nbytes, _ in
             _rows(conn, "files", {"delivery_id": delivery_id})]
    tables: dict[str, TableFigures] = {}
    for f in files:
        tables[f.table] = tables.get(f.table, TableFigures()).plus(f)
    unreconciled = [f"{x.file}: declared {x.records} ≠ loaded {x.loaded} + rejected {x.rejected}"
                    f" + duplicate {x.duplicate}" for x in files if not x.reconciles]
    flags: dict[str, dict[str, dict[str, int]]] = defaultdict(lambda: defaultdict(dict))
    for t, field, flag, n, *_ in _rows(conn, "flags", {"delivery_id": delivery_id}):
        flags[t][field][flag] = n
    return BatchFigures(files, tables, unreconciled, {t: dict(v) for t, v in flags.items()})


@dataclass(frozen=True)
class RebaseFigures:
    """A table's latest FULL re-base and what its ODS table holds of it now."""

    batch_id: str
    delivery_id: int
    declared: int
    loaded: int
    rejected: int
    duplicate: int
    ods_live_rows: int
    ods_rows_from_batch: int

    @property
    def reconciles(self) -> bool:
        return self.declared == self.loaded + self.rejected + self.duplicate

    @property
    def ok(self) -> bool:
        """Declared = loaded + rejected + duplicate, and the table holds no more live rows from the
        batch than the distinct keys it delivered (fewer is fine: later changes move rows on to
        their own lineage)."""
        return self.reconciles and self.ods_rows_from_batch <= self.loaded

    def as_dict(self) -> dict[str, int | str | bool]:
        return {**asdict(self), "reconciles": self.reconciles}


def last_rebase(conn: psycopg.Connection, table_code: str) -> RebaseFigures | None:
    """The latest FULL re-base of a table and what the ODS table holds of it now."""
    rows = _rows(conn, "last_rebase", {"table_code": table_code})
    if not rows:
        return None
    batch_id, delivery, declared, loaded, rejected, dup = rows[0]
    return RebaseFigures(batch_id, delivery, int(declared), int(loaded), int(rejected), int(dup),
                         ods_live_rows(conn, table_code), ods_live_rows(conn, table_code, batch_id))


def just_rebased(conn: psycopg.Connection, table_code: str, batch_id: str, delivery_id: int,
                 t: TableFigures) -> tuple[RebaseFigures, str | None]:
    """A table the batch has just re-based: its figures, and what does not add up (None: all does).

    Changes held above BATCH@seq are applied again on top of the swap (package-format.md): they
    move rows onto their own lineage, so the rows still from this batch may be fewer than its
    keys, never more, and with the re-applied rows they cover every key delivered."""
    live, from_batch, elsewhere = rebase_lineage(conn, table_code, batch_id)
    figures = RebaseFigures(batch_id, delivery_id, t.records, t.loaded, t.rejected, t.duplicate, live, from_batch)
    if from_batch > t.loaded or from_batch + elsewhere < t.loaded:
        return figures, (f"ods.{table_code.lower()}: {from_batch} live rows from {batch_id} and {elsewhere} "
                         f"re-applied changes after the swap, {t.loaded} distinct keys delivered")
    return figures, None


def rerun_mismatches(conn: psycopg.Connection, batch_id: str, figures: BatchFigures) -> list[str]:
    """A re-run loads nothing, but its checks still read the tables this batch last re-based."""
    out = []
    for table, fig in figures.tables.items():
        rebase = last_rebase(conn, table)
        # fewer is fine: later changes (CDC, INCR) move rows on to their own lineage
        if rebase and rebase.batch_id == batch_id and rebase.ods_rows_from_batch > fig.loaded:
            out.append(f"ods.{table.lower()}: {rebase.ods_rows_from_batch} live rows from {batch_id}, "
                       f"{fig.loaded} distinct keys delivered")
    return out
