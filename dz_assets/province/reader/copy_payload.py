"""COPY data for a FULL load: proven BCP chunks turned into what ``COPY … FROM STDIN`` takes.

Binary COPY straight from Arrow (pgpq) wherever every column has an exact binary form:
PostgreSQL then parses no value, which took a quarter of its ingest CPU (dates, times and the
escapes of the text form). A table with a ``numeric`` column (whose display scale is per value)
takes the text form, which PostgreSQL parses value by value.
"""

from __future__ import annotations

import io

import polars as pl
import pyarrow as pa
from pgpq import ArrowToPostgresBinaryEncoder
from pgpq.encoders import LargeStringEncoderBuilder, StringEncoderBuilder, StringViewEncoderBuilder
from pgpq.schema import Jsonb

from dz_assets.catalog import Table
from dz_assets.province.reader.bcp import LINE
from dz_assets.province.reader.index import Dataset

# Polars' own string layout (views): handed to the encoder without a copy (0.14 CPU-s per million
# person rows less than converting to large_string).
ARROW_LEVEL = pl.CompatLevel.newest()
_JSON_ENCODER = {pa.large_string(): LargeStringEncoderBuilder, pa.string(): StringEncoderBuilder,
                 pa.string_view(): StringViewEncoderBuilder}


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


# Column types with an exact binary COPY form from Arrow; a table with another (numeric: its
# display scale is per value) takes the text form, which PostgreSQL parses value by value.
BINARY_PG_TYPES = frozenset({"text", "date", "timestamptz", "bigint"})
BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00" + bytes(8)  # signature, flags 0, no header extension
BINARY_TRAILER = b"\xff\xff"  # a tuple of -1 fields


def _binary_value(code: str, pg_type: str, escaped: bool) -> pl.Expr:
    c = pl.col(code)
    if pg_type == "date":
        return c.str.to_date("%Y%m%d")  # proven: every value parses
    if pg_type == "timestamptz":  # YYYYMMDDHHMMSS in Beijing time (UTC+8, no daylight saving)
        return (c.str.to_datetime("%Y%m%d%H%M%S", time_unit="us") - pl.duration(hours=8)).dt.replace_time_zone("UTC")
    if pg_type == "bigint":
        return c.str.to_integer()
    return _unescaped(code) if escaped else c


class Payload:
    """How proven chunks of one DATASET become COPY data for ``ods.<table>__load``: the column
    list and COPY options of the table, and a ``FileCopy`` per file (one COPY each)."""

    def __init__(self, ds: Dataset, table: Table) -> None:
        own, self.extra = _columns(ds, table)
        self.own = [(code, table.field(code).column, table.field(code).pg_type) for code in own]
        self.binary = all(t in BINARY_PG_TYPES for _c, _col, t in self.own)
        self.columns = [col for _c, col, _t in self.own] + (["_extra"] if self.extra else []) + ["_line", "_file"]
        self._schema = self._arrow_schema() if self.binary else None

    @property
    def options(self) -> str:
        return "format binary" if self.binary else "format text"

    @property
    def header(self) -> bytes:
        """What a COPY of this table's data starts with (binary: the signature, no flags)."""
        return BINARY_HEADER if self.binary else b""

    @property
    def trailer(self) -> bytes:
        return BINARY_TRAILER if self.binary else b""

    def _extra_json(self) -> pl.Expr:
        return pl.struct([_unescaped(c).alias(c) for c in self.extra]).struct.json_encode().alias("_extra")

    def exprs(self, escaped: bool, file: str) -> list[pl.Expr]:
        tail = [pl.col(LINE), pl.lit(file, pl.String).alias("_file")]
        if self.binary:
            exprs = [_binary_value(code, t, escaped).alias(code) for code, _col, t in self.own]
            return exprs + ([self._extra_json()] if self.extra else []) + tail
        exprs = []
        for code, _col, t in self.own:
            c = pl.col(code)  # BCP escapes are COPY text escapes: PostgreSQL undoes them
            if t == "timestamptz":
                # YYYYMMDDHHMMSS does not cast, YYYYMMDDTHHMMSS+08 (ISO 8601 basic, Beijing) does.
                c = pl.concat_str([c.str.slice(0, 8), pl.lit("T"), c.str.slice(8, 6), pl.lit("+08")])
            exprs.append(c.alias(code))
        if self.extra:  # JSON text inside COPY text: its backslashes doubled
            exprs.append(self._extra_json().str.replace_all("\\", "\\\\", literal=True))
        return exprs + tail

    def _arrow_schema(self) -> pa.Schema:
        """The Arrow schema of every chunk: the expressions over an empty frame."""
        empty = pl.DataFrame(schema={**{c: pl.String for c, _col, _t in self.own},
                                     **{c: pl.String for c in self.extra}, LINE: pl.Int64})
        return empty.select(self.exprs(False, "")).to_arrow(compat_level=ARROW_LEVEL).schema

    def file_copy(self, file: str) -> FileCopy:
        return FileCopy(self, file)


class FileCopy:
    """One file's part of its table's COPY data: ``encode`` per proven chunk, then ``end``.

    A table's files share one COPY (``Payload.header``, every file's parts in any order, then
    ``Payload.trailer``): binary tuples and text lines are self-contained, and each row carries
    its ``_file`` and ``_line``.
    """

    def __init__(self, payload: Payload, file: str) -> None:
        self.payload, self.file = payload, file
        self._encoder = None
        if payload.binary:  # an encoder is good for one stream: header, rows, end
            schema = payload._schema
            encoders = {f.name: ArrowToPostgresBinaryEncoder.infer_encoder(f) for f in schema}
            if payload.extra:
                field = schema.field("_extra")
                encoders["_extra"] = _JSON_ENCODER[field.type].new_with_output(field, Jsonb())
            self._encoder = ArrowToPostgresBinaryEncoder.new_with_encoders(schema, encoders)
            self._encoder.write_header()  # the table's COPY sends its own (Payload.header)

    def encode(self, frame: pl.DataFrame, escaped: bool) -> bytes:
        rows = frame.select(self.payload.exprs(escaped, self.file))
        if self._encoder is None:
            buf = io.BytesIO()
            rows.write_csv(buf, include_header=False, separator="\t", quote_style="never", null_value="\\N")
            return buf.getvalue()
        return b"".join(self._encoder.write_batch(b) for b in rows.to_arrow(compat_level=ARROW_LEVEL).to_batches())

    def end(self) -> bytes:
        """The rows the encoder still holds (less the stream trailer, which the table's COPY sends)."""
        if self._encoder is None:
            return b""
        rest = self._encoder.finish()
        if not rest.endswith(BINARY_TRAILER):
            raise AssertionError(f"{self.file}: binary COPY data does not end with its trailer")
        return rest[: -len(BINARY_TRAILER)]
