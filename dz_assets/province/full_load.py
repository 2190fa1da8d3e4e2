"""FULL load: a valid package's tables proven, COPYed into fresh typed tables and swapped in.

1. per DATASET, ``ods.<table>__load`` is created (and committed) without its key (an index
   built once after the load is ~2× faster than one maintained per row), with the batch's
   lineage as column defaults;
2. two workers (the machine's two cores) take the (table, file) units, largest table first:
   each proves its file chunk by chunk (the compiled ``fastpath`` where it applies, else
   ``bcp.prove_stream``) in a producer thread while the proven rows stream into one
   ``COPY … FROM STDIN`` (binary, see ``copy_payload``).
   The same pass checks the file's SHA-256 and line count against the index (``MemberCheck``:
   the package was opened with ``deep=False``); a mismatch aborts the load;
3. the worker that finishes a table's last file adds the primary key; only when that fails (a
   key delivered twice) the duplicates are deleted, the last occurrence (FILE order, then line)
   kept, and counted per file; COPY's row counts are checked against the rows sent, and the
   per-file balance declared = loaded + rejected + duplicate.

Then one transaction swaps every table in (drop the old, rename the new, re-create comments and
dependent views) and writes ``meta.batch_file``, ``meta.reject`` and ``meta.batch_flag`` of the
delivery. A crash before that commit leaves every previous ``ods`` table as it was; a re-run
drops the leftover ``__load`` tables and converges. ``meta.batch`` status is the registry's.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import polars as pl
import psycopg
import pyarrow as pa
from pgpq.encoders import LargeStringEncoderBuilder, StringEncoderBuilder, StringViewEncoderBuilder
from psycopg import sql

from dz_assets.catalog import Table, load_catalogue
from dz_assets.db.ods import column_defs, comment_sql
from dz_assets.province.bcp import CHUNK_BYTES
from dz_assets.province.copy_payload import FileCopy, Payload
from dz_assets.province.fastpath import FastPath, encoded_chunks
from dz_assets.province.index import Dataset
from dz_assets.province.package import MemberCheck, MemberCheckFailed, Package
from dz_assets.province.quality import FlagCounts, flag_rules
from dz_assets.province.rejects import RejectSpool
from dz_assets.province.sql import query
from dz_assets.settings import get_settings

LOAD_SUFFIX = "__load"
_JSON_ENCODER = {pa.large_string(): LargeStringEncoderBuilder, pa.string(): StringEncoderBuilder,
                 pa.string_view(): StringViewEncoderBuilder}
# The machine has 2 cores: two workers, each a prover thread and a PostgreSQL backend, keep
# both busy (one worker leaves PostgreSQL's single-threaded COPY as the long pole).
PARALLEL_FILES = 2
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
    rejects: RejectSpool = field(default_factory=RejectSpool)

    @property
    def flagged_rows(self) -> int:
        return sum(t.flagged_rows for t in self.tables.values())

    def totals(self) -> dict[str, int]:
        return {k: sum(getattr(t, k) for t in self.tables.values())
                for k in ("declared", "loaded", "rejected", "duplicate", "flagged_rows", "bytes")}


@dataclass
class _FileResult:
    """What proving and COPYing one file produced (merged into its table in FILE order)."""

    fl: FileLoad
    rejects: RejectSpool = field(default_factory=RejectSpool)
    flags: FlagCounts = field(default_factory=lambda: FlagCounts({}))
    refs: dict[tuple[str, str], str] = field(default_factory=dict)
    sent: int = 0  # proven rows sent to COPY
    copied: int = 0  # rows COPY took (the server's count)


@dataclass
class _Build:
    """One table's load in progress (phase 1), before the swap."""

    ds: Dataset
    table: Table
    load: TableLoad
    payload: Payload
    rules: list
    fast: FastPath | None
    results: dict[str, _FileResult] = field(default_factory=dict)
    started: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    rejects: RejectSpool = field(default_factory=RejectSpool)  # its files' spools, in FILE order
    flags: FlagCounts = field(default_factory=lambda: FlagCounts({}))
    refs: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.table.ods_name + LOAD_SUFFIX


def _rel(name: str) -> sql.Composed:
    return sql.SQL("ods.{}").format(sql.Identifier(name))


def _refs(frame: pl.DataFrame, ds: Dataset, table: Table, refs: dict[tuple[str, str], str]) -> None:
    file_fields = [f.code for f in ds.fields if f.type == "file"]
    if not file_fields:
        return
    key = pl.concat_str([pl.col(k) for k in table.key], separator="|")
    for code in file_fields:
        for row_key, member in frame.filter(pl.col(code).is_not_null()).select(key, pl.col(code)).iter_rows():
            refs[(row_key, code)] = member  # a later occurrence of the key wins, as in the table


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


