"""Reading a source's records in batches of Arrow tables: databases through dlt's ``sql_table``
(Arrow back-end), HTTP APIs through dlt's REST client and paginators, files with the standard
readers. A reader only reads; the run decides what is written, in one transaction.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from dz_assets.sources import dlt_env
from dz_assets.sources.config import SourceConfig

CHUNK = 50_000  # rows per batch: Arrow and COPY throughput are flat above ~20 000, memory linear


@dataclass
class Batch:
    table: pa.Table
    positions: pa.Array | None = None  # None: placed by key values (database rows)


@dataclass(frozen=True)
class FileRead:
    path: str
    sha256: str
    bytes: int
    rows: int


@dataclass
class ReadState:
    """What a reader learned while reading: the highest cursor value and the files it read."""

    cursor_max: Any = None
    files: list[FileRead] = field(default_factory=list)
    files_skipped: int = 0

    def see_cursor(self, table: pa.Table, cursor: str | None) -> None:
        if cursor is None or cursor not in table.column_names or table.num_rows == 0:
            return
        col = table.column(cursor)
        try:
            top = pc.max(col).as_py()
        except (pa.ArrowNotImplementedError, pa.ArrowInvalid):
            top = max((v for v in col.to_pylist() if v is not None), default=None, key=str)
        if top is not None and (self.cursor_max is None or _gt(top, self.cursor_max)):
            self.cursor_max = top


def _gt(a, b) -> bool:
    try:
        return a > b
    except TypeError:
        return str(a) > str(b)


def needed_columns(cfg: SourceConfig) -> list[str]:
    names = list(dict.fromkeys([*cfg.key, *(f.source for f in cfg.fields), *([cfg.cursor] if cfg.cursor else [])]))
    return names


# -- databases --------------------------------------------------------------------------------

# ConnectorX (Rust) decodes the wire protocol straight into Arrow, streamed batch by batch. The
# other back-ends of dlt's sql_table go through a Python driver: PyMySQL, pure Python, read 33 k
# rows/s of the benchmark's table where ConnectorX read 500 k, and psycopg2 104 k against 330 k.
# ConnectorX's plain "arrow" return materialises the whole result (1.1 GB for a million rows), so
# it is asked for "arrow_stream": memory stays flat at a batch.
DEFAULT_BACKEND = "connectorx"


def sqlalchemy_url(cfg: SourceConfig) -> str:
    url = cfg.url()
    scheme, rest = url.split("://", 1)
    if scheme in ("mysql", "mariadb"):
        return "mysql+pymysql://" + rest
    if scheme in ("postgresql", "postgres"):
        return "postgresql+psycopg2://" + rest
    return url


def plain_url(cfg: SourceConfig) -> str:
    """The connection URL without SQLAlchemy's driver part, as ConnectorX takes it (what dlt's
    own ConnectorX loader derives from its engine)."""
    import sqlalchemy as sa

    url = sa.engine.make_url(sqlalchemy_url(cfg))
    return url._replace(drivername=url.get_backend_name()).render_as_string(hide_password=False)


def database_batches(cfg: SourceConfig, since: Any, state: ReadState,
                     backend: str = DEFAULT_BACKEND) -> Iterator[Batch]:
    """Rows of a table through dlt's ``sql_table``, or of a query, where the cursor is at or
    after ``since`` (None: every row)."""
    if cfg.table:
        yield from _dlt_table(cfg, since, state, backend)
    else:
        yield from _query(cfg, since, state, backend)


def _dlt_table(cfg: SourceConfig, since: Any, state: ReadState, backend: str) -> Iterator[Batch]:
    dlt_env()
    from dlt.sources.sql_database import sql_table

    def adapt(query, table):
        if since is not None and cfg.cursor:
            return query.where(table.c[cfg.cursor] >= since)
        return query

    schema, _, name = cfg.table.rpartition(".")
    backend_kwargs = {"pyarrow": {"tz": "UTC"},
                      "connectorx": {"return_type": "arrow_stream", "batch_size": CHUNK}}.get(backend, {})
    resource = sql_table(credentials=sqlalchemy_url(cfg), table=name, schema=schema or None, backend=backend,
                         chunk_size=CHUNK, reflection_level="full", query_adapter_callback=adapt,
                         included_columns=[c for c in needed_columns(cfg)], backend_kwargs=backend_kwargs)
    for item in resource:
        table = item if isinstance(item, pa.Table) else pa.Table.from_pylist(item)
        state.see_cursor(table, cfg.cursor)
        yield Batch(table)


def _query(cfg: SourceConfig, since: Any, state: ReadState, backend: str) -> Iterator[Batch]:
    import sqlalchemy as sa

    text = f"select * from ({cfg.query}) dz_q"
    where = f" where dz_q.{_quote(cfg, cfg.cursor)} >= " if since is not None and cfg.cursor else None
    if backend == "connectorx":
        import connectorx as cx

        # ConnectorX's pool waits 30 s on a refused connection before it fails, logging each try;
        # a connection of the source's own driver first fails at once, as a retryable error.
        engine = sa.create_engine(sqlalchemy_url(cfg))
        try:
            with engine.connect():
                pass
        finally:
            engine.dispose()
        if where:  # ConnectorX takes SQL text: the cursor goes in as a literal the source's dialect renders
            text += where + str(sa.literal(since).compile(dialect=engine.dialect,
                                                          compile_kwargs={"literal_binds": True}))
        for batch in cx.read_sql(plain_url(cfg), text, return_type="arrow_stream", batch_size=CHUNK):
            table = pa.Table.from_batches([batch])
            state.see_cursor(table, cfg.cursor)
            yield Batch(table)
        return
    params = {}
    if where:
        text += where + ":since"
        params["since"] = since
    engine = sa.create_engine(sqlalchemy_url(cfg))
    try:
        with engine.connect() as conn:
            result = conn.execution_options(yield_per=CHUNK).execute(sa.text(text), params)
            names = list(result.keys())
            for rows in result.partitions(CHUNK):
                cols = list(zip(*rows, strict=True)) if rows else [[] for _ in names]
                table = pa.table({n: _array(list(c)) for n, c in zip(names, cols, strict=True)})
                state.see_cursor(table, cfg.cursor)
                yield Batch(table)
    finally:
        engine.dispose()


def connectorx_connection_error(exc: RuntimeError) -> bool:
    """ConnectorX raises a bare RuntimeError; these are its words for a connection that failed."""
    text = str(exc).lower()
    return any(w in text for w in ("waiting for connection", "connection refused", "connection reset",
                                   "broken pipe", "server closed the connection", "lost connection"))


def _quote(cfg: SourceConfig, name: str) -> str:
    return f"`{name}`" if cfg.kind == "mysql" else f'"{name}"'


# -- HTTP -------------------------------------------------------------------------------------

def http_batches(cfg: SourceConfig, state: ReadState, *, attempts: int, timeout_s: float,
                 backoff_s: float) -> Iterator[Batch]:
    """Every page of an HTTP JSON API through dlt's REST client: its paginators, and its session
    retrying a 5xx or a timeout ``attempts`` times with exponential back-off."""
    dlt_env()
    from dlt.sources.helpers.requests import Client
    from dlt.sources.helpers.rest_client import RESTClient

    session = Client(request_timeout=timeout_s, request_max_attempts=attempts,
                     request_backoff_factor=backoff_s, request_max_retry_delay=30,
                     raise_for_status=False).session
    client = RESTClient(base_url=cfg.connection["url"], headers=cfg.headers(), paginator=_paginator(cfg),
                        session=session)
    params = {}
    if cfg.paging and cfg.paging.style in ("page", "offset"):
        params[cfg.paging.size_param] = cfg.paging.size
    names = needed_columns(cfg)
    pages = client.paginate("", params=params, data_selector="$", hooks={"response": [_json_or_raise]})
    for page_no, page in enumerate(pages, start=1):
        body = page[0] if len(page) == 1 and not isinstance(page[0], list) else list(page)
        records = dig(body, cfg.records) if cfg.records else body
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise ValueError(f"{cfg.file}: page {page_no} of {page.response.url}: "
                             f"{cfg.records or 'the page'} is not a list of records")
        table = records_table(records, names)
        state.see_cursor(table, cfg.cursor)
        yield Batch(table, pa.array([f"page={page_no},index={i}" for i in range(len(records))], pa.string()))


def _json_or_raise(response, *args, **kwargs) -> None:
    """A page that is not JSON fails the run, naming the page's URL."""
    if response.status_code < 400:
        try:
            response.json()
        except ValueError as exc:
            raise ValueError(f"malformed page {response.url}: not JSON ({exc})") from None


