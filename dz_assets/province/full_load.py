"""FULL load: a valid package's tables proven, COPYed into fresh typed tables and swapped in.

Per DATASET (largest first, two at a time: PostgreSQL ingests on one core while Python proves
on the other):

1. ``ods.<table>__load`` is created without its key (an index built once after the load is ~2×
   faster than one maintained per row), with the batch's lineage as column defaults;
2. each FILE, in index order, is proven chunk by chunk (``bcp.prove_stream``) in a producer
   thread while the proven lines stream into ``COPY … FROM STDIN`` (text format);
3. the primary key is added; only when that fails (a key delivered twice) the duplicates are
   deleted, the last occurrence (FILE order, then line) kept, and counted per file;
4. COPY's row count is checked against the rows sent, and the per-file balance declared =
   loaded + rejected + duplicate; then the build is committed.

Then one transaction swaps every table in (drop the old, rename the new, re-create comments and
dependent views) and writes ``meta.batch_file``, ``meta.reject`` and ``meta.batch_flag`` of the
delivery. A crash before that commit leaves every previous ``ods`` table as it was; a re-run
drops the leftover ``__load`` tables and converges. ``meta.batch`` status is the registry's.
"""

from __future__ import annotations

import contextlib
import io
import queue
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import polars as pl
import psycopg
from psycopg import sql

from dz_assets.catalog import Catalogue, Table, load_catalogue
from dz_assets.db.ods import column_defs, comment_sql
from dz_assets.province.bcp import CHUNK_BYTES, LINE, Reject, prove_stream
from dz_assets.province.index import Dataset
from dz_assets.province.package import Package
from dz_assets.province.quality import FlagCounts, count_flags, flag_rules
from dz_assets.province.sql import query
from dz_assets.settings import get_settings

LOAD_SUFFIX = "__load"
PARALLEL_TABLES = 2  # the machine has 2 cores: one prover + one PostgreSQL backend per table
SWAP_LOCK_TIMEOUT_S = 120  # dbt models read ODS tables for seconds to minutes, not longer


class LoadCheckFailed(RuntimeError):
    """A check made during the load failed: nothing was swapped in."""


@dataclass
class FileLoad:
    table: str
    file: str
    declared: int
    bytes: int
    loaded: int = 0
    rejected: int = 0
    duplicate: int = 0
    flagged: int = 0
    duration_s: float = 0.0


@dataclass
class TableLoad:
    table: str
    declared: int = 0
    loaded: int = 0
    rejected: int = 0
    duplicate: int = 0
    flagged: dict[str, dict[str, int]] = field(default_factory=dict)  # field -> flag -> rows
    flagged_rows: int = 0
    bytes: int = 0
    duration_s: float = 0.0
    file_refs: list[tuple[str, str, str]] = field(default_factory=list)  # (row_key, field, member)
    files: list[FileLoad] = field(default_factory=list)


@dataclass
class FullLoadResult:
    batch_id: str
    delivery_id: int | None
    tables: dict[str, TableLoad]
    duration_s: float = 0.0
    rejects: list[Reject] = field(default_factory=list)

    @property
    def flagged_rows(self) -> int:
        return sum(t.flagged_rows for t in self.tables.values())

    def totals(self) -> dict[str, int]:
        return {k: sum(getattr(t, k) for t in self.tables.values())
                for k in ("declared", "loaded", "rejected", "duplicate", "flagged_rows", "bytes")}


@dataclass
class _Build:
    """One table's load in progress (phase 1), before the swap."""

    ds: Dataset
    table: Table
    load: TableLoad
    rejects: list[Reject] = field(default_factory=list)
    flags: FlagCounts = field(default_factory=lambda: FlagCounts({}))
    refs: dict[tuple[str, str], str] = field(default_factory=dict)
    sent: dict[str, int] = field(default_factory=dict)  # proven rows sent to COPY, per file


def _rel(name: str) -> sql.Composed:
    return sql.SQL("ods.{}").format(sql.Identifier(name))


def _columns(ds: Dataset, table: Table) -> tuple[list[str], list[str]]:
    """Declared fields that go to their own column, and those kept in ``_extra``.

    A field the catalogue does not know, or declares with another type, is kept in ``_extra``
    so that a drifted delivery still loads (nothing dropped, no cast that could fail).
    """
    own, extra = [], []
    for f in ds.fields:
        if table.has_field(f.code) and (table.field(f.code).type == f.type or table.field(f.code).pg_type == "text"):
            own.append(f.code)
        else:
            extra.append(f.code)
    return own, extra