def _produce(pkg: Package, b: _Build, res: _FileResult, fc: FileCopy, out: queue.Queue, chunk_bytes: int,
             stop: threading.Event) -> None:
    """Prove one file into a stream of COPY data; then the package checks of the file (SHA-256,
    records) on the bytes just read, before its COPY may end."""
    try:
        name = res.fl.file
        _put(out, fc.header(), stop)
        lines = 0
        with pkg.open_member(name, crc=False) as fh:
            member = MemberCheck(fh, count_lines=False)  # the prover counts every line it reads
            for chunk in encoded_chunks(member, b.ds, name, fc, b.rules, b.fast, objects=frozenset(pkg.objects),
                                        chunk_bytes=chunk_bytes):
                lines += chunk.total
                res.rejects.extend(chunk.rejects)
                res.flags.add(chunk.flags)
                if chunk.frame is not None:  # file references are never on the fast path
                    _refs(chunk.frame, b.ds, b.table, res.refs)
                res.sent += chunk.good
                if chunk.data:
                    _put(out, chunk.data, stop)
        if problems := member.problems(name, b.ds.files[[f.name for f in b.ds.files].index(name)], lines=lines):
            raise MemberCheckFailed(problems)
        _put(out, fc.trailer(), stop)
        _put(out, None, stop)
    except _Stopped:
        pass
    except BaseException as exc:  # handed to the COPY side, which raises it
        with contextlib.suppress(_Stopped):
            _put(out, exc, stop)


def _load_file(conn: psycopg.Connection, pkg: Package, b: _Build, res: _FileResult, chunk_bytes: int,
               throttle: float) -> None:
    """Prove one file in a producer thread while its data streams into one COPY; committed."""
    t0 = time.monotonic()
    cols = sql.SQL(", ").join(map(sql.Identifier, b.payload.columns))
    out: queue.Queue = queue.Queue(maxsize=3)  # three chunks in flight bound the memory
    stop = threading.Event()
    producer = threading.Thread(target=_produce, args=(pkg, b, res, b.payload.file_copy(res.fl.file), out,
                                                       chunk_bytes, stop), name=f"prove-{res.fl.file}", daemon=True)
    producer.start()
    try:
        with conn.cursor() as cur:
            with cur.copy(sql.SQL("copy {} ({}) from stdin with ({})").format(
                    _rel(b.name), cols, sql.SQL(b.payload.options))) as cp:
                while (item := out.get()) is not None:
                    if isinstance(item, BaseException):
                        raise item
                    cp.write(item)
                    if throttle:
                        time.sleep(throttle)
            res.copied = cur.rowcount
        conn.commit()  # a crash from here on leaves a __load table that no one reads; a re-run drops it
    finally:
        stop.set()  # a failed COPY must not leave the producer blocked on a full queue
        producer.join()
    res.fl.rejected = len(res.rejects)
    res.fl.flagged = res.flags.rows_flagged
    res.fl.duration_s = round(time.monotonic() - t0, 3)


def _finish_table(conn: psycopg.Connection, b: _Build) -> None:
    """Every file of the table is in: merge what they found (FILE order), add the key (dropping
    duplicates), check the balance per file, and commit the build."""
    rel = _rel(b.name)
    for f in b.ds.files:
        res = b.results[f.name]
        b.rejects.adopt(res.rejects)
        b.flags.add(res.flags)
        b.refs.update(res.refs)  # a later file's occurrence of a key wins, as in the table
        if res.copied != res.sent:
            raise LoadCheckFailed(f"{f.name}: COPY took {res.copied} rows, {res.sent} were sent")
    _key_and_dedupe(conn, rel, b.name, b)
    conn.execute(sql.SQL("alter table {} alter column _batch_id drop default, "
                         "alter column _valid_from drop default").format(rel))
    # Statistics travel with the table through the swap: the dbt run that follows a FULL plans
    # on real figures, also where autovacuum is off or has not got to it (~0.8 s per 10M rows).
    conn.execute(sql.SQL("analyze {}").format(rel))
    for fl in b.load.files:
        fl.loaded = b.results[fl.file].sent - fl.duplicate
        if fl.declared != fl.loaded + fl.rejected + fl.duplicate:
            raise LoadCheckFailed(f"{fl.file}: declared {fl.declared} != loaded {fl.loaded} + rejected "
                                  f"{fl.rejected} + duplicate {fl.duplicate}")
    conn.commit()
    _summarise(b, time.monotonic() - (b.started or time.monotonic()))


def _create_build(conn: psycopg.Connection, b: _Build, batch_id: str, created) -> None:
    """A fresh ``__load`` table (committed, so that both workers can fill it), the batch's
    lineage as column defaults, and no key yet: an index built once after the load is ~2×
    faster than one maintained per row."""
    rel = _rel(b.name)
    conn.execute(sql.SQL("drop table if exists {}").format(rel))
    conn.execute(sql.SQL("create table {} ({})").format(rel, sql.SQL(", ").join(column_defs(b.table))))
    conn.execute(sql.SQL("alter table {} alter column _batch_id set default {}, "
                         "alter column _valid_from set default {}").format(
        rel, sql.Literal(batch_id), sql.Literal(created)))
    conn.commit()


def _drop_builds(dsn: str, builds: list[_Build]) -> None:
    with contextlib.suppress(psycopg.Error), psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("set lock_timeout = '10s'")
        for b in builds:
            conn.execute(sql.SQL("drop table if exists {}").format(_rel(b.name)))


