"""One run of one source: read, transform, and write ``raw_src.<id>`` in one transaction.

Writing is ours, not dlt's destination: every batch goes by binary COPY (from Arrow, pgpq)
into a temporary stage, then one merge by key, the full-sync deletions, the rejects, the files
read and the new cursor commit together or not at all. dlt's postgres destination loads through
its own load packages (files on disk, then a load job per table, its state in tables of its own),
so a failed run could leave part of its rows or its state behind, where the contract wants
nothing; bench/sources_bench.py measures this path against the bulk path.
"""

from __future__ import annotations

import json
import queue
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pyarrow as pa
from pgpq import ArrowToPostgresBinaryEncoder
from psycopg import sql

from dz_assets.db import connect, trap_duplicates
from dz_assets.db.named_sql import NamedSql
from dz_assets.settings import setting
from dz_assets.sources import readers
from dz_assets.sources.config import SourceConfig
from dz_assets.sources.table import ensure_table, protect
from dz_assets.sources.transform import TS, Reject, output_schema, transform

query = NamedSql(__file__)
STAGE_EXTRA = [("_seq", pa.int64()), ("_ok", pa.bool_())]
DIRECT_EXTRA = [("_source", pa.string()), ("_run_id", pa.string()), ("_loaded_at", TS)]


@dataclass(frozen=True)
class RunResult:
    id: str
    run_id: str
    read: int
    loaded: int
    rejected: int
    changed: int
    deleted: int
    duration_s: float
    files_read: int = 0
    files_skipped: int = 0
    merge_s: float = 0.0  # of duration_s: the merge by key and the rest of the commit's writes
    attempts: int = 1

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "read": self.read, "loaded": self.loaded, "rejected": self.rejected,
                "duration_s": round(self.duration_s, 3)}


class SourceRunFailed(RuntimeError):
    """A run that failed after its retries; nothing of it was committed."""


def transient(exc: BaseException) -> bool:
    """Connection refused, a timeout, an HTTP 5xx the client's own retries did not outlast."""
    import requests
    import sqlalchemy.exc

    if isinstance(exc, requests.exceptions.HTTPError):
        return exc.response is not None and exc.response.status_code >= 500
    if isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
        return True
    if isinstance(exc, sqlalchemy.exc.OperationalError | sqlalchemy.exc.InterfaceError):
        return True
    if isinstance(exc, ConnectionError | TimeoutError):
        return True
    if type(exc) is RuntimeError and readers.connectorx_connection_error(exc):
        return True
    cause = exc.__cause__ or exc.__context__
    return cause is not None and cause is not exc and transient(cause)


def run_source(cfg: SourceConfig, *, run_id: str | None = None, backend: str = readers.DEFAULT_BACKEND,
               log: Callable[[str], None] | None = None) -> RunResult:
    """Run ``cfg`` now. A transient failure is retried (``DZ_SOURCES_RETRIES`` attempts in all,
    back-off doubling from ``DZ_SOURCES_RETRY_BACKOFF_S``); the run fails when they are spent,
    recording its error in ``meta.source_status`` and nothing else."""
    run_id = run_id or uuid.uuid4().hex
    attempts = max(1, int(setting("DZ_SOURCES_RETRIES")))
    backoff = float(setting("DZ_SOURCES_RETRY_BACKOFF_S"))
    started = datetime.now(UTC)
    t0 = time.perf_counter()
    for attempt in range(1, attempts + 1):
        try:
            result = _attempt(cfg, run_id, started, t0, backend)
            return RunResult(**{**result.__dict__, "attempts": attempt})
        except Exception as exc:
            again = attempt < attempts and transient(exc)
            if log:
                log(f"source {cfg.id}: attempt {attempt} failed: {type(exc).__name__}: {exc}"
                    + (" (retrying)" if again else ""))
            if again:
                time.sleep(backoff * 2 ** (attempt - 1))
                continue
            _record_failure(cfg, run_id, started, time.perf_counter() - t0, f"{type(exc).__name__}: {exc}")
            raise SourceRunFailed(f"source {cfg.id} failed after {attempt} attempt(s): "
                                  f"{type(exc).__name__}: {exc}") from exc
    raise AssertionError("unreachable")


def _status_params(cfg: SourceConfig, run_id: str, started: datetime) -> dict[str, Any]:
    return {"source": cfg.id, "name": cfg.name, "category": cfg.category, "owner": cfg.owner, "kind": cfg.kind,
            "enabled": cfg.enabled, "schedule": cfg.schedule, "config_file": str(cfg.file),
            "started": started, "run_id": run_id}


def _record_failure(cfg: SourceConfig, run_id: str, started: datetime, duration: float, error: str) -> None:
    try:
        with connect() as conn:
            conn.execute(query("run", "failure"), {**_status_params(cfg, run_id, started),
                                                   "error": error[:4000], "duration_s": duration})
    except psycopg.Error:
        pass  # the warehouse itself is what failed: the run's error is raised all the same


