"""The FULL load's fast path: chunks of BCP lines proven, flagged and encoded in compiled code.

``_bcpfast.prove_encode`` (C, without the GIL: ~0.6 CPU-s per million person rows, against ~1.45 s
for polars' split, checks, flags and Arrow encoding) walks a chunk once: it splits each line, proves
every value it can (a subset of what ``types.check_value`` accepts), counts the quality flags of
``quality.flag_rules`` and writes the line as a binary COPY tuple. Every other line (an escape, a
stray CR, bytes that are not UTF-8, a wrong field count, a value it cannot prove, any ``file``
value) comes back as suspect, and the reference path (``bcp.prove_chunk``, ``count_flags``,
``FileCopy.encode``) proves those: rejects, their reasons and flags stay the reference's.

It applies where the delivery has no fields beyond the catalogue's (``_extra``) and is UTF-8, in
the table's COPY format (binary; text where a ``numeric`` column has no exact binary form); other
tables take the reference path for every line.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import IO

import polars as pl

from dz_assets.catalog.values import IndexField
from dz_assets.province.reader.bcp import (
    CHUNK_BYTES,
    LINE,
    Reject,
    prove_blocks,
    prove_chunk,
    prove_stream,
    row_fields,
)
from dz_assets.province.reader.copy_payload import FileCopy, Payload
from dz_assets.province.reader.index import Dataset
from dz_assets.province.reader.quality import RULE_KINDS, FlagCounts, FlagRule, count_flags

try:
    from dz_assets.province.reader import _bcpfast
except ImportError:  # not built (a checkout run without ``pip install -e .``): the reference path
    _bcpfast = None

# The C side's numbering (_bcpfast.c: enum check, enum enc).
CHECKS = {"string": 0, "code": 0, "int": 1, "date": 2, "datetime": 3, "idcard": 4, "file": 5, "decimal": 6}
ENCODINGS = {"text": 0, "date": 1, "timestamptz": 2, "bigint": 3, "numeric": 4}  # numeric: COPY text only
MAX_FIELDS, MAX_RULES = 254, 64


def available() -> bool:
    return _bcpfast is not None


@dataclass
class EncodedChunk:
    """One chunk of a file as COPY data for every good line, and what proving it found."""

    data: bytes  # COPY data in the table's format (binary: tuples, no header or trailer)
    good: int  # rows in ``data``
    total: int  # lines read
    flags: FlagCounts
    rejects: list[Reject] = field(default_factory=list)
    frame: pl.DataFrame | None = None  # the rows the reference proved (already in ``data``)


class FastPath:
    """The fast path for one DATASET (``for_dataset`` says whether it applies)."""

    def __init__(self, ds: Dataset, payload: Payload, rules: list[FlagRule], fields: tuple[IndexField, ...]) -> None:
        self.ds, self.payload, self.rules = ds, payload, rules
        enc = {code: pg for code, _col, pg in payload.own}
        self.fields = tuple((CHECKS[f.type], int(f.required), -1 if f.length is None else int(f.length),
                             ENCODINGS[enc[f.code]]) for f in fields)
        index = {f.code: i for i, f in enumerate(fields)}
        self.c_rules = tuple((index[r.field], RULE_KINDS.index(r.kind), _c_arg(r)) for r in rules)

    @classmethod
    def for_dataset(cls, ds: Dataset, payload: Payload, rules: list[FlagRule]) -> FastPath | None:
        if _bcpfast is None or ds.codec != "utf-8" or payload.extra:
            return None
        fields = row_fields(ds, "FULL")
        if [f.code for f in fields] != [code for code, _col, _pg in payload.own]:
            return None  # every line field must be its own column, in order
        if any(f.type not in CHECKS for f in fields) or any(pg not in ENCODINGS for _c, _col, pg in payload.own):
            return None
        if len(fields) > MAX_FIELDS or len(rules) > MAX_RULES:  # the C side's fixed arrays
            return None
        return cls(ds, payload, rules, fields)

    def prove(self, data: bytes, first: int, file: str, fc: FileCopy, objects: frozenset[str]) -> EncodedChunk:
        out, good, total, counts, flagged, suspect, lines = _bcpfast.prove_encode(
            data, first, self.fields, self.c_rules, file.encode(), not self.payload.binary)
        flags = FlagCounts({(r.field, r.flag): [n, sample, file]
                            for r, (n, sample) in zip(self.rules, counts, strict=True) if n}, flagged)
        chunk = EncodedChunk(out, good, total, flags)
        if not lines:
            return chunk
        # The reference proves the suspect lines as a block of their own, numbered 1..k there.
        ref = prove_chunk(suspect, 1, self.ds, file, kind="FULL", objects=objects)
        numbers = pl.Series(LINE, lines, dtype=pl.Int64)
        chunk.rejects = [replace(r, line=lines[r.line - 1]) for r in ref.rejects]
        frame = ref.frame.with_columns(numbers.gather(ref.frame[LINE] - 1).alias(LINE))
        if len(frame):
            chunk.flags.add(count_flags(frame, self.rules, file))
            chunk.data += fc.encode(frame, ref.escaped)
            chunk.good += len(frame)
            chunk.frame = frame
        return chunk



def _c_arg(rule: FlagRule) -> object:
    a = rule.arg
    if rule.kind in ("id_birth", "id_region", "not_in"):  # (earliest, latest), or a set
        return tuple(x.encode() for x in a)
    if rule.kind in ("after", "not_prefix"):
        return a.encode()
    return None


def encoded_chunks(stream: IO[bytes], ds: Dataset, file: str, fc: FileCopy, rules: list[FlagRule],
                   fast: FastPath | None, *, objects: frozenset[str],
                   chunk_bytes: int = CHUNK_BYTES) -> Iterator[EncodedChunk]:
    """A FULL file's chunks as COPY data and findings: the fast path where it applies, else the
    reference path for every line."""
    if fast is not None:
        yield from prove_blocks(stream, ds, lambda data, first: fast.prove(data, first, file, fc, objects),
                                lambda reject: EncodedChunk(b"", 0, 1, FlagCounts({}), [reject]), chunk_bytes,
                                file=file)
        return
    for chunk in prove_stream(stream, ds, file, kind="FULL", objects=objects, chunk_bytes=chunk_bytes):
        data = fc.encode(chunk.frame, chunk.escaped) if len(chunk.frame) else b""
        yield EncodedChunk(data, len(chunk.frame), chunk.total, count_flags(chunk.frame, rules, file),
                           chunk.rejects, chunk.frame)
