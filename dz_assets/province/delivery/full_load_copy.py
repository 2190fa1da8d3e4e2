"""The FULL loader's COPY engine: prover threads turn a package's data files into binary COPY
data, one connection per table COPYs it ``FREEZE`` into the table's ``__load`` build, keys it
(dropping duplicated keys, the last occurrence kept) and checks its balance per file. The swap and
the bookkeeping are the caller's (``full_load``)."""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass, field

import polars as pl
import psycopg
from psycopg import sql

from dz_assets.catalog import Table
from dz_assets.db.named_sql import NamedSql
from dz_assets.ods.swap import create_load_table, load_name, ods_table, seal_load_table, try_primary_key
from dz_assets.province.delivery.full_load_figures import FileLoad, LoadCheckFailed, TableLoad
from dz_assets.province.reader.copy_payload import Payload
from dz_assets.province.reader.fastpath import FastPath, encoded_chunks
from dz_assets.province.reader.index import Dataset, IndexFile
from dz_assets.province.reader.package import MemberCheck, MemberCheckFailed, Package
from dz_assets.province.reader.quality import FlagCounts
from dz_assets.province.reader.reject_spool import RejectSpool
from dz_assets.settings import get_settings

query = NamedSql(__file__)

MAX_COPIERS = 4  # tables COPYing or being keyed at once (each one connection)


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
class TableBuild:
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
        return load_name(self.table)


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


def _prove_file(pkg: Package, b: TableBuild, res: _FileResult, chunk_bytes: int, stop: threading.Event) -> None:
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


def finish_table(conn: psycopg.Connection, b: TableBuild) -> None:
    """Every file of the table is in: merge what they found (FILE order), add the key (dropping
    duplicates), check the balance per file, and commit the build."""
    for f in b.ds.files:
        res = b.results[f.name]
        b.rejects.adopt(res.rejects)
        b.flags.add(res.flags)
        b.refs.update(res.refs)  # a later file's occurrence of a key wins, as in the table
    if (sent := sum(r.sent for r in b.results.values())) != b.copied:
        raise LoadCheckFailed(f"{b.table.code}: COPY took {b.copied} rows, {sent} were sent")
    _dedupe(conn, b)
    seal_load_table(conn, b.table)
    for fl in b.load.files:
        fl.loaded = b.results[fl.file].sent - fl.duplicate
        if fl.declared != fl.loaded + fl.rejected + fl.duplicate:
            raise LoadCheckFailed(f"{fl.file}: declared {fl.declared} != loaded {fl.loaded} + rejected "
                                  f"{fl.rejected} + duplicate {fl.duplicate}")
    conn.commit()
    _summarise(b, time.monotonic() - (b.started or time.monotonic()))


class Loader:
    """Each table has one connection that creates its ``__load`` table and, in the same
    transaction, COPYs every file into it ``FREEZE`` and builds its key: no later pass (the key
    build, the first dbt run) sets hint bits on millions of fresh rows and writes the pages
    again (the key build of 10 M rows took ~1.4 s less), vacuum has nothing to freeze, and only
    a committed, keyed table is ever visible. ``provers`` threads feed the tables, largest
    first. A fast-path table is proven by one prover, file after file: it proves ~1.1 M person
    rows/s, more than the table's one COPY backend takes (~0.4–0.5 M/s here), and its rows reach the
    heap in FILE order. A reference-path table's files go to whichever prover is free. The
    thread that COPYs a table builds its key while the provers go on to the next."""

    def __init__(self, dsn: str, pkg: Package, builds: list[TableBuild], *, batch_id: str, chunk_bytes: int) -> None:
        self.dsn, self.pkg, self.batch_id, self.chunk_bytes = dsn, pkg, batch_id, chunk_bytes
        self.units: list[tuple[TableBuild, list]] = []
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

    def _next(self) -> tuple[TableBuild, list[_FileResult]] | None:
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

    def _copy(self, b: TableBuild) -> None:
        try:
            with psycopg.connect(self.dsn) as conn:
                conn.execute("set client_encoding to 'UTF8'")
                create_load_table(conn, b.table, self.batch_id, self.pkg.index.created)
                cols = sql.SQL(", ").join(map(sql.Identifier, b.payload.columns))
                with conn.cursor() as cur:
                    with cur.copy(sql.SQL("copy {} ({}) from stdin with ({}, freeze)").format(
                            ods_table(b.name), cols, sql.SQL(b.payload.options))) as cp:
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
                finish_table(conn, b)
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


def _dedupe(conn: psycopg.Connection, b: TableBuild) -> None:
    """A key delivered twice keeps its last occurrence (FILE order, then line); the others are
    deleted from the build and counted per file, before the build gets its key."""
    if not b.table.key:
        return
    rel = ods_table(b.name)
    key = sql.SQL(", ").join(sql.Identifier(k.lower()) for k in b.table.key)
    # The key is tried first: a build without duplicates (nearly every one) is keyed in one pass.
    if try_primary_key(conn, b.table):
        return
    gone = conn.execute(sql.SQL(query("full_load", "dedupe")).format(rel=rel, key=key),
                        {"files": [f.name for f in b.ds.files]}).fetchall()
    per_file = dict(gone)
    for fl in b.load.files:
        fl.duplicate = per_file.get(fl.file, 0)


def _summarise(b: TableBuild, duration: float) -> None:
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


