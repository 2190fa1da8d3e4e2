"""Change messages of change-messages.md: parsed and judged against the catalogue.

A body is one JSON object or a JSON array of them; an array is judged element by element, so a
bad element is poison on its own and the good ones apply. Values are validated with the package
loader's own checks (``catalog.values.check_value``), so a message and a BCP row accept exactly
the same text forms.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

import orjson

from dz_assets.catalog import Catalogue, Table, load_catalogue
from dz_assets.catalog.values import (
    BEIJING,
    DECIMAL_RE,
    IDCARD_RE,
    INT_RE,
    OPS,
    IndexField,
    check_value,
    parse_date,
    parse_datetime,
)
from dz_assets.ods.changelog import Change

SEQ_MAX = 2**63 - 1


@dataclass(frozen=True)
class Poison:
    code: str  # invalid_json, not_object, unknown_table, missing_<field>, bad_op, bad_seq, bad_ts, bad_value,
    # unjudgeable (judging it raised), write_failed (the database refused it alone), too_large (longer
    # than DZ_CDC_MAX_BODY_BYTES: kept, never parsed)
    reason: str
    element: int | None = None
    msg_id: str | None = None
    table: str | None = None


@dataclass
class Parsed:
    changes: list[Change] = field(default_factory=list)
    poison: list[Poison] = field(default_factory=list)


def _bcp_text(value: str) -> str:
    """A message value in BCP text form: messages carry no escapes, the shared check expects them."""
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def parse_ts(value: object) -> datetime | None:
    """ISO 8601 (an offset-less time is Beijing time) or the package form ``YYYYMMDDHHMMSS``."""
    if not isinstance(value, str):
        return None
    dt = parse_datetime(value) if value.isdigit() else None
    if dt is None:
        try:
            dt = datetime.fromisoformat(value)
        except ValueError:
            return None
    return dt if dt.tzinfo else dt.replace(tzinfo=BEIJING)


# Exact shortcuts for the common good value, with the loader's own primitives: when one says
# "good", check_value would too; anything else goes to check_value for the verdict and its reason.
# They save ~10 µs per change of a five-field table (parse was 18 µs per message, 2 000/batch).
_GOOD = {
    "idcard": lambda v: IDCARD_RE.fullmatch(v) is not None,
    "date": lambda v: parse_date(v) is not None,
    "datetime": lambda v: parse_datetime(v) is not None,
    "int": lambda v: INT_RE.fullmatch(v) is not None and len(v) < 19,
    "decimal": lambda v: DECIMAL_RE.fullmatch(v) is not None,
}


# Rules per table, built once: keyed by the Table object's identity (it stays referenced, so the id
# is never reused). Hashing the frozen Table on every call cost more than judging the change.
_RULES: dict[int, tuple[Table, tuple[tuple[str, IndexField, object], ...]]] = {}


def _rules(table: Table) -> tuple[tuple[str, IndexField, object], ...]:
    hit = _RULES.get(id(table))
    if hit is not None and hit[0] is table:
        return hit[1]
    out = []
    for f in table.fields:
        typ = "string" if f.type == "file" else f.type  # objects travel only in packages
        out.append((f.code, IndexField(code=f.code, type=typ, length=f.length), _GOOD.get(typ)))
    _RULES[id(table)] = (table, tuple(out))
    return _RULES[id(table)][1]


def check_row(table: Table, data: dict[str, str | None]) -> tuple[str, str] | None:
    """(field, reason) of the first value that fails its catalogue type, or None."""
    for code, f, good in _rules(table):
        v = data.get(code)
        if v is None:
            continue
        if good is None:  # string, code: only the length can fail (a message has no escapes)
            if f.length is None or len(v) <= f.length:
                continue
        elif good(v):
            continue
        if reason := check_value(f, _bcp_text(v)):
            return code, reason
    return None


# The common good change, judged without the generic checks' overhead. Per table a compiled
# predicate says "every value is surely good" with the same exact shortcuts as check_row (inlined:
# a call per field cost as much as the check); anything else goes to judge's full path, which gives
# the verdict and the reason. The fast path only ever accepts what the full path accepts.
_FAST: dict[int, tuple[Table, object]] = {}
_OPSET = frozenset(OPS)
_INLINE = {
    "idcard": "idcard(v) is None",
    "date": "parse_date(v) is None",
    "datetime": "parse_datetime(v) is None",
    "int": "int_re(v) is None or len(v) >= 19",
    "decimal": "decimal_re(v) is None",
}


def _row_ok(table: Table):
    hit = _FAST.get(id(table))
    if hit is not None and hit[0] is table:
        return hit[1]
    body = []
    for code, f, good in _rules(table):
        if good is not None:
            cond = _INLINE[f.type]
        elif f.length is not None:
            cond = f"len(v) > {f.length}"
        else:
            continue
        body.append(f"    v = get({code!r})\n    if v is not None and ({cond}):\n        return False\n")
    src = "def row_ok(row):\n    get = row.get\n" + "".join(body) + "    return True\n"
    env = {"idcard": IDCARD_RE.fullmatch, "parse_date": parse_date, "parse_datetime": parse_datetime,
           "int_re": INT_RE.fullmatch, "decimal_re": DECIMAL_RE.fullmatch}
    exec(compile(src, f"<row_ok {table.code}>", "exec"), env)  # noqa: S102 - catalogue field codes, repr-quoted
    _FAST[id(table)] = (table, env["row_ok"])
    return env["row_ok"]


def _fast(obj: dict, cat: Catalogue) -> Change | None:
    """The change ``obj`` when it is plainly good, else None (then :func:`judge` decides)."""
    get = obj.get
    msg_id, op, seq, pk, data = get("msg_id"), get("op"), get("seq"), get("pk"), get("data")
    if type(msg_id) is not str or not msg_id or "\x00" in msg_id or type(op) is not str or op not in _OPSET \
            or type(seq) is not int or not -SEQ_MAX - 1 <= seq <= SEQ_MAX or type(pk) is not dict:
        return None
    table_code = get("table")
    table = cat.tables.get(table_code) if type(table_code) is str else None
    if table is None:
        return None
    ts = parse_ts(get("ts"))
    if ts is None:
        return None
    if data is None:
        row = {}
    elif type(data) is dict:
        row = data  # parsed for us alone: reused as the row
        try:
            text = "\x01".join(data.values())  # TypeError at a null or a non-string
        except TypeError:
            return None
        if "\x00" in text or "\x00" in "".join(data) or "" in data.values():
            return None
    else:
        return None
    key = []
    for k in table.key:  # pk wins over data on key fields
        v = pk.get(k)
        if type(v) is not str or not v or "\x00" in v:
            return None
        row[k] = v
        key.append(v)
    if not _row_ok(table)(row):
        return None
    return Change(msg_id, table.code, op, seq, ts, tuple(key), row)


def _text(v: object) -> str | None:
    """A poison's msg_id/table as storable text (a NUL would fail the poison's own COPY)."""
    return v.replace("\x00", "\\x00") if isinstance(v, str) else None


def _ident(obj: dict, element: int | None) -> dict:
    return {"element": element, "msg_id": _text(obj.get("msg_id")), "table": _text(obj.get("table"))}


def judge(obj: object, cat: Catalogue, element: int | None = None) -> Change | Poison:
    if type(obj) is dict and (c := _fast(obj, cat)) is not None:
        return c
    if not isinstance(obj, dict):
        return Poison("not_object", f"change is a JSON {type(obj).__name__}, not an object", element)
    get = obj.get
    msg_id, op, seq, pk = get("msg_id"), get("op"), get("seq"), get("pk")
    for name, v in (("msg_id", msg_id), ("op", op), ("seq", seq), ("pk", pk)):
        if v is None or v == "":
            return Poison(f"missing_{name}", f"no {name}", **_ident(obj, element))
    if not isinstance(msg_id, str):
        return Poison("missing_msg_id", "msg_id is not a string", **_ident(obj, element))
    if "\x00" in msg_id:  # PostgreSQL text cannot hold it: stored, it would fail the whole batch
        return Poison("bad_value", "msg_id contains a NUL character", **_ident(obj, element))
    table_code = get("table")
    table = cat.tables.get(table_code) if isinstance(table_code, str) else None
    if table is None:
        return Poison("unknown_table", f"table {table_code!r} is not in the catalogue", **_ident(obj, element))
    if op not in OPS:
        return Poison("bad_op", f"op {op!r} is not I, U or D", **_ident(obj, element))
    if type(seq) is not int or not -SEQ_MAX - 1 <= seq <= SEQ_MAX:  # JSON ints only (bool is not one)
        return Poison("bad_seq", f"seq {seq!r} is not an integer below 2^63", **_ident(obj, element))
    ts = parse_ts(get("ts"))
    if ts is None:
        return Poison("bad_ts", f"ts {get('ts')!r} is not a time", **_ident(obj, element))
    data = get("data")
    if not isinstance(pk, dict) or (data is not None and not isinstance(data, dict)):
        return Poison("bad_value", "pk and data must be JSON objects", **_ident(obj, element))
    row: dict[str, str | None] = {}
    if data:
        for k, v in data.items():
            if v is not None and not isinstance(v, str):
                return Poison("bad_value", f"field {k}: {v!r} is not a JSON string", **_ident(obj, element))
            if v and "\x00" in v or "\x00" in k:
                return Poison("bad_value", f"field {k!r}: contains a NUL character", **_ident(obj, element))
            row[k] = v or None  # "" and null both mean NULL
    for k in table.key:  # pk wins over data on key fields
        v = pk.get(k)
        if v is None or v == "":
            return Poison("missing_pk", f"pk lacks key field {k}", **_ident(obj, element))
        if not isinstance(v, str):
            return Poison("bad_value", f"pk field {k}: {v!r} is not a JSON string", **_ident(obj, element))
        if "\x00" in v:
            return Poison("bad_value", f"pk field {k}: contains a NUL character", **_ident(obj, element))
        row[k] = v
    if bad := check_row(table, row):
        return Poison("bad_value", f"field {bad[0]}: {bad[1]}", **_ident(obj, element))
    return Change(msg_id, table.code, op, seq, ts, tuple(row[k] for k in table.key), row)


def loads(body: bytes) -> object:
    """orjson (~2x faster); what it refuses gets the json module's verdict (NaN is then a bad value
    as before), except a lone surrogate escape: that is no Unicode text, it could never be stored
    (it failed the whole micro-batch, again at every redelivery) and is ``invalid_json``.

    Any exception means "not readable JSON" to :func:`parse_body`: the fallback raises
    ``RecursionError`` on a body nested past the interpreter's limit (orjson stops at 1 024 levels)
    and ``ValueError`` on an integer of more than 4 300 digits, not only ``JSONDecodeError``."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc):  # the fallback would only recurse until it fails
            raise ValueError(f"nested too deep: {exc}") from None
        doc = json.loads(body.decode("utf-8"))
        json.dumps(doc, ensure_ascii=False).encode("utf-8")  # UnicodeEncodeError on a lone surrogate
        return doc