def _attempt(cfg: SourceConfig, run_id: str, started: datetime, t0: float, backend: str) -> RunResult:
    with connect() as conn, conn.transaction(), _RejectSpool(cfg.id, run_id) as rejects:
        # The stage of a large run (~150 bytes a row) stays in memory, and the merge's sort by key
        # too, instead of spilling to temporary files (the defaults are 8 MB and 4 MB).
        conn.execute("set local temp_buffers = '256MB'")
        conn.execute("set local work_mem = '256MB'")
        conn.execute("set local maintenance_work_mem = '256MB'")
        conn.execute(query("run", "lock"), {"source": cfg.id})
        ensure_table(conn, cfg)
        protect(conn, cfg)
        row = conn.execute(query("run", "status_of"), {"source": cfg.id}).fetchone()
        cursor_before = decode_cursor(row[0]) if row and row[0] else None
        state = readers.ReadState()
        schema = output_schema(cfg)
        # An empty target (a first run, or one whose source has held nothing) takes the rows
        # straight, by COPY, and its key is built once afterwards: the merge by key through a
        # stage, a sort and an index probe per row, cost three times the rest of the run.
        direct = conn.execute(query("run", "is_empty", target=_target(cfg))).fetchone()[0]
        if direct:
            pkey = _drop_key(conn, cfg)
            loaded_at = conn.execute("select now()").fetchone()[0]
            out_schema = pa.schema(list(schema) + DIRECT_EXTRA)
            copy_into = _target(cfg)

            def extra(good: pa.Table) -> pa.Table:
                n = good.num_rows
                return (good.append_column("_source", pa.repeat(pa.scalar(cfg.id), n))
                        .append_column("_run_id", pa.repeat(pa.scalar(run_id), n))
                        .append_column("_loaded_at", pa.repeat(pa.scalar(loaded_at, TS), n)))
        else:
            out_schema = pa.schema(list(schema) + STAGE_EXTRA)
            _create_stage(conn, out_schema)
            copy_into = sql.Identifier("pg_temp", "dz_stage")
            seq_from = 0

            def extra(good: pa.Table) -> pa.Table:
                nonlocal seq_from
                n = good.num_rows
                seq = pa.array(range(seq_from, seq_from + n), pa.int64())
                seq_from += n
                return good.append_column("_seq", seq).append_column("_ok", pa.repeat(pa.scalar(True), n))
        read = loaded = 0
        encoder = ArrowToPostgresBinaryEncoder(out_schema)
        batches = _batches(conn, cfg, cursor_before, state, backend)  # its queries before the COPY begins
        with conn.cursor() as cur, cur.copy(sql.SQL("copy {} ({}) from stdin (format binary)").format(
                copy_into, sql.SQL(", ").join(sql.Identifier(f.name) for f in out_schema))) as copy, \
                _Sender(copy) as cp:
            cp.write(encoder.write_header())
            for batch in batches:
                n = batch.table.num_rows
                if n == 0:
                    continue
                out = transform(cfg, batch.table, batch.positions)
                good = extra(out.rows)
                for b in good.to_batches():
                    cp.write(encoder.write_batch(b))
                if out.rejects and not direct:
                    bad_keys = _rejected_keys(out, schema)
                    if bad_keys is not None:
                        for b in bad_keys.to_batches():
                            cp.write(encoder.write_batch(b))
                read += n
                loaded += good.num_rows
                rejects.add(out.rejects)
            cp.write(encoder.finish())
        t_merge = time.perf_counter()
        deleted = 0
        if direct:
            changed = loaded - _key_again(conn, cfg, pkey)
        else:
            changed = _merge(conn, cfg, run_id)
            if cfg.sync == "full":
                deleted = conn.execute(query("run", "mark_deleted", target=_target(cfg)),
                                       {"run_id": run_id}).rowcount
        if rejects.count:
            with conn.cursor() as cur, cur.copy("copy meta.source_reject (source, position, field, reason, record, "
                                                "run_id) from stdin") as cp:
                rejects.copy_to(cp)
        for f in state.files:
            conn.execute(query("run", "file_read"), {"source": cfg.id, "path": f.path, "sha256": f.sha256,
                                                     "bytes": f.bytes, "rows": f.rows, "run_id": run_id})
        cursor_after = cursor_before
        if state.cursor_max is not None and (cursor_before is None or readers._gt(state.cursor_max, cursor_before)):
            cursor_after = state.cursor_max
        duration = time.perf_counter() - t0
        conn.execute(query("run", "success"), {
            **_status_params(cfg, run_id, started), "read": read, "loaded": loaded, "rejected": rejects.count,
            "changed": changed, "deleted": deleted, "duration_s": duration,
            "fuse_entity": cfg.fuse.entity if cfg.fuse else None,
            "fuse_key": cfg.fuse.key.lower() if cfg.fuse else None,
            "fuse_priority": cfg.fuse.priority if cfg.fuse else None,
            "cursor": json.dumps(encode_cursor(cursor_after)) if cursor_after is not None else None})
        merge_s = time.perf_counter() - t_merge
    return RunResult(cfg.id, run_id, read, loaded, rejects.count, changed, deleted, duration,
                     len(state.files), state.files_skipped, merge_s=merge_s)