class _Workers:
    """``workers`` connections take (table, file) units, largest table first, so both cores work
    on the long table; the worker that finishes a table's last file adds its key meanwhile."""

    def __init__(self, dsn: str, pkg: Package, builds: list[_Build], chunk_bytes: int) -> None:
        self.dsn, self.pkg, self.chunk_bytes = dsn, pkg, chunk_bytes
        self.units = [(b, f) for b in builds for f in b.ds.files]
        self.left = {id(b): len(b.ds.files) for b in builds}
        self.lock = threading.Lock()
        self.failed = threading.Event()
        self.throttle = get_settings().load_throttle_s

    def _next(self):
        with self.lock:
            return None if self.failed.is_set() or not self.units else self.units.pop(0)

    def run_one(self) -> None:
        try:
            with psycopg.connect(self.dsn) as conn:
                conn.execute("set client_encoding to 'UTF8'")
                while (unit := self._next()) is not None:
                    b, f = unit
                    res = _FileResult(FileLoad(b.ds.table, f.name, f.records, self.pkg.member_size(f.name)))
                    with b.lock:
                        b.started = b.started or time.monotonic()
                        b.results[f.name] = res
                    _load_file(conn, self.pkg, b, res, self.chunk_bytes, self.throttle)
                    with self.lock:
                        self.left[id(b)] -= 1
                        last = self.left[id(b)] == 0
                    if last:
                        b.load.files = [b.results[x.name].fl for x in b.ds.files]
                        _finish_table(conn, b)
        except BaseException:
            self.failed.set()  # the other worker stops after its file
            raise


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
    """Replace ods.<table> by its ``__load`` build, keeping comments, grants and dependent views."""
    table = b.table
    old, new = _rel(table.ods_name), _rel(table.ods_name + LOAD_SUFFIX)
    exists = conn.execute("select to_regclass(%s)", (f"ods.{table.ods_name}",)).fetchone()[0]
    views, grants = [], []
    if exists:
        views = conn.execute(query("full_load", "dependent_views"), {"rel": f"ods.{table.ods_name}"}).fetchall()
        for rel in [f"ods.{table.ods_name}", *(v[0] for v in views)]:
            grants += [g for (g,) in conn.execute(query("full_load", "grants"), {"rel": rel})]
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
    for grant in grants:  # the table's first, then its views' (they exist again by now)
        conn.execute(grant)


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
              chunk_bytes: int = CHUNK_BYTES, parallel: int = PARALLEL_FILES) -> FullLoadResult:
    """Load every DATASET of a valid FULL package; see the module docstring for the steps."""
    if not package.valid or package.index is None:
        raise ValueError(f"{batch_id}: package is not valid: {[p.code for p in package.problems]}")
    if package.index.kind != "FULL":
        raise ValueError(f"{batch_id}: load_full takes FULL packages, not {package.index.kind}")
    t0 = time.monotonic()
    cat = load_catalogue()
    builds = []
    for ds in package.index.datasets:
        payload, rules = Payload(ds, cat.table(ds.table)), flag_rules(ds, cat, package.index.created)
        builds.append(_Build(ds, cat.table(ds.table), TableLoad(ds.table), payload, rules,
                             FastPath.for_dataset(ds, payload, rules)))
    # Largest first: both workers start on the long table, the small ones fill in at the end.
    builds.sort(key=lambda b: -sum(f.records for f in b.ds.files))
    try:
        with psycopg.connect(dsn) as conn:
            for b in builds:
                _create_build(conn, b, batch_id, package.index.created)
                if not b.ds.files:
                    _finish_table(conn, b)
        workers = _Workers(dsn, package, builds, chunk_bytes)
        n = max(1, min(parallel, len(workers.units)))
        with ThreadPoolExecutor(max_workers=n, thread_name_prefix="load") as pool:
            for fut in [pool.submit(workers.run_one) for _ in range(n)]:
                fut.result()
    except BaseException:
        _drop_builds(dsn, builds)  # a failed load leaves no half-built tables beside the ODS ones
        for b in builds:
            for res in b.results.values():
                res.rejects.close()
        raise
    with psycopg.connect(dsn) as conn, conn.transaction():
        # A long reader must not stall the batch forever: after this, the swap fails (the builds
        # stay committed as __load tables) and the run's retry starts the load again.
        conn.execute(f"set local lock_timeout = '{SWAP_LOCK_TIMEOUT_S}s'")
        for b in sorted(builds, key=lambda b: b.table.code):  # one lock order for every loader
            _swap(conn, b)
            if delivery_id is not None:
                _record(conn, b, delivery_id, batch_id)
    tables = {b.table.code: b.load for b in sorted(builds, key=lambda b: b.table.seq)}
    rejects = RejectSpool()
    for b in builds:
        rejects.adopt(b.rejects)
    return FullLoadResult(batch_id=batch_id, delivery_id=delivery_id, tables=tables,
                          duration_s=round(time.monotonic() - t0, 3), rejects=rejects)