def _paginator(cfg: SourceConfig):
    from dlt.sources.helpers.rest_client.paginators import (
        JSONLinkPaginator,
        OffsetPaginator,
        PageNumberPaginator,
        SinglePagePaginator,
    )

    p = cfg.paging
    if p is None:
        return SinglePagePaginator()
    if p.style == "next":
        return JSONLinkPaginator(next_url_path=p.path)
    records, size = cfg.records, p.size

    def short(data) -> bool:  # the contract's end: a page with fewer than `size` records
        rows = data
        if isinstance(data, list) and len(data) == 1 and isinstance(data[0], dict):
            rows = dig(data[0], records) if records else data[0]
        return not rows or len(rows) < size

    if p.style == "page":
        class Pages(PageNumberPaginator):
            def _stop_after_this_page(self, data=None) -> bool:
                return short(data)

        return Pages(base_page=1, page=1, page_param=p.param, total_path=None)

    class Offsets(OffsetPaginator):
        def _stop_after_this_page(self, data=None) -> bool:
            return short(data)

    return Offsets(limit=size, offset=0, offset_param=p.param, limit_param=p.size_param, total_path=None)


def dig(doc: Any, path: str | None) -> Any:
    """The value at a dotted path (``data.items``) of a JSON document, None when absent."""
    if not path:
        return doc
    for part in path.split("."):
        if isinstance(doc, dict):
            doc = doc.get(part)
        elif isinstance(doc, list) and part.isdigit() and int(part) < len(doc):
            doc = doc[int(part)]
        else:
            return None
    return doc