class _RejectSpool:
    """A run's rejected records, written out as COPY text while the run reads (in memory up to
    8 MB, then in a temporary file) and copied into ``meta.source_reject`` at its end: a source
    with many bad records does not hold them all as Python objects (~1.4 KB each)."""

    def __init__(self, source: str, run_id: str):
        self._head = (_copy_text(source), _copy_text(run_id))
        self._file = tempfile.SpooledTemporaryFile(max_size=8 << 20, mode="w+b")  # noqa: SIM115 (closed on exit)
        self.count = 0

    def __enter__(self) -> _RejectSpool:
        return self

    def __exit__(self, *exc) -> None:
        self._file.close()

    def add(self, rejects: list[Reject]) -> None:
        source, run_id = self._head
        self._file.write("".join(
            f"{source}\t{_copy_text(r.position)}\t{_copy_text(r.field)}\t{_copy_text(r.reason)}\t"
            f"{_copy_text(r.record)}\t{run_id}\n" for r in rejects).encode("utf-8"))
        self.count += len(rejects)

    def copy_to(self, copy) -> None:
        self._file.seek(0)
        while block := self._file.read(1 << 20):
            copy.write(block)


_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_text(value: str | None) -> str:
    """A value in COPY's text format (tab-separated, backslash escapes, \\N for null)."""
    return "\\N" if value is None else value.translate(_COPY_ESCAPES)


class _Sender:
    """Hands a COPY's bytes to the server from a thread of its own, so that reading and
    transforming the next batch go on while the server takes this one; at most ``ahead`` encoded
    batches wait (psycopg's own queued writer lets 128 MB wait, which showed as memory growing
    with the rows when the server was the slower side)."""

    def __init__(self, copy, ahead: int = 2):
        self._copy = copy
        self._queue: queue.Queue = queue.Queue(maxsize=ahead)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._send, name="dz-source-copy", daemon=True)

    def _send(self) -> None:
        while (data := self._queue.get()) is not None:
            if self._error is None:
                try:
                    self._copy.write(data)
                except BaseException as exc:  # handed to the reading thread at its next write
                    self._error = exc

    def write(self, data: bytes) -> None:
        if self._error is not None:
            raise self._error
        self._queue.put(data)

    def __enter__(self) -> _Sender:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._queue.put(None)
        self._thread.join()
        if self._error is not None and exc[0] is None:
            raise self._error


def _drop_key(conn, cfg: SourceConfig) -> str:
    """Drop the empty target's primary key for the load; its name, to build it again."""
    name = conn.execute(query("run", "primary_key"), {"rel": f"raw_src.{cfg.table_name}"}).fetchone()
    name = name[0] if name else f"{cfg.table_name[:58]}_pkey"
    conn.execute(sql.SQL("alter table {} drop constraint if exists {}").format(_target(cfg), sql.Identifier(name)))
    return name


def _key_again(conn, cfg: SourceConfig, pkey: str) -> int:
    """Build the primary key of a target loaded straight; where the run read a key twice, keep
    its last record (the one read last lies last in the table it filled) and build it then. The
    duplicate's error is trapped in the server, so no key value (an ID number in many sources)
    reaches its log. How many rows were dropped."""
    add = sql.SQL("alter table {} add constraint {} primary key (_key)").format(_target(cfg), sql.Identifier(pkey))
    trap_duplicates(conn, add)
    if conn.execute(query("run", "primary_key"), {"rel": f"raw_src.{cfg.table_name}"}).fetchone():
        return 0
    dropped = conn.execute(query("run", "drop_repeated_keys", target=_target(cfg))).rowcount
    conn.execute(add)
    return dropped


def _batches(conn, cfg: SourceConfig, cursor_before, state, backend) -> Iterator[readers.Batch]:
    if cfg.kind in ("mysql", "postgres"):
        since = None
        if cfg.cursor and cursor_before is not None and cfg.sync != "full":
            since = with_lookback(cursor_before)
        return readers.database_batches(cfg, since, state, backend)
    if cfg.kind == "http":
        return readers.http_batches(cfg, state, attempts=max(1, int(setting("DZ_SOURCES_RETRIES"))),
                                    timeout_s=float(setting("DZ_SOURCES_HTTP_TIMEOUT_S")),
                                    backoff_s=float(setting("DZ_SOURCES_RETRY_BACKOFF_S")))
    already = set() if cfg.sync == "full" else {
        (p, s) for p, s in conn.execute(query("run", "files_read"), {"source": cfg.id})}
    return readers.file_batches(cfg, state, already)