def plain_changes(body: bytes, cat: Catalogue) -> list[Change] | None:
    """The changes of a body in which every change is plainly good (the common body), else None:
    then :func:`parse_body` gives the full verdict. Only the fast judge runs, with no ``Parsed``,
    enumeration or ``judge`` per element: on a one-change message that was a third of parsing."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if type(doc) is dict:
        c = _fast(doc, cat)
        return None if c is None else [c]
    if type(doc) is not list:
        return None
    out = []
    for obj in doc:
        if type(obj) is not dict or (c := _fast(obj, cat)) is None:
            return None
        out.append(c)
    return out


def unjudgeable(exc: BaseException, element: int | None) -> Poison:
    return Poison("unjudgeable", f"could not be judged: {type(exc).__name__}: {exc!r}"[:500], element)


def parse_body(body: bytes, cat: Catalogue | None = None) -> Parsed:
    """Every change of a message body, and the poison it holds (with its reason).

    Never raises for what a body holds: one message that could not be judged (a parser's or a
    check's exception, whatever its type) is poison with its reason, or it would stop the stream
    and fail again at every redelivery (change-messages.md, "What dz-hub must guarantee")."""
    cat = cat or load_catalogue()
    out = Parsed()
    try:
        doc = loads(body)
    except Exception as exc:  # noqa: BLE001 - see loads: RecursionError, ValueError, UnicodeError...
        out.poison.append(Poison("invalid_json", f"not UTF-8 JSON: {type(exc).__name__}: {exc}"[:500]))
        return out
    items = list(enumerate(doc)) if isinstance(doc, list) else [(None, doc)]
    for i, obj in items:
        try:
            r = judge(obj, cat, i)
        except Exception as exc:  # noqa: BLE001 - the per-message judgement must always give a verdict
            r = unjudgeable(exc, i)
        (out.changes if isinstance(r, Change) else out.poison).append(r)
    return out
