"""Apply semantics on the real PostgreSQL: duplicates, reordering and redelivery give the same
ODS state as applying each change once in seq order (property-based), deletes stay visible, and a
FULL's BATCH@seq re-bases the log (held changes above it applied again, older ones ignored)."""

from __future__ import annotations

from datetime import datetime, timedelta

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dz_assets.catalog import load_catalogue
from dz_assets.catalog.values import BEIJING
from dz_assets.ods.apply import apply_changes
from dz_assets.ods.changelog import Change, store_changes
from dz_assets.ods.rebase import rebase_after_full

TABLE = "HZ_HJRKJBXX"
COLS = "rybh, xm, csrq, djsj, _deleted, _deleted_at, _valid_from, _msg_id, _seq, _extra"
T0 = datetime(2026, 11, 21, 8, 0, tzinfo=BEIJING)


def change(i: int, key: int, op: str, seq: int, name: str, *, extra: bool = False) -> Change:
    rybh = f"R{key:019d}"
    data = {"RYBH": rybh} if op == "D" else {"RYBH": rybh, "XM": name, "CSRQ": f"199001{1 + seq % 28:02d}",
                                             "DJSJ": f"20261121{seq % 24:02d}0000"}
    if extra and op != "D":
        data["XX_NEW"] = name
    return Change(f"m{i:06d}", TABLE, op, seq, T0 + timedelta(seconds=seq), (rybh,), data)


def reset(conn: psycopg.Connection) -> None:
    conn.execute("truncate ods.hz_hjrkjbxx")
    conn.execute("delete from meta.cdc_table_state where table_code = %s", (TABLE,))
    conn.execute("delete from meta.cdc_kept where table_code = %s", (TABLE,))
    if conn.execute("select to_regclass('raw.hz_hjrkjbxx__changes')").fetchone()[0]:
        conn.execute("truncate raw.hz_hjrkjbxx__changes")
    conn.commit()


def state(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(f"select {COLS} from ods.hz_hjrkjbxx order by rybh").fetchall()


def run(conn, batches: list[list[Change]]) -> None:
    table = load_catalogue().tables[TABLE]
    for b in batches:
        with conn.transaction():
            store_changes(conn, table, b)
            apply_changes(conn, table)


changes_st = st.lists(
    st.tuples(st.integers(0, 4), st.sampled_from("IUD"), st.integers(1, 60), st.sampled_from(["甲", "乙", "丙"]),
              st.booleans()),
    min_size=1, max_size=25)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(spec=changes_st, data=st.data())
def test_any_order_duplicates_and_batching_equal_in_order_application(db, spec, data):
    changes = [change(i, k, op, seq, name, extra=x) for i, (k, op, seq, name, x) in enumerate(spec)]
    reset(db)
    run(db, [[c] for c in sorted(changes, key=lambda c: (c.seq, c.msg_id))])  # the reference
    expected = state(db)
    reset(db)
    stream = data.draw(st.permutations(changes + data.draw(st.lists(st.sampled_from(changes), max_size=8))))
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(stream) - 1)), max_size=4)))
    batches = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True) if stream[a:b]]
    run(db, batches)
    run(db, [stream])  # a redelivery of everything: a no-op
    assert state(db) == expected


def test_delete_keeps_row_and_tombstone_blocks_older_insert(db):
    reset(db)
    run(db, [[change(1, 1, "D", 10, "")], [change(2, 1, "I", 5, "甲")]])
    (row,) = state(db)
    assert row[4] is True and row[5] == T0 + timedelta(seconds=10) and row[8] == 10
    run(db, [[change(3, 1, "U", 11, "乙")]])
    (row,) = state(db)
    assert row[1] == "乙" and row[4] is False and row[5] is None


def values(conn) -> tuple:
    (row,) = conn.execute("select xm, _deleted, _seq from ods.hz_hjrkjbxx").fetchall()
    return row


@pytest.mark.parametrize(("batches", "expected"), [
    # a late I/U older than the values a delete kept leaves them; a newer one refills them
    ([[("I", 5, "甲")], [("D", 10, "")], [("U", 3, "乙")]], ("甲", True, 10)),
    ([[("I", 5, "甲")], [("D", 10, "")], [("U", 7, "乙")], [("U", 6, "丙")]], ("乙", True, 10)),
    # a delete of a deleted row carries what the first delete kept
    ([[("I", 5, "甲")], [("D", 10, "")], [("D", 12, "")], [("U", 3, "乙")]], ("甲", True, 12)),
    ([[("I", 5, "甲")], [("D", 10, "")], [("U", 7, "乙")], [("D", 12, "")], [("U", 6, "丙")]], ("乙", True, 12)),
    # a tombstone takes the newest late I/U below it, also from one micro-batch
    ([[("D", 10, "")], [("U", 4, "乙"), ("I", 6, "甲")], [("U", 5, "丙")]], ("甲", True, 10)),
    # the I/U and the delete in one micro-batch
    ([[("I", 5, "甲")], [("U", 7, "乙"), ("D", 10, "")], [("U", 6, "丙")]], ("乙", True, 10)),
])
def test_deleted_row_keeps_values_of_newest_change_below_its_delete(db, batches, expected):
    reset(db)
    n = iter(range(1, 100))
    run(db, [[change(next(n), 1, op, seq, name) for op, seq, name in b] for b in batches])
    assert values(db) == expected


