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


# Hostile bodies: whatever the parser or a value check does with them (RecursionError,
# ValueError on a 5 000-digit integer, a lone surrogate, NaN...), judging one message ends in a
# change or a poison with its reason, never in an exception that stops the stream.
GOOD = json.dumps(body()).encode()
HOSTILE = {
    "deep_array_2000": b"[" * 2000 + b"]" * 2000,
    "deep_object_2000": b'{"a":' * 2000 + b"1" + b"}" * 2000,
    "deep_array_100000": b"[" * 100_000 + b"]" * 100_000,
    "deep_unclosed_100000": b"[" * 100_000,
    "deep_in_data": json.dumps(body(data={"XM": "x"})).encode().replace(b'"x"', b"[" * 5000 + b"]" * 5000),
    "deep_element": b"[" + GOOD + b"," + b"[" * 3000 + b"]" * 3000 + b"]",
    "huge_int_seq": json.dumps(body()).encode().replace(b'"seq": 5', b'"seq": ' + b"9" * 5000),
    "huge_int_value": json.dumps(body()).encode().replace(b'"19900101"', b"9" * 5000),
    "huge_float": json.dumps(body()).encode().replace(b'"seq": 5', b'"seq": 1e999999'),
    "nan_seq": json.dumps(body()).encode().replace(b'"seq": 5', b'"seq": NaN'),
    "infinity_value": json.dumps(body()).encode().replace(b'"19900101"', b"-Infinity"),
    "lone_surrogate": json.dumps(body()).encode().replace(b'"m1"', b'"\\ud800"'),
    "invalid_utf8": json.dumps(body(), ensure_ascii=False).encode().replace("张".encode(), b"\xff\xfe"),
    "duplicate_keys": json.dumps(body()).encode()[:-1] + b', "seq": "x", "pk": 3}',
    "non_object_elements": b'[1, "s", null, true, [], 1e400]',
    "nul_in_key": json.dumps(body(data={"X\x00M": "a"})).encode(),
    "pk_list": json.dumps(body(pk=[KEY])).encode(),
    "data_unhashable": json.dumps(body(data=[["a"]])).encode(),
    "table_list": json.dumps(body(table=["HZ_HJRKJBXX"])).encode(),
    "op_dict": json.dumps(body(op={"I": 1})).encode(),
    "ts_deep": json.dumps(body(ts=[[[["x"]]]])).encode(),
    "empty": b"",
    "bom": b"\xef\xbb\xbf" + GOOD,
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_body_is_judged_never_raises(name):
    cat = load_catalogue()
    b = HOSTILE[name]
    assert plain_changes(b, cat) is None or name == "duplicate_keys"
    p = parse_body(b, cat)
    assert p.poison, name
    for x in p.poison:
        assert x.code and x.reason
        x.reason.encode("utf-8")  # storable text
        for v in (x.msg_id, x.table):
            assert v is None or "\x00" not in v and v.encode("utf-8")


def test_too_deep_a_body_is_invalid_json_as_a_whole():
    # Neither parser reads it (orjson stops at 1 024 levels, json at the recursion limit), so
    # there are no elements to judge one by one: the body is the poison.
    p = parse_body(HOSTILE["deep_element"], load_catalogue())
    assert not p.changes and [(x.code, x.element) for x in p.poison] == [("invalid_json", None)]
    assert "deep" in p.poison[0].reason


def test_a_failing_check_is_poison_not_an_exception(monkeypatch):
    # Whatever a value check raises (a bug, an unforeseen type) the message is poison with a reason.
    import dz_assets.cdc.message as m

    def boom(*_a, **_k):
        raise ZeroDivisionError("check exploded")

    monkeypatch.setattr(m, "check_row", boom)
    monkeypatch.setattr(m, "_fast", lambda *_a: None)
    p = parse_body(json.dumps([body(), body(msg_id="m2")]).encode(), load_catalogue())
    assert not p.changes and [x.element for x in p.poison] == [0, 1]
    assert {x.code for x in p.poison} == {"unjudgeable"} and "ZeroDivisionError" in p.poison[0].reason
