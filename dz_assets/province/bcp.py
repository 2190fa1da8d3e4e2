"""Streaming BCP proving: every line of a data file judged in bulk, bad lines kept as rejects.

A file is read in chunks of whole lines (``CHUNK_BYTES``), decoded in one call, split into lines
and fields by polars, and judged by vectorised expressions (``types.suspect_expr``). Only the
rare suspect lines go through the exact per-value check in Python, which names the field and the
reason. What comes out per chunk is a frame of the good lines (one string column per declared
field, empty string = NULL, plus ``_line``) and the rejects; ``full_load`` turns the frame into
COPY text.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import polars as pl

from dz_assets.province.index import Dataset, IndexField
from dz_assets.province.types import OP_FIELD, TS_FIELD, check_value, suspect_expr

# 16 MiB of text per chunk: ~100 k person rows; polars' per-call overhead is amortised well
# before that, and two chunks in flight (prover + COPY) keep the peak far below 1 GiB.
CHUNK_BYTES = 16 << 20
LINE = "_line"


@dataclass(frozen=True)
class Reject:
    table: str
    file: str
    line: int
    field: str | None
    reason: str
    raw: bytes

    def as_dict(self) -> dict:
        return {"table": self.table, "file": self.file, "line": self.line, "field": self.field,
                "reason": self.reason}


@dataclass
class ProvenChunk:
    frame: pl.DataFrame  # good lines: one String column per field of ``row_fields``, and _line
    rejects: list[Reject]
    total: int  # lines read in this chunk


def row_fields(ds: Dataset, kind: str) -> tuple[IndexField, ...]:
    """The fields of a line, in order: INCR lines lead with _OP and _TS."""
    return (OP_FIELD, TS_FIELD, *ds.fields) if kind == "INCR" else ds.fields


def iter_line_chunks(stream: IO[bytes], chunk_bytes: int = CHUNK_BYTES) -> Iterator[tuple[int, bytes]]:
    """(first line number, bytes of whole lines) for the stream; the last line may lack its LF."""
    carry = b""
    line_no = 1
    while True:
        block = stream.read(chunk_bytes)
        if not block:
            break
        data = carry + block
        cut = data.rfind(b"\n")
        if cut < 0:
            carry = data
            continue
        chunk, carry = data[: cut + 1], data[cut + 1:]
        yield line_no, chunk
        line_no += chunk.count(b"\n")
    if carry:
        yield line_no, carry


def _split_lines(data: bytes, first: int, codec: str, ds: Dataset, file: str) -> tuple[pl.DataFrame, list[Reject]]:
    """Lines as text with their numbers. Bytes that do not decode, or NUL, reject their line."""
    try:
        if b"\x00" in data:
            raise UnicodeDecodeError(codec, b"", 0, 0, "NUL")
        text = data.decode(codec)
    except UnicodeDecodeError:
        return _split_lines_slowly(data, first, codec, ds, file)
    if text.endswith("\n"):
        text = text[:-1]
    lines = pl.Series("text", [text]).str.split("\n").explode()
    frame = pl.DataFrame({"text": lines.str.strip_suffix("\r"),
                          LINE: pl.int_range(first, first + len(lines), eager=True)})
    return frame, []


def _split_lines_slowly(data: bytes, first: int, codec: str, ds: Dataset, file: str):
    raw_lines = data.split(b"\n")
    if data.endswith(b"\n"):
        raw_lines.pop()
    texts, numbers, rejects = [], [], []
    for i, raw in enumerate(raw_lines, first):
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if b"\x00" in raw:
            rejects.append(Reject(ds.table, file, i, None, f"NUL byte at column {raw.index(0) + 1}", raw))
            continue
        try:
            texts.append(raw.decode(codec))
        except UnicodeDecodeError as exc:
            rejects.append(Reject(ds.table, file, i, None, f"bytes {raw[exc.start:exc.end]!r} at byte "
                                  f"{exc.start + 1} do not decode as {ds.encoding}", raw))
            continue
        numbers.append(i)
    frame = pl.DataFrame({"text": pl.Series(texts, dtype=pl.String), LINE: pl.Series(numbers, dtype=pl.Int64)})
    return frame, rejects


def _field_of(fields: tuple[IndexField, ...], values: list[str], ds: Dataset, objects) -> tuple[str, str] | None:
    op = values[0] if fields and fields[0].code == "_OP" else None
    for f, v in zip(fields, values, strict=True):
        # An INCR delete needs values only for its key fields.
        required = (f.code in ds.pk or f.code.startswith("_")) if op == "D" else None
        if reason := check_value(f, v, objects=objects, required=required):
            return f.code, reason
    return None


def prove_chunk(data: bytes, first: int, ds: Dataset, file: str, *, kind: str = "FULL",
                objects: frozenset[str] = frozenset()) -> ProvenChunk:
    fields = row_fields(ds, kind)
    names = [f.code for f in fields]
    lines, rejects = _split_lines(data, first, ds.codec, ds, file)
    total = len(lines) + len(rejects)
    counts = lines["text"].str.count_matches("\t", literal=True) + 1
    ragged = lines.filter(counts != len(fields))
    for text, n, line in zip(ragged["text"], counts.filter(counts != len(fields)), ragged[LINE], strict=True):
        rejects.append(Reject(ds.table, file, line, None, f"{n} fields, expected {len(fields)}",
                              text.encode(ds.codec)))
    lines = lines.filter(counts == len(fields))
    if len(fields) == 1:
        frame = lines.rename({"text": names[0]})
    else:
        frame = lines.with_columns(pl.col("text").str.split_exact("\t", len(fields) - 1)
                                   .struct.rename_fields(names)).unnest("text")
    suspect = pl.any_horizontal([suspect_expr(f, f.code, objects=objects) for f in fields])
    frame = frame.with_columns(suspect.alias("_suspect"))
    bad_lines = set()
    for row in frame.filter(pl.col("_suspect")).iter_rows():
        values = list(row[: len(fields)])
        if found := _field_of(fields, values, ds, objects):
            bad_lines.add(row[len(fields)])
            rejects.append(Reject(ds.table, file, row[len(fields)], found[0], found[1],
                                  "\t".join(values).encode(ds.codec, "replace")))
    if bad_lines:
        frame = frame.filter(~pl.col(LINE).is_in(list(bad_lines)))
    rejects.sort(key=lambda r: r.line)
    return ProvenChunk(frame=frame.drop("_suspect"), rejects=rejects, total=total)


def prove_stream(stream: IO[bytes], ds: Dataset, file: str, *, kind: str = "FULL",
                 objects: frozenset[str] = frozenset(), chunk_bytes: int = CHUNK_BYTES) -> Iterator[ProvenChunk]:
    for first, data in iter_line_chunks(stream, chunk_bytes):
        yield prove_chunk(data, first, ds, file, kind=kind, objects=objects)