def test_log_with_the_old_key_index_records_kept_values_then_drops_it(db):
    # A log created before meta.cdc_kept: the first write records what every deleted row keeps.
    reset(db)
    run(db, [[change(1, 1, "I", 5, "甲"), change(2, 1, "U", 7, "乙"), change(3, 1, "D", 10, "")]])
    db.execute("delete from meta.cdc_kept")
    db.execute("create index hz_hjrkjbxx__changes_key_seq on raw.hz_hjrkjbxx__changes (rybh, seq)")
    db.commit()
    run(db, [[change(4, 1, "U", 6, "丙")]])
    assert values(db) == ("乙", True, 10)
    assert db.execute("select to_regclass('raw.hz_hjrkjbxx__changes_key_seq')").fetchone()[0] is None
    assert db.execute("select values_seq from meta.cdc_kept where delete_msg_id = 'm000003'").fetchone() == (7,)


def test_full_base_ignores_older_and_reapplies_newer(db):
    reset(db)
    table = load_catalogue().tables[TABLE]
    run(db, [[change(1, 1, "U", 100, "旧"), change(2, 2, "U", 300, "新")]])
    # a FULL reflecting seq 200 is swapped in: its rows have no _seq
    db.execute("truncate ods.hz_hjrkjbxx")
    db.execute("insert into ods.hz_hjrkjbxx (rybh, xm, _batch_id) values ('R0000000000000000001', '全量', 'F'),"
               " ('R0000000000000000002', '全量', 'F')")
    db.commit()
    out = rebase_after_full(db, TABLE, 200, "SCGA-FULL-20261121-0001")
    db.commit()
    assert out["applied"] == 1
    rows = {r[0]: r[1] for r in state(db)}
    assert rows == {"R0000000000000000001": "全量", "R0000000000000000002": "新"}
    with db.transaction():  # a late change at or below the base is ignored and counted
        store_changes(db, table, [change(3, 1, "U", 150, "迟到")])
        r = apply_changes(db, table)
    assert r.ignored_base == 1 and {r[0]: r[1] for r in state(db)}["R0000000000000000001"] == "全量"


def test_values_needing_copy_escapes_are_logged_and_applied_unchanged(db):
    # The change log is written as one COPY text block; a tab, line end, backslash or JSON escape
    # in any value (or in the message id) must arrive in the log and in ODS exactly as sent.
    reset(db)
    odd = "a\tb\nc\\d\re \"q\" \\N 张"
    plain = change(1, 1, "I", 1, "甲")
    tricky = Change("m\t2\\x", TABLE, "U", 2, T0, (plain.key[0],), {**plain.data, "XM": odd, "X_NEW": odd})
    run(db, [[plain, change(3, 2, "D", 3, "")], [tricky, change(4, 3, "I", 4, "乙")]])
    logged = db.execute("select msg_id, data ->> 'XM', data ->> 'X_NEW' from raw.hz_hjrkjbxx__changes "
                        "where seq = 2").fetchone()
    assert logged == ("m\t2\\x", odd, odd)
    rows = {r[0]: (r[1], r[4], r[9]) for r in state(db)}
    assert rows[plain.key[0]] == (odd, False, {"X_NEW": odd})
    assert db.execute("select count(*) from raw.hz_hjrkjbxx__changes").fetchone()[0] == 4


def test_store_logs_each_message_once_within_and_across_blocks(db):
    # Known ids are looked up and dropped from the COPY block line by line, also from a block that
    # needed COPY escapes (its lines must still line up with the ids); a repeat within a block
    # keeps its first copy.
    reset(db)
    table = load_catalogue().tables[TABLE]
    first, second = change(1, 1, "I", 1, "甲"), change(2, 2, "I", 2, "乙")
    tricky = Change("m\t3\\x", TABLE, "U", 3, T0, first.key, {**first.data, "XM": "a\tb"})
    again = first._replace(data={**first.data, "XM": "重发"})  # same id, other content: not stored
    with db.transaction():
        assert store_changes(db, table, [first, again, tricky]) == 2
    with db.transaction():
        assert store_changes(db, table, [tricky, second, again, second]) == 1
    assert db.execute("select msg_id, seq, data ->> 'XM' from raw.hz_hjrkjbxx__changes order by log_id").fetchall() \
        == [("m000001", 1, "甲"), ("m\t3\\x", 3, "a\tb"), ("m000002", 2, "乙")]


@pytest.fixture(autouse=True)
def _clean(db):
    yield
    db.rollback()
    reset(db)