def records_table(records: list[dict], names: list[str]) -> pa.Table:
    """The named fields of JSON-like records as an Arrow table (a dotted name reaches inside)."""
    cols = {}
    for n in names:
        values = [r.get(n) if n in r else dig(r, n) if "." in n else None for r in records]
        cols[n] = _array(values)
    return pa.table(cols) if cols else pa.table({"_": pa.nulls(len(records))})


def _array(values: list) -> pa.Array:
    """A column of Python values: dates and times as such, anything else as text."""
    kinds = {type(v) for v in values if v is not None}
    if kinds and kinds <= {datetime}:
        return pa.array(values, pa.timestamp("us", tz="UTC") if any(v.tzinfo for v in values if v) else
                        pa.timestamp("us"))
    if kinds and kinds <= {date}:
        return pa.array(values, pa.date32())
    return pa.array([None if v is None else v if isinstance(v, str) else _scalar_text(v) for v in values],
                    pa.string())


def _scalar_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, dict | list):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, datetime | date):
        return v.isoformat(sep=" ") if isinstance(v, datetime) else v.isoformat()
    return str(v)


# -- files ------------------------------------------------------------------------------------

def file_paths(cfg: SourceConfig) -> list[Path]:
    from dz_assets.settings import get_settings

    # ${DZ_STATE_DIR} is the resolved state folder even when the variable is unset (its default)
    raw = cfg.connection["path"].replace("${DZ_STATE_DIR}", str(get_settings().state_dir))
    pattern = os.path.expandvars(os.path.expanduser(raw))
    if not os.path.isabs(pattern):
        pattern = str(cfg.file.parent / pattern)
    import glob

    return sorted(Path(p) for p in glob.glob(pattern) if os.path.isfile(p))


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_batches(cfg: SourceConfig, state: ReadState, already: set[tuple[str, str]]) -> Iterator[Batch]:
    """Rows of every file the glob matches that is not in ``already`` ((path, sha256) pairs)."""
    names = needed_columns(cfg)
    for path in file_paths(cfg):
        digest = sha256_of(path)
        if (str(path), digest) in already:
            state.files_skipped += 1
            continue
        rows = 0
        reader = {"csv": _csv_rows, "xlsx": _xlsx_rows, "json": _json_rows}[cfg.format]
        for records, numbers in reader(cfg, path):
            rows += len(records)
            table = records_table(records, names)
            state.see_cursor(table, cfg.cursor)
            yield Batch(table, pa.array([f"{path.name}:{n}" for n in numbers], pa.string()))
        state.files.append(FileRead(str(path), digest, path.stat().st_size, rows))


def _csv_rows(cfg: SourceConfig, path: Path):
    enc = "utf-8-sig" if cfg.encoding == "utf-8" else cfg.encoding
    with open(path, encoding=enc, newline="") as fh:
        reader = csv.reader(fh, delimiter=cfg.delimiter)
        header = [h.strip() for h in next(reader, [])]
        records, numbers = [], []
        for row in reader:
            if not any(row):
                continue
            records.append(dict(zip(header, row, strict=False)))
            numbers.append(reader.line_num)
            if len(records) >= CHUNK:
                yield records, numbers
                records, numbers = [], []
        if records:
            yield records, numbers


def _xlsx_rows(cfg: SourceConfig, path: Path):
    from openpyxl import load_workbook

    wb = load_workbook(path, read_only=True, data_only=True)
    try:
        ws = wb.worksheets[0]
        rows = ws.iter_rows(values_only=True)
        header = [str(h).strip() if h is not None else "" for h in next(rows, ())]
        records, numbers = [], []
        for n, row in enumerate(rows, start=2):
            if row is None or all(v is None for v in row):
                continue
            records.append(dict(zip(header, row, strict=False)))
            numbers.append(n)
            if len(records) >= CHUNK:
                yield records, numbers
                records, numbers = [], []
        if records:
            yield records, numbers
    finally:
        wb.close()


def _json_rows(cfg: SourceConfig, path: Path):
    doc = json.loads(path.read_text(encoding="utf-8-sig"))
    records = dig(doc, cfg.records) if cfg.records else doc
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ValueError(f"{path}: {cfg.records or 'the file'} is not a list of records")
    for start in range(0, len(records), CHUNK):
        part = records[start:start + CHUNK]
        yield part, list(range(start + 1, start + 1 + len(part)))
