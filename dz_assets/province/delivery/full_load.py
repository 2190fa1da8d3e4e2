"""FULL load: a valid package's tables proven, COPYed into fresh typed tables and swapped in.

1. two prover threads (the machine's two cores) prove the files, largest table first, chunk by
   chunk: the compiled fast path (``fastpath``) where it applies, else ``bcp.prove_stream``.
   The same pass checks each file's SHA-256 and line count against the index (``MemberCheck``:
   the package was opened with ``deep=False``); a mismatch aborts the load;
2. per DATASET, one connection creates ``ods.<table>__load`` without its key (an index built
   once after the load is ~2× faster than one maintained per row), with the batch's lineage as
   column defaults, and in the same transaction takes every file's proven rows in one
   ``COPY … FROM STDIN (FREEZE)`` (binary, see ``copy_payload``);
3. then, still in that transaction, the primary key; when a query finds a key delivered twice
   (asked, not learnt from a failing key: its error would log the key's values) the duplicates
   are first deleted, the last occurrence (FILE order, then line) kept, and
   counted per file; COPY's row count is checked against the rows sent, and the per-file
   balance declared = loaded + rejected + duplicate. The build is committed.

Then one transaction swaps every table in (the old renamed ``__old``, the new to its name, comments
and dependent views re-created) and writes ``meta.batch_file``, ``meta.reject`` and
``meta.batch_flag`` of the delivery; the retired tables are dropped after its commit. A crash
before that commit leaves every previous ``ods`` table as it was; a re-run drops any leftover
``__load`` or ``__old`` tables and converges. ``meta.batch`` status is the registry's: the
``meta.batch_file`` rows committed with the swap are what tells it, after a crash, that the
swap happened (``pipeline.recover_swapped``).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl
import psycopg
from psycopg import sql

from dz_assets.catalog import Table, load_catalogue
from dz_assets.db.named_sql import NamedSql
from dz_assets.ods.ddl import column_defs, comment_sql
from dz_assets.province.reader.bcp import CHUNK_BYTES
from dz_assets.province.reader.copy_payload import Payload
from dz_assets.province.reader.fastpath import FastPath, encoded_chunks
from dz_assets.province.reader.index import Dataset, IndexFile
from dz_assets.province.reader.package import MemberCheck, MemberCheckFailed, Package
from dz_assets.province.reader.quality import FlagCounts, flag_rules
from dz_assets.province.reader.reject_spool import RejectSpool
from dz_assets.security.classify import protect_relation
from dz_assets.settings import get_settings

query = NamedSql(__file__)

LOAD_SUFFIX = "__load"
OLD_SUFFIX = "__old"  # a swapped-out table, dropped once the swap has committed
# The machine has 2 cores: two prover threads and the tables' COPY backends keep both busy.
PARALLEL_FILES = 2
MAX_COPIERS = 4  # tables COPYing or being keyed at once (each one connection)
SWAP_LOCK_TIMEOUT_S = 120  # dbt models read ODS tables for seconds to minutes, not longer

log = logging.getLogger(__name__)


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
    """What proving one file produced (merged into its table in FILE order)."""

    fl: FileLoad
    entry: IndexFile  # the file's FILE element: what its package checks expect
    rejects: RejectSpool = field(default_factory=RejectSpool)
    flags: FlagCounts = field(default_factory=lambda: FlagCounts({}))
    refs: dict[tuple[str, str], str] = field(default_factory=dict)
    sent: int = 0  # proven rows sent to COPY


@dataclass(frozen=True)
class _FileDone:
    """Queued after a file's last rows: its package checks passed."""

    file: str


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
    rejects: RejectSpool = field(default_factory=RejectSpool)  # its files' spools, in FILE order
    flags: FlagCounts = field(default_factory=lambda: FlagCounts({}))
    refs: dict[tuple[str, str], str] = field(default_factory=dict)
    # The provers' COPY data for the table's one COPY; a few chunks in flight bound the memory.
    data: queue.Queue = field(default_factory=lambda: queue.Queue(maxsize=4))
    copied: int = 0  # rows the table's COPY took (the server's count)

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
    """The load failed elsewhere: this thread stops instead of waiting on a queue."""