def _rejected_keys(out, schema: pa.Schema) -> pa.Table | None:
    """Stage rows for the keys of rejected records: a full sync must not take them as vanished."""
    present = set(out.rows.column("_key").to_pylist())
    missing = [k for k in out.keys.to_pylist() if k not in present]
    if not missing:
        return None
    n = len(missing)
    cols = [pa.nulls(n, f.type) for f in schema if f.name not in ("_key", "_position")]
    return pa.Table.from_arrays(cols + [pa.array(missing, pa.string()), pa.nulls(n, pa.string()),
                                        pa.array([0] * n, pa.int64()), pa.array([False] * n)],
                                schema=pa.schema(list(schema) + STAGE_EXTRA))


def _target(cfg: SourceConfig) -> sql.Composable:
    return sql.Identifier("raw_src", cfg.table_name)


def _create_stage(conn, schema: pa.Schema) -> None:
    types = {pa.string(): "text", pa.date32(): "date", pa.int64(): "bigint", pa.bool_(): "boolean"}
    cols = [sql.SQL("{} {}").format(sql.Identifier(f.name), sql.SQL(types.get(f.type, "timestamptz")))
            for f in schema]
    conn.execute(sql.SQL("create temp table dz_stage ({}) on commit drop").format(sql.SQL(", ").join(cols)))


def _merge(conn, cfg: SourceConfig, run_id: str) -> int:
    """Merge the stage into the target by key: rows whose values changed (or that were marked
    deleted) are updated, new keys inserted, unchanged rows left as they are; how many rows
    were written. A key staged twice keeps its last record. Both writes go by hash joins: the
    single ``insert … on conflict`` it replaces sorted the stage for its ``distinct on`` and
    probed the key's index once per row, twice the time for a million unchanged rows. Runs of
    one source are serialised by their lock, so no other writer adds a key in between."""
    cols = [sql.Identifier(f.column) for f in cfg.fields]
    parts = {"target": _target(cfg), "cols": sql.SQL(", ").join(cols),
             "sets": sql.SQL(", ").join(sql.SQL("{} = s.{}").format(c, c) for c in cols),
             "old": sql.SQL(", ").join(sql.SQL("t.{}").format(c) for c in cols),
             "new": sql.SQL(", ").join(sql.SQL("s.{}").format(c) for c in cols)}
    if conn.execute(query("run", "stage_repeats")).fetchone()[0]:
        conn.execute(query("run", "stage_keep_last"))
    conn.execute("analyze pg_temp.dz_stage")
    params = {"source": cfg.id, "run_id": run_id}
    updated = conn.execute(query("run", "merge_update", **parts), params).rowcount
    return updated + conn.execute(query("run", "merge_insert", **parts), params).rowcount


def reset_source(source_id: str) -> None:
    """Forget a source's cursor and read files: the next run reads everything again."""
    with connect() as conn, conn.transaction():
        conn.execute(query("run", "lock"), {"source": source_id})
        conn.execute(query("run", "reset"), {"source": source_id})
        conn.execute(query("run", "reset_files"), {"source": source_id})


# -- the cursor -------------------------------------------------------------------------------

def encode_cursor(v: Any) -> dict[str, Any]:
    if isinstance(v, datetime):
        return {"type": "datetime", "value": v.isoformat()}
    if isinstance(v, date):
        return {"type": "date", "value": v.isoformat()}
    if isinstance(v, bool):
        return {"type": "str", "value": str(v)}
    if isinstance(v, int):
        return {"type": "int", "value": v}
    if isinstance(v, float | Decimal):
        return {"type": "decimal", "value": str(v)}
    return {"type": "str", "value": str(v)}


def decode_cursor(doc: dict[str, Any]) -> Any:
    t, v = doc.get("type"), doc.get("value")
    if t == "datetime":
        return datetime.fromisoformat(v)
    if t == "date":
        return date.fromisoformat(v)
    if t == "int":
        return int(v)
    if t == "decimal":
        return Decimal(v)
    return v


def with_lookback(v: Any) -> Any:
    """Where the next read starts: at the highest cursor read, less ``DZ_SOURCES_LOOKBACK_S`` for
    a time (a row committed late, with a time a little before the highest already read, is read
    again; the merge leaves unchanged rows untouched)."""
    back = timedelta(seconds=float(setting("DZ_SOURCES_LOOKBACK_S")))
    if isinstance(v, datetime):
        return v - back
    if isinstance(v, date) and back:
        return v - timedelta(days=max(1, back.days))
    return v