def _unescaped(col: str) -> pl.Expr:
    # NUL never survives proving, so it can stand in for an escaped backslash meanwhile.
    c = pl.col(col).str.replace_all("\\\\", "\x00", literal=True)
    for esc, ch in (("\\t", "\t"), ("\\n", "\n"), ("\\r", "\r")):
        c = c.str.replace_all(esc, ch, literal=True)
    return c.str.replace_all("\x00", "\\", literal=True)


def copy_exprs(ds: Dataset, table: Table) -> tuple[list[str], list[pl.Expr]]:
    """COPY column list and the expressions turning proven BCP text into COPY text."""
    own, extra = _columns(ds, table)
    cols, exprs = [], []
    for code in own:
        c = pl.col(code)
        if table.field(code).type == "datetime":
            # YYYYMMDDHHMMSS does not cast, YYYYMMDDTHHMMSS+08 (ISO 8601 basic, Beijing) does:
            # two slices cost 0.01 s per 300 k rows, a regex rewrite 0.09 s.
            c = pl.concat_str([c.str.slice(0, 8), pl.lit("T"), c.str.slice(8, 6), pl.lit("+08")])
        cols.append(table.field(code).column)
        exprs.append(c.alias(code))
    if extra:
        obj = pl.struct([_unescaped(c).alias(c) for c in extra])
        cols.append("_extra")
        exprs.append(obj.struct.json_encode().str.replace_all("\\", "\\\\", literal=True).alias("_extra"))
    cols.append("_line")
    exprs.append(pl.col(LINE))
    return cols, exprs


def _copy_text(frame: pl.DataFrame, exprs: list[pl.Expr]) -> bytes:
    buf = io.BytesIO()
    frame.select(exprs).write_csv(buf, include_header=False, separator="\t", quote_style="never",
                                  null_value="\\N")
    return buf.getvalue()


def _refs(frame: pl.DataFrame, ds: Dataset, table: Table, b: _Build) -> None:
    file_fields = [f.code for f in ds.fields if f.type == "file"]
    if not file_fields:
        return
    key = pl.concat_str([pl.col(k) for k in table.key], separator="|")
    for code in file_fields:
        for row_key, member in frame.filter(pl.col(code).is_not_null()).select(key, pl.col(code)).iter_rows():
            b.refs[(row_key, code)] = member  # a later occurrence of the key wins, as in the table


class _Stopped(Exception):
    """The COPY side gave up: the producer stops instead of blocking on a full queue."""