def _put(out: queue.Queue, item: object, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            out.put(item, timeout=0.5)
            return
        except queue.Full:
            continue
    raise _Stopped


def _get(src: queue.Queue, stop: threading.Event) -> object:
    while not stop.is_set():
        try:
            return src.get(timeout=0.5)
        except queue.Empty:
            continue
    raise _Stopped


def _prove_file(pkg: Package, b: _Build, res: _FileResult, chunk_bytes: int, stop: threading.Event) -> None:
    """Prove one file into its table's COPY data; then the package checks of the file (SHA-256,
    records) on the bytes just read, before the table's COPY may end."""
    t0 = time.monotonic()
    name = res.fl.file
    fc = b.payload.file_copy(name)
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
                _put(b.data, chunk.data, stop)
    if problems := member.problems(name, res.entry, lines=lines):
        raise MemberCheckFailed(problems)
    if rest := fc.end():
        _put(b.data, rest, stop)
    _put(b.data, _FileDone(name), stop)
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
    if (sent := sum(r.sent for r in b.results.values())) != b.copied:
        raise LoadCheckFailed(f"{b.table.code}: COPY took {b.copied} rows, {sent} were sent")
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
    """A fresh ``__load`` table in the caller's transaction (which COPYs into it with FREEZE), the
    batch's lineage as column defaults, and no key yet: an index built once after the load is
    ~2× faster than one maintained per row."""
    rel = _rel(b.name)
    conn.execute(sql.SQL("drop table if exists {}").format(rel))
    conn.execute(sql.SQL("create table {} ({})").format(rel, sql.SQL(", ").join(column_defs(b.table))))
    conn.execute(sql.SQL("alter table {} alter column _batch_id set default {}, "
                         "alter column _valid_from set default {}").format(
        rel, sql.Literal(batch_id), sql.Literal(created)))


def _drop_tables(dsn: str, names: list[str], *, cascade: bool = False) -> None:
    """Drop these ``ods`` tables (leftovers: ``__load`` builds of a failed load, tables a swap
    retired). One that cannot be dropped now is logged and left for the next load of its table,
    which drops it first; this never raises."""
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("set lock_timeout = '10s'")
            for name in names:
                try:
                    conn.execute(sql.SQL("drop table if exists {}{}").format(
                        _rel(name), sql.SQL(" cascade" if cascade else "")))
                except psycopg.Error as exc:
                    log.warning("ods.%s stays until the next load of its table: %s", name, exc)
    except psycopg.OperationalError as exc:
        log.warning("ods.%s stay until the next load of each: %s", ", ".join(names), exc)


class _Loader:
    """Each table has one connection that creates its ``__load`` table and, in the same
    transaction, COPYs every file into it ``FREEZE`` and builds its key: no later pass (the key
    build, the first dbt run) sets hint bits on millions of fresh rows and writes the pages
    again (the key build of 10 M rows took ~1.4 s less), vacuum has nothing to freeze, and only
    a committed, keyed table is ever visible. ``provers`` threads feed the tables, largest
    first. A fast-path table is proven by one prover, file after file: it proves ~1.1 M person
    rows/s, more than the table's one COPY backend takes (~0.4–0.5 M/s here), and its rows reach the
    heap in FILE order. A reference-path table's files go to whichever prover is free. The
    thread that COPYs a table builds its key while the provers go on to the next."""

    def __init__(self, dsn: str, pkg: Package, builds: list[_Build], *, batch_id: str, chunk_bytes: int) -> None:
        self.dsn, self.pkg, self.batch_id, self.chunk_bytes = dsn, pkg, batch_id, chunk_bytes
        self.units: list[tuple[_Build, list]] = []
        for b in builds:
            if b.fast:  # one prover, file after file
                self.units.append((b, list(b.ds.files)))
            else:
                self.units += [(b, [f]) for f in b.ds.files]
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.copiers: list[threading.Thread] = []
        # A copier holds its connection until its table is keyed and committed: a package of 143
        # small tables had 68 open at once, beyond a server's usual max_connections.
        self.slots = threading.BoundedSemaphore(MAX_COPIERS)
        self.throttle = get_settings().load_throttle_s

    def _fail(self, exc: BaseException) -> None:
        with self.lock:
            if not isinstance(exc, _Stopped):
                self.errors.append(exc)
        self.stop.set()  # every other thread stops at its next chunk

    def _next(self) -> tuple[_Build, list[_FileResult]] | None:
        with self.lock:
            if self.stop.is_set() or not self.units:
                return None
            b, files = self.units.pop(0)
            results = [_FileResult(FileLoad(b.ds.table, f.name, f.records, self.pkg.member_size(f.name)), f)
                       for f in files]
            for res in results:
                b.results[res.fl.file] = res
            first = b.started is None
            if first:
                b.started = time.monotonic()
        if first:  # the table's first file: its COPY starts once a connection is free
            while not self.slots.acquire(timeout=0.5):
                if self.stop.is_set():
                    return None
            copier = threading.Thread(target=self._copy, args=(b,), name=f"copy-{b.table.code}", daemon=True)
            with self.lock:
                self.copiers.append(copier)
            copier.start()
        return b, results

    def prove(self) -> None:
        try:
            while (unit := self._next()) is not None:
                b, results = unit
                for res in results:
                    _prove_file(self.pkg, b, res, self.chunk_bytes, self.stop)
        except BaseException as exc:
            self._fail(exc)

    def _copy(self, b: _Build) -> None:
        try:
            with psycopg.connect(self.dsn) as conn:
                conn.execute("set client_encoding to 'UTF8'")
                _create_build(conn, b, self.batch_id, self.pkg.index.created)
                cols = sql.SQL(", ").join(map(sql.Identifier, b.payload.columns))
                with conn.cursor() as cur:
                    with cur.copy(sql.SQL("copy {} ({}) from stdin with ({}, freeze)").format(
                            _rel(b.name), cols, sql.SQL(b.payload.options))) as cp:
                        cp.write(b.payload.header)
                        left = len(b.ds.files)
                        while left:
                            item = _get(b.data, self.stop)
                            if isinstance(item, _FileDone):
                                left -= 1
                                continue
                            cp.write(item)
                            if self.throttle:
                                time.sleep(self.throttle)
                        cp.write(b.payload.trailer)
                    b.copied = cur.rowcount
                b.load.files = [b.results[x.name].fl for x in b.ds.files]
                _finish_table(conn, b)
        except BaseException as exc:
            self._fail(exc)
        finally:
            self.slots.release()

    def run(self, provers: int) -> None:
        n = max(1, min(provers, len(self.units)))  # no more provers than units to prove
        threads = [threading.Thread(target=self.prove, name=f"prove-{i}", daemon=True) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for t in list(self.copiers):  # no copier starts once the provers are done
            t.join()
        if self.errors:
            raise self.errors[0]


def _key_and_dedupe(conn: psycopg.Connection, rel: sql.Composed, name: str, b: _Build) -> None:
    key = sql.SQL(", ").join(sql.Identifier(k.lower()) for k in b.table.key)
    add_pk = sql.SQL("alter table {} add constraint {} primary key ({})").format(
        rel, sql.Identifier(name + "_pkey"), key)
    if not b.table.key:
        return
    # Asked first rather than learnt from a failed primary key, whose error the server logs
    # with the duplicated key's values (personal data) in its DETAIL line.
    if not conn.execute(sql.SQL(query("full_load", "has_duplicate_key")).format(rel=rel, key=key)).fetchone()[0]:
        conn.execute(add_pk)
        return
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


def _view_kind(relkind: str) -> str:
    return "materialized view" if relkind == "m" else "view"


def _swap(conn: psycopg.Connection, b: _Build) -> None:
    """Replace ods.<table> by its ``__load`` build, keeping comments, grants and dependent views.

    The old table is renamed ``__old``, not dropped: a drop unlinks its files at commit, while
    the swap still holds every table's exclusive lock (~0.85 s for 10 M person rows). The
    caller drops it after the commit (``_drop_tables``)."""
    table = b.table
    old, new = _rel(table.ods_name), _rel(table.ods_name + LOAD_SUFFIX)
    retired = table.ods_name + OLD_SUFFIX
    exists = conn.execute("select to_regclass(%s)", (f"ods.{table.ods_name}",)).fetchone()[0]
    views, grants = [], []
    if exists:
        views = conn.execute(query("full_load", "dependent_views"), {"rel": f"ods.{table.ods_name}"}).fetchall()
        for rel in [f"ods.{table.ods_name}", *(v[0] for v in views)]:
            grants += [g for (g,) in conn.execute(query("full_load", "grants"), {"rel": rel})]
        conn.execute(sql.SQL("lock table {} in access exclusive mode").format(old))
        for name, kind, _body, _comment, _options, _depth in reversed(views):  # deepest first
            conn.execute(f"drop {_view_kind(kind)} if exists {name} cascade")
        conn.execute(sql.SQL("drop table if exists {}").format(_rel(retired)))  # a crash's leftover
        conn.execute(sql.SQL("alter table {} rename to {}").format(old, sql.Identifier(retired)))
        if table.key:  # index names are per schema: the new key takes this one
            conn.execute(sql.SQL("alter index if exists ods.{} rename to {}").format(
                sql.Identifier(table.ods_name + "_pkey"), sql.Identifier(retired + "_pkey")))
    conn.execute(sql.SQL("alter table {} rename to {}").format(new, sql.Identifier(table.ods_name)))
    if table.key:
        conn.execute(sql.SQL("alter index ods.{} rename to {}").format(
            sql.Identifier(table.ods_name + LOAD_SUFFIX + "_pkey"), sql.Identifier(table.ods_name + "_pkey")))
    for stmt in comment_sql(table):
        conn.execute(stmt)
    for name, kind, body, comment, options, _depth in views:
        what = _view_kind(kind)
        # a view's options travel with it: a security barrier dropped here would let a reader's
        # own conditions run before the view's jurisdiction filter
        with_options = f" with ({', '.join(options)})" if options else ""
        conn.execute(f"create {what} {name}{with_options} as {body}")
        if comment:
            conn.execute(sql.SQL(f"comment on {what} {name} is {{}}").format(sql.Literal(comment)))
    for grant in grants:  # the table's first, then its views' (they exist again by now)
        conn.execute(grant)
    # The analysts' masked view and the group roles' grants, from the classification: a table
    # the swap saw without them (a warehouse initialised before them) gets them here too.
    protect_relation(conn, "ods", table.ods_name)


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
              chunk_bytes: int = CHUNK_BYTES, parallel: int = PARALLEL_FILES,
              before_swap: Callable[[dict[str, TableLoad]], None] | None = None) -> FullLoadResult:
    """Load every DATASET of a valid FULL package; see the module docstring for the steps.

    ``before_swap``: called with the built tables' figures once every build is committed and
    before the swap (the pipeline stores the package's objects there, so that nothing the
    batch needs is left to do by the time its rows are live); when it raises, nothing is
    swapped."""
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
    # Largest first: the long table's COPY starts at once, the small ones fill in beside it.
    builds.sort(key=lambda b: -sum(f.records for f in b.ds.files))
    try:
        with psycopg.connect(dsn) as conn:
            for b in builds:
                if not b.ds.files:  # nothing to COPY: an empty table, swapped in like the others
                    _create_build(conn, b, batch_id, package.index.created)
                    _finish_table(conn, b)
        _Loader(dsn, package, builds, batch_id=batch_id, chunk_bytes=chunk_bytes).run(parallel)
        if before_swap is not None:
            before_swap({b.table.code: b.load for b in builds})
    except BaseException:
        _drop_tables(dsn, [b.name for b in builds])  # a failed load leaves no half-built tables
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
    _drop_tables(dsn, [b.table.ods_name + OLD_SUFFIX for b in builds], cascade=True)
    tables = {b.table.code: b.load for b in sorted(builds, key=lambda b: b.table.seq)}
    rejects = RejectSpool()
    for b in builds:
        rejects.adopt(b.rejects)
    return FullLoadResult(batch_id=batch_id, delivery_id=delivery_id, tables=tables,
                          duration_s=round(time.monotonic() - t0, 3), rejects=rejects)

