"""RejectSpool keeps a load's rejects in order within a memory bound; RejectDicts is the verdict's
list of them; emit_json streams it."""

from __future__ import annotations

import json

import pytest

from dz_assets.province.reader.bcp import Reject
from dz_assets.province.reader.reject_spool import RejectDicts, RejectSpool


def _rejects(file: str, lines: range) -> list[Reject]:
    return [Reject("HZ_HJRKJBXX", file, i, "CSRQ" if i % 2 else None, f"bad {i}", f"raw {i}\t\\N".encode())
            for i in lines]


def test_spool_spills_past_its_limit_and_reads_back_in_order():
    s = RejectSpool(limit=3)
    expected = _rejects("a.bcp", range(1, 11))
    for k in range(0, 10, 4):
        s.extend(expected[k:k + 4])
    assert s.spilled and len(s) == 10 and bool(s)
    assert list(s) == expected
    assert list(s) == expected  # again: reading does not consume
    s.close()
    assert len(s) == 0 and list(s) == []


def test_small_spool_stays_in_memory():
    s = RejectSpool(_rejects("a.bcp", range(1, 3)), limit=3)
    assert not s.spilled and [r.line for r in s] == [1, 2]
    assert not RejectSpool()


def test_adopted_spools_read_in_adoption_order_without_copying():
    a, b = RejectSpool(_rejects("a.bcp", range(1, 6)), limit=2), RejectSpool(_rejects("b.bcp", range(1, 3)))
    table = RejectSpool()
    table.adopt(a)
    table.adopt(b)
    assert len(table) == 7 and table.spilled
    assert [(r.file, r.line) for r in table] == [("a.bcp", i) for i in range(1, 6)] + [("b.bcp", 1), ("b.bcp", 2)]
    with pytest.raises(RuntimeError):
        table.extend(_rejects("c.bcp", range(1, 2)))


def test_reject_dicts_behave_as_the_verdict_list():
    rs = _rejects("a.bcp", range(1, 8))
    d = RejectSpool(rs, limit=2).dicts()
    as_list = [r.as_dict() for r in rs]
    assert d == as_list and as_list == d and len(d) == 7
    assert d[0] == as_list[0] and d[-1] == as_list[-1] and d[2:4] == as_list[2:4] and d[-2:] == as_list[-2:]
    with pytest.raises(IndexError):
        d[7]
    assert d != as_list[:-1] and RejectDicts() == []
    assert json.loads(json.dumps({"rejects": d}, default=lambda o: list(o.__json_stream__()))) == {"rejects": as_list}


def test_emit_json_streams_a_top_level_reject_list(capsys):
    from dz_assets.cli.output import emit_json

    rs = _rejects("a.bcp", range(1, 6))
    emit_json({"batch_id": "X", "rejects": RejectSpool(rs, limit=1).dicts(), "rows": {"total": 5}})
    emit_json({"nested": {"rejects": RejectDicts(rs)}})
    first, second = capsys.readouterr().out.splitlines()
    assert json.loads(first) == {"batch_id": "X", "rejects": [r.as_dict() for r in rs], "rows": {"total": 5}}
    assert json.loads(second) == {"nested": {"rejects": [r.as_dict() for r in rs]}}
