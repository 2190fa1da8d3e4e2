"""The configured fields of a source, applied to a batch of source records, column by column.

A batch is an Arrow table of the source's own columns. Each target field is taken from its
source column and passed through its rules, ``map`` and date parsing with Arrow's compute kernels
(a million rows in well under a second; a Python call per value costs 5-10 times that), so
that only the ID-number rule and the bad records themselves cost Python per value. A record
that breaks a rule is not loaded: it becomes a :class:`Reject` naming its position, the target
field and the reason, with the raw record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from dz_assets.catalog.idcard import WEIGHTS, check_digit
from dz_assets.sources.config import FieldSpec, SourceConfig

KEY_SEP = "\x1f"  # joins the values of a composite key in _key (a unit separator: absent from data)
BEIJING = timedelta(hours=8)
TS = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Reject:
    position: str | None
    field: str | None
    reason: str
    record: str  # the raw record as JSON


@dataclass(frozen=True)
class Transformed:
    """The good rows (target columns, then _key, _position) and the rejected records."""

    rows: pa.Table
    rejects: list[Reject]
    keys: pa.Array  # every record's key that has one, good or rejected (full sync: what the source still holds)


def output_schema(cfg: SourceConfig) -> pa.Schema:
    types = {"text": pa.string(), "date": pa.date32(), "timestamptz": TS}
    return pa.schema([(f.column, types[f.sql_type]) for f in cfg.fields]
                     + [("_key", pa.string()), ("_position", pa.string())])


def transform(cfg: SourceConfig, batch: pa.Table, positions: pa.Array | None = None) -> Transformed:
    """Apply ``cfg``'s fields to ``batch``. ``positions``: each record's position (http: page and
    index; file: file and line); database records are placed by their key values."""
    n = batch.num_rows
    bad = [None] * n  # first failure per row: (field, reason)
    nbad = 0

    def flag(mask: pa.Array, field: str, reason_of) -> None:
        nonlocal nbad
        mask = pc.fill_null(mask, False)
        if not pc.any(mask).as_py():
            return
        for i in pc.indices_nonzero(mask).to_pylist():
            if bad[i] is None:
                bad[i] = (field, reason_of(i))
                nbad += 1

    key_cols = []
    for k in cfg.key:
        col = _text(_column(batch, k))
        blank = pc.or_kleene(pc.is_null(col), pc.equal(pc.utf8_trim_whitespace(col), ""))
        flag(blank, k, lambda _i, k=k: f"missing key {k}")
        key_cols.append(col)
    if len(key_cols) == 1:
        keys = key_cols[0]
    else:
        keys = pc.binary_join_element_wise(*key_cols, KEY_SEP, null_handling="emit_null")
    if positions is None:
        parts = [pc.binary_join_element_wise(pa.scalar(f"{k}="), c, "", null_handling="replace",
                                             null_replacement="")
                 for k, c in zip(cfg.key, key_cols, strict=True)]
        positions = parts[0] if len(parts) == 1 else pc.binary_join_element_wise(*parts, ",")
    elif cfg.key:
        keyed = pc.binary_join_element_wise(
            positions, pa.scalar(" "),
            pc.binary_join_element_wise(*[pc.binary_join_element_wise(pa.scalar(f"{k}="), c, "",
                                                                      null_handling="replace",
                                                                      null_replacement="")
                                          for k, c in zip(cfg.key, key_cols, strict=True)], ","), "")
        positions = keyed

    out = []
    for fs in cfg.fields:
        values, errors = _field(fs, _column(batch, fs.source))
        for mask, reason_of in errors:
            flag(mask, fs.target, reason_of)
        out.append(values)

    rejects: list[Reject] = []
    if nbad:
        pos = positions.to_pylist()
        for i, b in enumerate(bad):
            if b is not None:
                rec = batch.slice(i, 1).to_pylist()[0]
                rejects.append(Reject(pos[i], b[0], b[1], json.dumps(rec, ensure_ascii=False, default=str)))
    table = pa.Table.from_arrays(out + [keys, positions], schema=output_schema(cfg))
    all_keys = pc.drop_null(keys)
    if nbad:
        table = table.filter(pa.array([b is None for b in bad]))
    return Transformed(table, rejects, all_keys)


def _column(batch: pa.Table, name: str) -> pa.Array:
    if name in batch.column_names:
        col = batch.column(name)
        return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    return pa.nulls(batch.num_rows, pa.string())


def _text(col: pa.Array) -> pa.Array:
    """A column as text: strings as they are, numbers and times in their usual written form."""
    t = col.type
    if pa.types.is_string(t):
        return col
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return col.cast(pa.string())
    if pa.types.is_null(t):
        return col.cast(pa.string())
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return pa.array([None if v is None else v.decode("utf-8", "replace") for v in col.to_pylist()],
                        pa.string())
    if pa.types.is_timestamp(t):
        return pa.array([None if v is None else v.isoformat(sep=" ") for v in col.to_pylist()], pa.string())
    if pa.types.is_decimal(t):
        return pa.array([None if v is None else format(v, "f") for v in col.to_pylist()], pa.string())
    if pa.types.is_floating(t):
        return pa.array([None if v is None else (str(int(v)) if v.is_integer() else repr(v))
                         for v in col.to_pylist()], pa.string())
    try:
        return col.cast(pa.string())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return pa.array([None if v is None else _jsonish(v) for v in col.to_pylist()], pa.string())


def _jsonish(v) -> str:
    return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str)


def _field(fs: FieldSpec, col: pa.Array):
    """(values, [(bad mask, reason of row i)]) of one target field."""
    errors = []
    if fs.date or fs.datetime:
        t = col.type
        if pa.types.is_date(t) or pa.types.is_timestamp(t):  # a DATE/DATETIME column: taken as Beijing time
            return _typed_time(fs, col), errors
    col = _text(col)
    for rule in fs.rules:
        if rule == "trim":
            col = pc.utf8_trim_whitespace(col)
        elif rule == "upper":
            col = pc.utf8_upper(col)
        elif rule == "lower":
            col = pc.utf8_lower(col)
        elif rule == "nullif_empty":
            col = pc.if_else(pc.equal(col, ""), pa.scalar(None, pa.string()), col)
        elif rule == "idcard":
            before = col
            col = idcard_column(col)
            wrong = pc.and_(pc.is_valid(before), pc.is_null(col))
            errors.append((wrong, lambda i, before=before: f"not an ID number: {before[i].as_py()!r}"))
    if fs.map is not None:
        keys = pa.array(list(fs.map), pa.string())
        idx = pc.index_in(col, value_set=keys)
        mapped = pc.take(pa.array(list(fs.map.values()), pa.string()), idx)
        missing = pc.and_(pc.is_null(idx), pc.is_valid(col))
        if fs.map_default is not None:
            mapped = pc.if_else(missing, pa.scalar(fs.map_default), mapped)
        else:
            values = col
            errors.append((missing, lambda i, values=values: f"value {values[i].as_py()!r} is not in map"))
        col = mapped
    if fs.date or fs.datetime:
        col, wrong = _parse_time(fs, col)
        errors.append(wrong)
    return col, errors


def _typed_time(fs: FieldSpec, col: pa.Array) -> pa.Array:
    if fs.date:
        return col.cast(pa.date32()) if pa.types.is_date(col.type) else pc.cast(col, pa.date32())
    if pa.types.is_date(col.type):
        col = col.cast(pa.timestamp("us"))
    if col.type.tz is not None:
        return col.cast(TS)
    return pc.subtract(col.cast(pa.timestamp("us")), pa.scalar(BEIJING, pa.duration("us"))).cast(TS)


def _parse_time(fs: FieldSpec, col: pa.Array):
    fmt = fs.date or fs.datetime
    col = pc.utf8_trim_whitespace(col)
    col = pc.if_else(pc.equal(col, ""), pa.scalar(None, pa.string()), col)
    values = col.to_pylist()
    try:  # Arrow's strptime knows the usual directives; Python's is the reference for the rest
        parsed = pc.strptime(col, format=fmt, unit="us", error_is_null=True)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        parsed = pa.array([_py_parse(v, fmt) for v in values], pa.timestamp("us"))
    # Arrow refuses some forms Python reads (unpadded numbers) and takes days a month lacks
    # (2024-02-30): a value that does not write back to itself is judged by Python's strptime.
    try:
        same = pc.equal(pc.strftime(parsed, format=fmt), col)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        same = pa.nulls(len(col), pa.bool_())
    doubt = pc.and_(pc.is_valid(col), pc.invert(pc.fill_null(same, False)))
    if pc.any(doubt).as_py():
        retry = [_py_parse(v, fmt) if d else None for v, d in zip(values, doubt.to_pylist(), strict=True)]
        parsed = pc.if_else(doubt, pa.array(retry, pa.timestamp("us")), parsed)
    failed = pc.and_(pc.is_null(parsed), pc.is_valid(col))
    what = "date" if fs.date else "datetime"
    wrong = (failed, lambda i: f"not a {what} in {fmt}: {values[i]!r}")
    if fs.date:
        return parsed.cast(pa.date32()), wrong
    return pc.subtract(parsed, pa.scalar(BEIJING, pa.duration("us"))).cast(TS), wrong


def _py_parse(v: str | None, fmt: str) -> datetime | None:
    if v is None:
        return None
    try:
        return datetime.strptime(v, fmt)
    except ValueError:
        return None


_WEIGHTS = np.array(WEIGHTS, dtype=np.int64)
_CHECK = np.frombuffer(b"10X98765432", dtype=np.uint8)
_DAYS = np.array([31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])


def idcard_column(col: pa.Array) -> pa.Array:
    """:func:`normalise_idcard` over a column: the 18-character numbers (nearly all) are judged
    in numpy (check digit, birth date) over the column's bytes, the rest one by one; null where
    the value is no ID number."""
    col = pc.utf8_upper(pc.utf8_trim_whitespace(col))
    fast = pc.fill_null(pc.match_substring_regex(col, r"^[0-9]{17}[0-9X]$"), False)
    idx = pc.indices_nonzero(fast)
    good = np.zeros(len(col), dtype=bool)
    if len(idx):
        cand = pc.take(col, idx)
        cand = (cand.combine_chunks() if isinstance(cand, pa.ChunkedArray) else cand).cast(pa.string())
        start = int(np.frombuffer(cand.buffers()[1], dtype=np.int32)[cand.offset])
        raw = np.frombuffer(cand.buffers()[2], dtype=np.uint8, count=18 * len(cand), offset=start)
        m18 = raw.reshape(-1, 18)
        digits = m18[:, :17].astype(np.int64) - 48
        ok = _CHECK[(digits @ _WEIGHTS) % 11] == m18[:, 17]
        y = digits[:, 6] * 1000 + digits[:, 7] * 100 + digits[:, 8] * 10 + digits[:, 9]
        mo = digits[:, 10] * 10 + digits[:, 11]
        d = digits[:, 12] * 10 + digits[:, 13]
        leap = ((y % 4 == 0) & (y % 100 != 0)) | (y % 400 == 0)
        dim = _DAYS[np.clip(mo, 1, 12) - 1] + ((mo == 2) & leap)
        ok &= (mo >= 1) & (mo <= 12) & (d >= 1) & (d <= dim) & (y >= 1)
        good[idx.to_numpy()] = ok
    out = pc.if_else(pa.array(good), col, pa.scalar(None, pa.string()))
    rest = pc.indices_nonzero(pc.and_(pc.is_valid(col), pc.invert(fast))).to_pylist()
    if rest:  # 15-digit numbers to convert, and the wrong ones
        values = out.to_pylist()
        for i in rest:
            values[i] = normalise_idcard(col[i].as_py())
        out = pa.array(values, pa.string())
    return out


def normalise_idcard(v: str) -> str | None:
    """An 18-character ID number with an upper-case X; a 15-digit (first-generation) number is
    converted (century 19 inserted, check digit added); None for anything else."""
    v = v.strip().upper()
    if len(v) == 15 and v.isdigit():
        first17 = v[:6] + "19" + v[6:]
        return first17 + check_digit(first17) if _birth_ok(first17) else None
    if len(v) != 18 or not v[:17].isdigit() or v[17] not in "0123456789X":
        return None
    total = sum(int(c) * w for c, w in zip(v[:17], WEIGHTS, strict=True))
    if "10X98765432"[total % 11] != v[17] or not _birth_ok(v[:17]):
        return None
    return v


def _birth_ok(first17: str) -> bool:
    try:
        date(int(first17[6:10]), int(first17[10:12]), int(first17[12:14]))
    except ValueError:
        return False
    return True