def _put(out: queue.Queue, item: object, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            out.put(item, timeout=0.5)
            return
        except queue.Full:
            continue
    raise _Stopped


def _produce(pkg: Package, b: _Build, exprs, rules, out: queue.Queue, chunk_bytes: int,
             stop: threading.Event) -> None:
    """Prove every file of the table, in FILE order, into one stream of COPY text."""
    try:
        for f in b.ds.files:
            tf = time.monotonic()
            fl = FileLoad(b.ds.table, f.name, f.records, pkg.member_size(f.name))
            b.load.files.append(fl)
            file_exprs = [*exprs, pl.lit(f.name).alias("_file")]
            with pkg.open_member(f.name) as fh:
                for chunk in prove_stream(fh, b.ds, f.name, kind="FULL", objects=frozenset(pkg.objects),
                                          chunk_bytes=chunk_bytes):
                    fl.rejected += len(chunk.rejects)
                    b.rejects += chunk.rejects
                    flags = count_flags(chunk.frame, rules, f.name)
                    fl.flagged += flags.rows_flagged
                    b.flags.add(flags)
                    _refs(chunk.frame, b.ds, b.table, b)
                    b.sent[f.name] = b.sent.get(f.name, 0) + len(chunk.frame)
                    _put(out, _copy_text(chunk.frame, file_exprs), stop)
            fl.duration_s = round(time.monotonic() - tf, 3)  # proving time: COPY overlaps it
        _put(out, None, stop)
    except _Stopped:
        pass
    except BaseException as exc:  # handed to the COPY side, which raises it
        with contextlib.suppress(_Stopped):
            _put(out, exc, stop)


def _chunks(out: queue.Queue) -> Iterator[bytes]:
    while (item := out.get()) is not None:
        if isinstance(item, BaseException):
            raise item
        yield item


def _build_table(dsn: str, pkg: Package, b: _Build, batch_id: str, cat: Catalogue, chunk_bytes: int) -> None:
    t0 = time.monotonic()
    throttle = get_settings().load_throttle_s
    name = b.table.ods_name + LOAD_SUFFIX
    rel = _rel(name)
    cols, exprs = copy_exprs(b.ds, b.table)
    rules = flag_rules(b.ds, cat, pkg.index.created)
    with psycopg.connect(dsn) as conn:
        conn.execute("set client_encoding to 'UTF8'")
        conn.execute(sql.SQL("drop table if exists {}").format(rel))
        conn.execute(sql.SQL("create table {} ({})").format(rel, sql.SQL(", ").join(column_defs(b.table))))
        conn.execute(sql.SQL("alter table {} alter column _batch_id set default {}, "
                             "alter column _valid_from set default {}").format(
            rel, sql.Literal(batch_id), sql.Literal(pkg.index.created)))
        # One COPY for all the table's files (each row names its file): the prover and PostgreSQL
        # stay busy side by side instead of draining and refilling the pipe at every file.
        # FREEZE (the table is new in this transaction): rows are written frozen, so the count
        # below and the first readers do not rewrite every page to set hint bits.
        copy = sql.SQL("copy {} ({}) from stdin with (freeze)").format(
            rel, sql.SQL(", ").join(map(sql.Identifier, [*cols, "_file"])))
        out: queue.Queue = queue.Queue(maxsize=3)  # three chunks in flight bound the memory
        stop = threading.Event()
        producer = threading.Thread(target=_produce, args=(pkg, b, exprs, rules, out, chunk_bytes, stop),
                                    name=f"prove-{b.ds.table}", daemon=True)
        producer.start()
        try:
            with conn.cursor() as cur:
                with cur.copy(copy) as cp:
                    for data in _chunks(out):
                        cp.write(data)
                        if throttle:
                            time.sleep(throttle)
                copied = cur.rowcount
        finally:
            stop.set()  # a failed COPY must not leave the producer blocked on a full queue
            producer.join()
        # The server's own count of the COPY, not a scan of the table (0.2 s per million rows).
        if copied != sum(b.sent.values()):
            raise LoadCheckFailed(f"{b.ds.table}: COPY took {copied} rows, {sum(b.sent.values())} were sent")
        _key_and_dedupe(conn, rel, name, b)
        conn.execute(sql.SQL("alter table {} alter column _batch_id drop default, "
                             "alter column _valid_from drop default").format(rel))
        for fl in b.load.files:
            fl.loaded = b.sent.get(fl.file, 0) - fl.duplicate
            if fl.declared != fl.loaded + fl.rejected + fl.duplicate:
                raise LoadCheckFailed(f"{fl.file}: declared {fl.declared} != loaded {fl.loaded} + rejected "
                                      f"{fl.rejected} + duplicate {fl.duplicate}")
        conn.commit()
    _summarise(b, time.monotonic() - t0)


def _key_and_dedupe(conn: psycopg.Connection, rel: sql.Composed, name: str, b: _Build) -> None:
    key = sql.SQL(", ").join(sql.Identifier(k.lower()) for k in b.table.key)
    add_pk = sql.SQL("alter table {} add constraint {} primary key ({})").format(
        rel, sql.Identifier(name + "_pkey"), key)
    if not b.table.key:
        return
    try:
        with conn.transaction():
            conn.execute(add_pk)
        return
    except psycopg.errors.UniqueViolation:
        pass
    gone = conn.execute(sql.SQL(query("full_load", "dedupe")).format(rel=rel, key=key),
                        {"files": [f.name for f in b.ds.files]}).fetchall()
    per_file = dict(gone)
    for fl in b.load.files:
        fl.duplicate = per_file.get(fl.file, 0)
    conn.execute(add_pk)


def _summarise(b: _Build, duration: float) -> None:
    t = b.load
    t.declared = sum(f.declared for f in t.files)
    t.loaded = sum(f.loaded for f in t.files)
    t.rejected = sum(f.rejected for f in t.files)
    t.duplicate = sum(f.duplicate for f in t.files)
    t.bytes = sum(f.bytes for f in t.files)
    t.flagged = b.flags.by_field()
    t.flagged_rows = b.flags.rows_flagged
    t.duration_s = round(duration, 3)
    t.file_refs = [(k, fld, m) for (k, fld), m in b.refs.items()]


def _swap(conn: psycopg.Connection, b: _Build) -> None:
    """Replace ods.<table> by its ``__load`` build, keeping comments and dependent views."""
    table = b.table
    old, new = _rel(table.ods_name), _rel(table.ods_name + LOAD_SUFFIX)
    exists = conn.execute("select to_regclass(%s)", (f"ods.{table.ods_name}",)).fetchone()[0]
    views = []
    if exists:
        views = conn.execute(query("full_load", "dependent_views"), {"rel": f"ods.{table.ods_name}"}).fetchall()
        conn.execute(sql.SQL("lock table {} in access exclusive mode").format(old))
        conn.execute(sql.SQL("drop table {} cascade").format(old))
    conn.execute(sql.SQL("alter table {} rename to {}").format(new, sql.Identifier(table.ods_name)))
    if table.key:
        conn.execute(sql.SQL("alter index ods.{} rename to {}").format(
            sql.Identifier(table.ods_name + LOAD_SUFFIX + "_pkey"), sql.Identifier(table.ods_name + "_pkey")))
    for stmt in comment_sql(table):
        conn.execute(stmt)
    for name, kind, body, comment, _depth in views:
        what = "materialized view" if kind == "m" else "view"
        conn.execute(f"create {what} {name} as {body}")
        if comment:
            conn.execute(sql.SQL(f"comment on {what} {name} is {{}}").format(sql.Literal(comment)))


def _record(conn: psycopg.Connection, b: _Build, delivery_id: int, batch_id: str) -> None:
    code = b.table.code
    for t in ("batch_file", "batch_flag"):
        conn.execute(sql.SQL("delete from meta.{} where delivery_id = %s and table_code = %s").format(
            sql.Identifier(t)), (delivery_id, code))
    conn.execute("delete from meta.reject where delivery_id = %s and table_code = %s", (delivery_id, code))
    with conn.cursor() as cur:
        with cur.copy("copy meta.batch_file (delivery_id, table_code, file_name, records, bytes, rows_loaded, "
                      "rows_rejected, rows_duplicate, rows_flagged, duration_s) from stdin") as cp:
            for f in b.load.files:
                cp.write_row((delivery_id, code, f.file, f.declared, f.bytes, f.loaded, f.rejected, f.duplicate,
                              f.flagged, round(f.duration_s, 3)))
        with cur.copy("copy meta.reject (delivery_id, batch_id, table_code, file_name, line, field, reason, "
                      "raw_line) from stdin") as cp:
            for r in b.rejects:
                cp.write_row((delivery_id, batch_id, code, r.file, r.line, r.field, r.reason, r.raw))
        with cur.copy("copy meta.batch_flag (delivery_id, table_code, field, flag, rows, sample_line, "
                      "sample_file) from stdin") as cp:
            for (fld, flag), (n, line, file) in b.flags.counts.items():
                cp.write_row((delivery_id, code, fld, flag, n, line, file))


def load_full(dsn: str, package: Package, *, delivery_id: int | None, batch_id: str,
              chunk_bytes: int = CHUNK_BYTES, parallel: int = PARALLEL_TABLES) -> FullLoadResult:
    """Load every DATASET of a valid FULL package; see the module docstring for the steps."""
    if not package.valid or package.index is None:
        raise ValueError(f"{batch_id}: package is not valid: {[p.code for p in package.problems]}")
    if package.index.kind != "FULL":
        raise ValueError(f"{batch_id}: load_full takes FULL packages, not {package.index.kind}")
    t0 = time.monotonic()
    cat = load_catalogue()
    builds = [_Build(ds, cat.table(ds.table), TableLoad(ds.table)) for ds in package.index.datasets]
    # Largest first, so that the long table starts at once and the small ones fill the other core.
    builds.sort(key=lambda b: -sum(f.records for f in b.ds.files))
    with ThreadPoolExecutor(max_workers=max(1, min(parallel, len(builds)))) as pool:
        for fut in [pool.submit(_build_table, dsn, package, b, batch_id, cat, chunk_bytes) for b in builds]:
            fut.result()
    with psycopg.connect(dsn) as conn, conn.transaction():
        # A long reader must not stall the batch forever: after this, the swap fails (the builds
        # stay committed as __load tables) and the run's retry starts the load again.
        conn.execute(f"set local lock_timeout = '{SWAP_LOCK_TIMEOUT_S}s'")
        for b in sorted(builds, key=lambda b: b.table.code):  # one lock order for every loader
            _swap(conn, b)
            if delivery_id is not None:
                _record(conn, b, delivery_id, batch_id)
    tables = {b.table.code: b.load for b in sorted(builds, key=lambda b: b.table.seq)}
    return FullLoadResult(batch_id=batch_id, delivery_id=delivery_id, tables=tables,
                          duration_s=round(time.monotonic() - t0, 3),
                          rejects=[r for b in builds for r in b.rejects])

