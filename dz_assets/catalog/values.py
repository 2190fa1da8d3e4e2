"""Row-level value checks of the package contract (package-format.md, "Data files").

Two forms of the same rules:

- :func:`check_value` is the reference: exact, per value, in Python. It judges the few suspect
  lines and names the field and the reason of a reject.
- :func:`suspect_expr` is a vectorised polars expression that is true for every value
  :func:`check_value` would reject (and for a few more, e.g. any value with a backslash). It
  runs over whole chunks in Rust, so the common good line is never touched by Python: at
  10 M rows, a Python call per field would cost ~100 s, the expressions ~2 s.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

import polars as pl

# Times without an offset (package fields, _TS, messages' ts) are Beijing time.
BEIJING = timezone(timedelta(hours=8))


@dataclass(frozen=True)
class IndexField:
    """A field as a package index (or a change message, through the catalogue) declares it."""

    code: str
    type: str
    name: str = ""
    length: int | None = None
    required: bool = False
    dict: str | None = None


INT_RE = re.compile(r"-?[0-9]+")
DECIMAL_RE = re.compile(r"-?[0-9]+(\.[0-9]+)?")
IDCARD_RE = re.compile(r"[0-9]{17}[0-9Xx]")
BAD_ESCAPE_RE = re.compile(r"\\(?:[^tnr\\]|$)")
ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "\\": "\\"}
INT64 = (-(2**63), 2**63 - 1)
OPS = ("I", "U", "D")

# INCR rows lead with these two undeclared fields.
OP_FIELD = IndexField(code="_OP", type="op", required=True)
TS_FIELD = IndexField(code="_TS", type="datetime", required=True)


def unescape(value: str) -> str:
    """BCP text to the value (the caller has checked the escapes)."""
    if "\\" not in value:
        return value
    return re.sub(r"\\(.)", lambda m: ESCAPES[m.group(1)], value)


def parse_date(text: str) -> date | None:
    if len(text) != 8 or not text.isdigit():
        return None
    try:
        return date(int(text[:4]), int(text[4:6]), int(text[6:]))
    except ValueError:
        return None


def parse_datetime(text: str) -> datetime | None:
    if len(text) != 14 or not text.isdigit():
        return None
    try:
        return datetime(int(text[:4]), int(text[4:6]), int(text[6:8]),
                        int(text[8:10]), int(text[10:12]), int(text[12:]))
    except ValueError:
        return None


def check_value(f: IndexField, raw: str, *, objects: frozenset[str] | set[str] = frozenset(),
                required: bool | None = None) -> str | None:
    """Why ``raw`` (a field's BCP text) is not a good value of ``f``, or None when it is."""
    if "\r" in raw:  # COPY would end the row there; only a CR right before the LF is dropped
        return "raw carriage return inside the line (write it as \\r)"
    m = BAD_ESCAPE_RE.search(raw.replace("\\\\", ""))
    if m:
        return f"bad escape {m.group(0)!r} (only \\t \\n \\r \\\\ are allowed)"
    if raw == "":
        return "required field is empty (NULL)" if (f.required if required is None else required) else None
    value = unescape(raw)
    t = f.type
    if t in ("string", "code") and f.length is not None and len(value) > f.length:
        return f"{len(value)} characters, longer than its length {f.length}"
    if t == "int":
        if not INT_RE.fullmatch(value):
            return f"{value!r} is not an int"
        if not INT64[0] <= int(value) <= INT64[1]:
            return f"{value} is outside 64 bits"
    elif t == "decimal" and not DECIMAL_RE.fullmatch(value):
        return f"{value!r} is not a decimal"
    elif t == "date" and parse_date(value) is None:
        return f"{value!r} is not a date YYYYMMDD"
    elif t == "datetime" and parse_datetime(value) is None:
        return f"{value!r} is not a datetime YYYYMMDDHHMMSS"
    elif t == "idcard" and not IDCARD_RE.fullmatch(value):
        return f"{value!r} is not an ID number (17 digits and a digit or X)"
    elif t == "file" and value not in objects:
        return f"{value!r} has no entry in files.tsv"
    elif t == "op" and value not in OPS:
        return f"{value!r} is not an operation (I, U or D)"
    return None


def suspect_expr(f: IndexField, col: str, *, objects: frozenset[str] | set[str] = frozenset(),
                 required: bool | None = None, escapes: bool = True) -> pl.Expr:
    """True where :func:`check_value` might reject the value (never false where it would).

    ``escapes=False``: the caller knows no value holds a backslash or a CR (the chunk's bytes
    have none), and the per-value scan for them is skipped (a tenth of proving a person row).
    """
    c = pl.col(col)  # NULL where the BCP field is empty
    req = f.required if required is None else required
    empty = c.is_null()
    # A backslash or a raw CR anywhere makes the value suspect: escapes are rare, the exact check is in Python.
    out = c.str.contains(r"[\\\r]") if escapes else pl.lit(False)
    if req:
        out = out | empty
    t = f.type
    if t in ("string", "code") and f.length is not None:
        out = out | (c.str.len_chars() > f.length)
    if t == "int":
        out = out | (~empty & ~c.str.contains(r"^-?[0-9]{1,18}$"))
    elif t == "decimal":
        out = out | (~empty & ~c.str.contains(r"^-?[0-9]+(\.[0-9]+)?$"))
    elif t == "date":
        out = out | (~empty & (c.str.strptime(pl.Date, "%Y%m%d", strict=False).is_null()
                               | ~c.str.contains(r"^[0-9]{8}$") | c.str.starts_with("0000")))
    elif t == "datetime":
        out = out | (~empty & (c.str.strptime(pl.Datetime, "%Y%m%d%H%M%S", strict=False).is_null()
                               | ~c.str.contains(r"^[0-9]{14}$") | c.str.starts_with("0000")
                               | (c.str.slice(12, 2) >= "60")))
    elif t == "idcard":
        out = out | (~empty & ~c.str.contains(r"^[0-9]{17}[0-9Xx]$"))
    elif t == "file":
        out = out | (~empty & ~c.is_in(list(objects)))
    elif t == "op":
        out = out | ~c.is_in(list(OPS))
    return out.fill_null(False) | (empty if req else pl.lit(False))
