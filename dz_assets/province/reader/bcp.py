"""Streaming BCP proving: every line of a data file judged in bulk, bad lines kept as rejects.

A file is read in chunks of whole lines (``CHUNK_BYTES``), split into fields by polars' CSV
reader (no quoting, tab-separated, all text; GB18030 is transcoded first), and judged by
vectorised expressions (``types.suspect_expr``). Only the rare suspect lines go through the exact
per-value check in Python, which names the field and the reason. Chunks with a NUL byte or bytes
that do not decode take a line-by-line path that rejects just those lines. What comes out per chunk is a frame of the good lines (one string column per declared
field, None = NULL, plus ``_line``) and the rejects; ``full_load`` turns the frame into
COPY text.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from typing import IO, TypeVar

import numpy as np
import polars as pl

from dz_assets.catalog import load_catalogue
from dz_assets.catalog.values import OP_FIELD, TS_FIELD, IndexField, check_value, suspect_expr
from dz_assets.province.reader.index import Dataset
from dz_assets.settings import get_package_limits

# 8 MiB of text per chunk: ~50 k person rows. polars' per-call overhead (~1 ms) is amortised
# well before that; smaller chunks start COPY sooner, and a few in flight stay far below 1 GiB.
CHUNK_BYTES = 8 << 20
LINE = "_line"
UTF8_BOM = b"\xef\xbb\xbf"
T = TypeVar("T")

# The longest row's bytes, per value: a character is at most 4 bytes in UTF-8 and in GB18030 (an
# escape, 2 bytes, stands for one character). ``int``: 20 digits and sign, with room for leading
# zeros; ``file``: a zip member name (at most 65 535 bytes), every byte escaped at worst.
VALUE_BYTES = {"date": 8, "datetime": 14, "idcard": 18, "int": 64, "op": 1, "file": 2 * 65535}
CHAR_BYTES = 4
LINE_MARGIN = 1024  # BOM, CR, and slack over the sum
# Whatever an index declares (length="100000000"), a line is never held longer than this.
LINE_CEILING = 64 << 20
REJECT_HEAD = 4096  # bytes of an over-long line kept with its reject


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
    frame: pl.DataFrame  # good lines: a String column per field of ``row_fields`` (null = empty), _line
    rejects: list[Reject]
    total: int  # lines read in this chunk
    escaped: bool = True  # some value may hold a BCP escape (the chunk has a backslash)


def row_fields(ds: Dataset, kind: str) -> tuple[IndexField, ...]:
    """The fields of a line, in order: INCR lines lead with _OP and _TS.

    Key fields (the DATASET's pk and the catalogue's key) are required whatever the FIELD says:
    a row without its key cannot be kept, and would fail the table's primary key after COPY.
    """
    table = load_catalogue().tables.get(ds.table)
    keys = set(ds.pk) | set(table.key if table else ())
    fields = tuple(replace(f, required=True) if f.code in keys and not f.required else f for f in ds.fields)
    return (OP_FIELD, TS_FIELD, *fields) if kind == "INCR" else fields


def line_bound(fields: tuple[IndexField, ...], max_value_bytes: int) -> int:
    """The most bytes a line of these fields can take and still be a good row (its LF not
    counted): each value's widest text (``VALUE_BYTES``; a string or code of ``length``
    characters, 4 bytes each; ``max_value_bytes`` where type and length bound nothing), the tabs
    between them, and ``LINE_MARGIN``. A longer line is rejected as soon as it passes this."""
    total = LINE_MARGIN + max(len(fields) - 1, 0)
    for f in fields:
        if f.type in VALUE_BYTES:
            total += VALUE_BYTES[f.type]
        elif f.type in ("string", "code") and f.length is not None and f.length >= 0:
            total += CHAR_BYTES * f.length
        else:
            total += max_value_bytes
    return min(total, LINE_CEILING)


@dataclass(frozen=True)
class LongLine:
    """A line longer than its bound, taken out of the blocks: ``head`` is its first bytes just
    past the bound (the rest was skipped unread, up to its LF)."""

    head: bytes
    bound: int

    def reject(self, ds: Dataset, file: str, line: int, names: list[str]) -> Reject:
        i = self.head.count(b"\t", 0, self.bound + 1)
        where = f"in field {names[i]}" if i < len(names) else f"after its {len(names)} fields"
        return Reject(ds.table, file, line, names[i] if i < len(names) else None,
                      f"line longer than {self.bound} bytes, the longest a {ds.table} row can be: it passes "
                      f"that at byte {self.bound + 1}, {where}; the rest of the line was not read",
                      self.head[:REJECT_HEAD])


def count_byte(data: bytes, byte: bytes) -> int:
    """Occurrences of one byte: numpy compares 8 MiB in ~2 ms, ``bytes.count`` takes ~6."""
    return int(np.count_nonzero(np.frombuffer(data, np.uint8) == byte[0]))


def _take_long_lines(data: bytes, bound: int) -> Iterator[bytes | LongLine]:
    """``data`` (whole lines; the last may lack its LF), each line longer than ``bound`` taken out.
    Such a line covers a whole aligned window of ``bound // 2`` bytes without a LF, so only one
    ``find`` per window is made (a few dozen per 8 MiB block), not one per line."""
    w = max(bound // 2, 1)
    pos = 0  # data before this is yielded
    k = 0  # the next window: data[k*w:(k+1)*w]
    while (k + 1) * w <= len(data):
        if data.find(b"\n", k * w, (k + 1) * w) >= 0:
            k += 1
            continue
        start = data.rfind(b"\n", 0, k * w) + 1
        nl = data.find(b"\n", (k + 1) * w)
        end = nl if nl >= 0 else len(data)
        if end - start > bound:
            if start > pos:
                yield data[pos:start]
            yield LongLine(data[start:start + bound + 1], bound)
            pos = end + 1
        k = end // w + 1
    if pos == 0:
        yield data
    elif pos < len(data):
        yield data[pos:]


def iter_line_blocks(stream: IO[bytes], chunk_bytes: int = CHUNK_BYTES,
                     max_line: int | None = None) -> Iterator[bytes | LongLine]:
    """Blocks of whole lines (about ``chunk_bytes`` each); the last line may lack its LF.

    ``max_line``: each line longer than this (its LF not counted) comes as a ``LongLine`` in its
    place, found once the bound is passed; the rest of it is read and dropped, never held. What
    is held is at most one block and ``max_line`` bytes, whatever the stream.
    """
    carry = b""
    skipping = False  # inside a LongLine: drop bytes up to its LF
    while True:
        block = stream.read(chunk_bytes)
        if not block:
            break
        if skipping:
            nl = block.find(b"\n")
            if nl < 0:
                continue
            skipping = False
            block = block[nl + 1:]
        data = carry + block if carry else block
        cut = data.rfind(b"\n")
        if cut < 0:
            carry = data
        else:
            whole, carry = (data, b"") if cut == len(data) - 1 else (data[: cut + 1], data[cut + 1:])
            if max_line is None:
                yield whole
            else:
                yield from _take_long_lines(whole, max_line)
        if max_line is not None and len(carry) > max_line:
            yield LongLine(carry[: max_line + 1], max_line)
            carry, skipping = b"", True
    if carry:
        yield carry


def iter_line_chunks(stream: IO[bytes], chunk_bytes: int = CHUNK_BYTES) -> Iterator[tuple[int, bytes]]:
    """(first line number, bytes of whole lines) for the stream; the last line may lack its LF."""
    line_no = 1
    for chunk in iter_line_blocks(stream, chunk_bytes):
        yield line_no, chunk
        line_no += chunk.count(b"\n")


def _read(data: bytes, schema: dict, separator: str, **kw) -> pl.DataFrame:
    return pl.read_csv(io.BytesIO(data), separator=separator, has_header=False, quote_char=None,
                       comment_prefix=None, schema=schema, empty_string_is_null=True, **kw)


def _fast_frames(data: bytes, codec: str, names: list[str]) -> pl.DataFrame | None:
    """Fields (NULL for empty), each line's field count ``_n`` and, where a count may be wrong, its
    text ``_text``, read by polars' multi-threaded CSV reader; None when the chunk needs the
    line-by-line path (NUL, undecodable bytes)."""
    if b"\x00" in data:
        return None
    if codec != "utf-8":
        try:
            data = data.decode(codec).encode("utf-8")
        except UnicodeDecodeError:
            return None
    n_lines = count_byte(data, b"\n") + (not data.endswith(b"\n"))
    try:
        # polars raises on a line with too many fields, so when it does not, and the chunk holds
        # exactly (fields - 1) tabs per line, no line can have too few either: the common chunk
        # is read once (~0.1 s per 45 MiB, a third of splitting lines with str.split).
        fields = _read(data, {n: pl.String for n in names}, "\t", missing_columns="insert")
        if len(fields) == n_lines and count_byte(data, b"\t") == n_lines * (len(names) - 1):
            return fields.with_columns(pl.lit(len(names)).alias("_n"), pl.lit(None, pl.String).alias("_text"))
    except pl.exceptions.PolarsError:  # a line with too many fields, or invalid UTF-8
        pass
    try:
        # Some line has a wrong field count: read whole lines too (NUL never occurs, so no line
        # splits) for each line's tab count and its text.
        lines = _read(data, {"text": pl.String}, "\x00")["text"]
        fields = _read(data, {n: pl.String for n in [*names, "_x"]}, "\t", missing_columns="insert",
                       truncate_ragged_lines=True)
    except pl.exceptions.PolarsError:  # invalid UTF-8 (or a reader surprise: the slow path decides)
        return None
    if len(lines) != n_lines or len(fields) != n_lines:
        return None
    counts = lines.str.count_matches("\t", literal=True).fill_null(0) + 1
    return fields.drop("_x").with_columns(lines.alias("_text"), counts.alias("_n"))


def _split_lines_slowly(data: bytes, first: int, codec: str, ds: Dataset, file: str, names: list[str]):
    raw_lines = data.split(b"\n")
    if data.endswith(b"\n"):
        raw_lines.pop()

    def field_at(raw: bytes, pos: int) -> str | None:  # the field holding byte ``pos`` of the line
        i = raw.count(b"\t", 0, pos)
        return names[i] if i < len(names) else None

    texts, numbers, rejects = [], [], []
    for i, raw in enumerate(raw_lines, first):
        if raw.endswith(b"\r"):
            raw = raw[:-1]
        if b"\x00" in raw:
            pos = raw.index(0)
            rejects.append(Reject(ds.table, file, i, field_at(raw, pos), f"NUL byte at byte {pos + 1}", raw))
            continue
        try:
            texts.append(raw.decode(codec))
        except UnicodeDecodeError as exc:
            rejects.append(Reject(ds.table, file, i, field_at(raw, exc.start), f"bytes {raw[exc.start:exc.end]!r} "
                                  f"at byte {exc.start + 1} do not decode as {ds.encoding}", raw))
            continue
        numbers.append(i)
    frame = pl.DataFrame({"text": pl.Series(texts, dtype=pl.String), LINE: pl.Series(numbers, dtype=pl.Int64)})
    return frame, rejects


def _field_of(fields: tuple[IndexField, ...], values: list[str], ds: Dataset, objects) -> tuple[str, str] | None:
    op = values[0] if fields and fields[0].code == "_OP" else None
    keys = set(ds.pk)
    if op == "D" and (table := load_catalogue().tables.get(ds.table)) is not None:
        keys.update(table.key)  # the row is applied by the catalogue's key: without it, it cannot be
    for f, v in zip(fields, values, strict=True):
        # An INCR delete needs values only for its key fields (the DATASET's and the catalogue's).
        required = (f.code in keys or f.code.startswith("_")) if op == "D" else None
        if reason := check_value(f, v, objects=objects, required=required):
            return f.code, reason
    return None


def _frame_slowly(data: bytes, first: int, ds: Dataset, file: str, names: list[str]):
    lines, rejects = _split_lines_slowly(data, first, ds.codec, ds, file, names)
    counts = lines["text"].str.count_matches("\t", literal=True) + 1
    parts = lines["text"].str.split_exact("\t", max(len(names) - 1, 0)).struct.rename_fields(names)
    frame = lines.select(parts.alias("p"), pl.col(LINE)).unnest("p").with_columns(
        [pl.when(pl.col(n) == "").then(None).otherwise(pl.col(n)).alias(n) for n in names])
    return frame.with_columns(lines["text"].alias("_text"), counts.alias("_n")), rejects


def prove_chunk(data: bytes, first: int, ds: Dataset, file: str, *, kind: str = "FULL",
                objects: frozenset[str] = frozenset()) -> ProvenChunk:
    fields = row_fields(ds, kind)
    names = [f.code for f in fields]
    frame = _fast_frames(data, ds.codec, names)
    if frame is not None:
        frame = frame.with_columns(pl.int_range(first, first + len(frame), dtype=pl.Int64).alias(LINE))
        rejects: list[Reject] = []
    else:
        frame, rejects = _frame_slowly(data, first, ds, file, names)
    total = len(frame) + len(rejects)
    n = len(fields)
    # Lines with a wrong field count, or a value the vectorised checks suspect: the common chunk
    # has none, and the few it has are judged one by one.
    # In UTF-8 a 0x5C or 0x0D byte is always that character; in GB18030 0x5C may trail a character.
    escapes = ds.codec != "utf-8" or b"\\" in data or b"\r" in data
    suspect = pl.any_horizontal([pl.col("_n") != n, *(suspect_expr(f, f.code, objects=objects, escapes=escapes)
                                                       for f in fields)])
    bad_lines = []
    for row in frame.filter(suspect).select([*names, LINE, "_text", "_n"]).iter_rows():
        values, (line, text, count) = [v or "" for v in row[:n]], row[n:]
        if count != n:
            found: tuple[str | None, str] | None = (None, f"{count} fields, expected {n}")
        else:
            found = _field_of(fields, values, ds, objects)
            text = text if text is not None else "\t".join(values)  # the line, less its CR
        if found:
            bad_lines.append(line)
            rejects.append(Reject(ds.table, file, line, found[0], found[1], (text or "").encode(ds.codec, "replace")))
    if bad_lines:
        frame = frame.filter(~pl.col(LINE).is_in(bad_lines))
    rejects.sort(key=lambda r: r.line)
    return ProvenChunk(frame=frame.select([*names, LINE]), rejects=rejects, total=total, escaped=escapes)


def prove_blocks(stream: IO[bytes], ds: Dataset, prove: Callable[[bytes, int], T], too_long: Callable[[Reject], T],
                 chunk_bytes: int = CHUNK_BYTES, *, file: str, kind: str = "FULL") -> Iterator[T]:
    """``prove(block, first line number)`` over the stream's blocks of whole lines, numbered from
    1 after the lines each earlier block held (its result's ``total``), a UTF-8 BOM dropped.

    A line longer than any row of the DATASET can be (``line_bound``) never reaches ``prove``:
    ``too_long(its reject)`` stands for it (a result of one line, rejected), and memory stays
    bounded whatever the line's length."""
    fields = row_fields(ds, kind)
    names = [f.code for f in fields]
    bound = line_bound(fields, get_package_limits().max_value_bytes)
    first = 1
    for data in iter_line_blocks(stream, chunk_bytes, bound):
        if isinstance(data, LongLine):
            chunk = too_long(data.reject(ds, file, first, names))
        else:
            if first == 1 and ds.codec == "utf-8" and data.startswith(UTF8_BOM):
                data = data[len(UTF8_BOM):]  # Windows exporters write one; it is not part of the first key
            chunk = prove(data, first)
        first += chunk.total  # every line of the block, good or rejected: no second count of its LFs
        yield chunk


def rejected_line(reject: Reject, names: list[str]) -> ProvenChunk:
    """A chunk of one line, rejected: no rows."""
    frame = pl.DataFrame(schema={**{n: pl.String for n in names}, LINE: pl.Int64})
    return ProvenChunk(frame=frame, rejects=[reject], total=1, escaped=False)


def prove_stream(stream: IO[bytes], ds: Dataset, file: str, *, kind: str = "FULL",
                 objects: frozenset[str] = frozenset(), chunk_bytes: int = CHUNK_BYTES) -> Iterator[ProvenChunk]:
    names = [f.code for f in row_fields(ds, kind)]
    return prove_blocks(stream, ds, lambda data, first: prove_chunk(data, first, ds, file, kind=kind, objects=objects),
                        lambda reject: rejected_line(reject, names), chunk_bytes, file=file, kind=kind)
