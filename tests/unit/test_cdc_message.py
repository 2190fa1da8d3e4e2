"""Change messages judged against the contract (change-messages.md): every poison kind has its
reason, arrays are judged element by element, pk wins over data, NULL forms agree."""

from __future__ import annotations

import json

import pytest

from dz_assets.catalog import load_catalogue
from dz_assets.cdc.message import parse_body, plain_changes

KEY = "R51170200000000101"


def body(**over):
    b = {"msg_id": "m1", "table": "HZ_HJRKJBXX", "op": "U", "seq": 5, "ts": "2026-11-20T10:15:30+08:00",
         "pk": {"RYBH": KEY}, "data": {"RYBH": KEY, "XM": "张三", "CSRQ": "19900101"}}
    for k, v in over.items():
        if v is ...:
            b.pop(k)
        else:
            b[k] = v
    return b


def one(b) -> tuple:
    p = parse_body(json.dumps(b, ensure_ascii=False).encode() if not isinstance(b, bytes) else b)
    return p.changes, p.poison


def test_good_change():
    changes, poison = one(body())
    assert not poison
    (c,) = changes
    assert (c.table, c.op, c.seq, c.key, c.data["XM"]) == ("HZ_HJRKJBXX", "U", 5, (KEY,), "张三")
    assert c.ts.utcoffset().total_seconds() == 8 * 3600


@pytest.mark.parametrize("b, code", [
    (b'{"msg_id": "x", "table": ', "invalid_json"),
    (body(table="XX_WZBXX"), "unknown_table"),
    (body(msg_id=...), "missing_msg_id"),
    (body(op=...), "missing_op"),
    (body(seq=...), "missing_seq"),
    (body(pk=...), "missing_pk"),
    (body(pk={"XM": "x"}), "missing_pk"),
    (body(op="X"), "bad_op"),
    (body(seq="12"), "bad_seq"),
    (body(seq=2**63), "bad_seq"),
    (body(ts="yesterday"), "bad_ts"),
    (body(data={"RYBH": KEY, "CSRQ": "2026-13-45"}), "bad_value"),
    (body(data={"RYBH": KEY, "CSRQ": "20260230"}), "bad_value"),
    (body(data={"RYBH": KEY, "XM": 12}), "bad_value"),
    # Unstorable text: PostgreSQL refuses NUL and lone surrogates, and one such change stored with
    # the others failed the whole micro-batch at every redelivery (the consumer never got past it).
    (body(data={"RYBH": KEY, "XM": "a\x00b"}), "bad_value"),
    (body(data={"RYBH": KEY, "X\x00": "a"}), "bad_value"),
    (body(pk={"RYBH": "R\x00"}), "bad_value"),
    (body(msg_id="m\x00"), "bad_value"),
    (b'{"msg_id": "m1", "table": "HZ_HJRKJBXX", "op": "U", "seq": 5, "ts": "2026-11-20T10:15:30+08:00", '
     b'"pk": {"RYBH": "R1"}, "data": {"XM": "\\ud800"}}', "invalid_json"),
    (body(seq=float("nan")), "bad_seq"),
])
def test_each_poison_kind_has_its_reason(b, code):
    changes, poison = one(b)
    assert not changes
    assert [p.code for p in poison] == [code]
    assert poison[0].reason
    raw = json.dumps(b, ensure_ascii=False).encode() if not isinstance(b, bytes) else b
    assert plain_changes(raw, load_catalogue()) is None  # the consumer's shortcut leaves it to parse_body


def test_poison_identity_is_storable_text():
    _, poison = one(body(msg_id="m\x00", table="T\x00"))
    assert [(p.code, p.msg_id, p.table) for p in poison] == [("bad_value", "m\\x00", "T\\x00")]
    _, poison = one(body(table="T\x00"))
    assert [(p.code, p.table) for p in poison] == [("unknown_table", "T\\x00")]


def test_array_judged_element_by_element():
    changes, poison = one([body(msg_id="a"), body(msg_id="b", table="NOPE"), body(msg_id="c", seq=6)])
    assert [c.msg_id for c in changes] == ["a", "c"]
    assert [(p.code, p.element, p.msg_id) for p in poison] == [("unknown_table", 1, "b")]


def test_pk_wins_and_null_forms():
    changes, _ = one(body(data={"RYBH": "OTHER", "XM": "", "CSRQ": None}))
    (c,) = changes
    assert c.data["RYBH"] == KEY and c.data["XM"] is None and c.data["CSRQ"] is None


def test_delete_needs_no_data_and_unknown_fields_are_kept():
    changes, poison = one(body(op="D", data=...))
    assert not poison and changes[0].data == {"RYBH": KEY}
    changes, _ = one(body(data={"RYBH": KEY, "NEWFIELD": "x"}))
    assert changes[0].data["NEWFIELD"] == "x"


def test_backslash_and_tab_are_plain_text_in_messages():
    changes, poison = one(body(data={"RYBH": KEY, "XM": "a\\b\tc"}))
    assert not poison and changes[0].data["XM"] == "a\\b\tc"


@pytest.mark.parametrize("b", [
    body(), [body(msg_id="a"), body(msg_id="b", op="D", data=...)], [],
    body(data={"RYBH": KEY, "XM": "a\\b\tc", "NEWFIELD": "x"}),
])
def test_plain_changes_are_what_parse_body_gives(b):
    raw = json.dumps(b, ensure_ascii=False).encode()
    assert plain_changes(raw, load_catalogue()) == parse_body(raw).changes


@pytest.mark.parametrize("b", [
    body(data={"RYBH": KEY, "XM": "", "CSRQ": None}),  # good, but "" and null become NULL: parse_body's work
    [body(msg_id="a"), body(msg_id="b", table="NOPE")],  # one bad element: the whole body is judged
    b'"text"', b"[1]",
])
def test_plain_changes_leave_anything_else_to_parse_body(b):
    raw = json.dumps(b, ensure_ascii=False).encode() if not isinstance(b, bytes) else b
    assert plain_changes(raw, load_catalogue()) is None
