"""FULL load against the real PostgreSQL: exact counts, types, lineage, re-base, crash safety."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, date, datetime

import psycopg
import pytest
from support.province_builder import Dataset, address_rows, build_package, person_rows
from support.server_log import server_log, written_since

from dz_assets.province.delivery.full_load import load_full  # noqa: E402
from dz_assets.province.reader.package import open_package  # noqa: E402

pytestmark = pytest.mark.integration


def _delivery(dsn: str, batch_id: str) -> int:
    with psycopg.connect(dsn) as conn:
        return conn.execute(
            "insert into meta.batch (batch_id, source, kind, batch_date, batch_no, file_name, size_bytes, sha256, "
            "status) values (%s, 'SCGA', 'FULL', '2026-11-20', 1, %s, 0, '', 'received') returning delivery_id",
            (batch_id, batch_id + ".zip")).fetchone()[0]


def _load(dsn: str, built) -> tuple[int, object]:
    pkg = open_package(built.zip_path)
    assert pkg.valid, pkg.problems
    d = _delivery(dsn, built.batch_id)
    return d, load_full(dsn, pkg, delivery_id=d, batch_id=built.batch_id)


def test_valid_package_loads_exactly(pg_dsn, tmp_path):
    rows = person_rows(3000, photo=True)
    rows[10][5] = "20261340"  # bad date: rejected
    rows[2500] = list(rows[20])  # key R00000020 again, in the second file: it wins
    rows[2500][2] = "后来者"
    rows[30][1] = rows[30][1][:17] + ("0" if rows[30][1][17] != "0" else "1")  # wrong check digit: flagged
    b = build_package(tmp_path, "SCGA-FULL-20261120-0101", [Dataset("HZ_HJRKJBXX", rows, files=3),
                                                           Dataset("YBSS_BZDZMLXX", address_rows(40))],
                      objects={"files/p0.jpg": b"\xff\xd8photo"})
    d, r = _load(pg_dsn, b)
    t = r.tables["HZ_HJRKJBXX"]
    assert (t.declared, t.loaded, t.rejected, t.duplicate) == (3000, 2998, 1, 1)
    assert t.flagged["GMSFHM"]["id_checkdigit"] == 1 and t.flagged_rows == 1
    assert t.file_refs == [("R00000000", "XP", "files/p0.jpg")]
    assert r.tables["YBSS_BZDZMLXX"].loaded == 40
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("select count(*), count(distinct rybh) from ods.hz_hjrkjbxx").fetchone() == (2998, 2998)
        xm, csrq, djsj, bid, file, line, deleted = conn.execute(
            "select xm, csrq, djsj, _batch_id, _file, _line, _deleted from ods.hz_hjrkjbxx "
            "where rybh = 'R00000020'").fetchone()
        assert (xm, bid, file, line, deleted) == ("后来者", b.batch_id, "HZ_HJRKJBXX_0003.bcp", 501, False)
        assert csrq == date(1970, 9, 21) and djsj == datetime(2020, 1, 1, 4, tzinfo=UTC)
        assert conn.execute("select file_name, line, field, raw_line from meta.reject where delivery_id = %s",
                            (d,)).fetchall() == [("HZ_HJRKJBXX_0001.bcp", 11, "CSRQ", bytes(
                                "\t".join(rows[10]), "utf-8"))]
        files = conn.execute("select file_name, records, rows_loaded, rows_rejected, rows_duplicate from "
                             "meta.batch_file where delivery_id = %s and table_code = 'HZ_HJRKJBXX' order by 1",
                             (d,)).fetchall()
        assert files == [("HZ_HJRKJBXX_0001.bcp", 1000, 998, 1, 1), ("HZ_HJRKJBXX_0002.bcp", 1000, 1000, 0, 0),
                         ("HZ_HJRKJBXX_0003.bcp", 1000, 1000, 0, 0)]
        assert conn.execute("select field, flag, rows, sample_line from meta.batch_flag where delivery_id = %s",
                            (d,)).fetchall() == [("GMSFHM", "id_checkdigit", 1, 31)]
        assert conn.execute("select obj_description('ods.hz_hjrkjbxx'::regclass)").fetchone()[0].endswith(
            "（HZ_HJRKJBXX）")
        assert conn.execute("select count(*) from pg_tables where tablename like '%\\_\\_load'").fetchone()[0] == 0


def test_full_rebases_only_its_tables_and_keeps_views(pg_dsn, tmp_path):
    first = build_package(tmp_path / "a", "SCGA-FULL-20261120-0201", [Dataset("HZ_HJRKJBXX", person_rows(50)),
                                                                     Dataset("YBSS_BZDZMLXX", address_rows(9))])
    _load(pg_dsn, first)
    with psycopg.connect(pg_dsn) as conn:
        conn.execute("create or replace view public.v_person_names as select rybh, xm from ods.hz_hjrkjbxx")
        conn.execute("create or replace view public.v_person_count as select count(*) n from public.v_person_names")
    second = build_package(tmp_path / "b", "SCGA-FULL-20261121-0001",
                           [Dataset("HZ_HJRKJBXX", person_rows(7, start=100))])
    _load(pg_dsn, second)
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("select n from public.v_person_count").fetchone()[0] == 7
        assert conn.execute("select min(rybh) from ods.hz_hjrkjbxx").fetchone()[0] == "R00000100"
        assert conn.execute("select count(*) from ods.ybss_bzdzmlxx").fetchone()[0] == 9  # left alone
        conn.execute("drop view public.v_person_count, public.v_person_names")
        # the swapped-out table was dropped after the swap's commit; the new key has the usual name
        assert conn.execute("select count(*) from pg_tables where schemaname = 'ods' and tablename like "
                            "'%\\_\\_old'").fetchone()[0] == 0
        assert conn.execute("select conname from pg_constraint where conrelid = 'ods.hz_hjrkjbxx'::regclass "
                            "and contype = 'p'").fetchone()[0] == "hz_hjrkjbxx_pkey"


def test_a_retired_table_left_by_a_crash_does_not_stop_the_next_swap(pg_dsn, tmp_path):
    """A crash between the swap's commit and the drop of the table it retired leaves ``__old``
    behind (with its key index under the retired name); the next FULL of that table drops it."""
    first = build_package(tmp_path / "a", "SCGA-FULL-20261120-0211", [Dataset("HZ_HJRKJBXX", person_rows(20))])
    _load(pg_dsn, first)
    with psycopg.connect(pg_dsn) as conn:
        conn.execute("drop table if exists ods.hz_hjrkjbxx__old")
        conn.execute("create table ods.hz_hjrkjbxx__old (like ods.hz_hjrkjbxx)")
        conn.execute("alter table ods.hz_hjrkjbxx__old add constraint hz_hjrkjbxx__old_pkey primary key (rybh)")
    second = build_package(tmp_path / "b", "SCGA-FULL-20261121-0011",
                           [Dataset("HZ_HJRKJBXX", person_rows(5, start=300))])
    _load(pg_dsn, second)
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("select count(*), min(rybh) from ods.hz_hjrkjbxx").fetchone() == (5, "R00000300")
        assert conn.execute("select to_regclass('ods.hz_hjrkjbxx__old')").fetchone()[0] is None


def test_gb18030_escapes_crlf_and_drift(pg_dsn, tmp_path):
    fields = [("XM", "string", 50, False), ("RYBH", "string", 32, True), ("GMSFHM", "idcard", None, True),
              ("DJSJ", "datetime", None, False), ("BYZD", "string", 20, False)]
    base = person_rows(3)
    rows = [[f"䶮\t镕\n{i}\\", r[0], r[1], "20261119235959", f"备\t{i}"] for i, r in enumerate(base)]
    b = build_package(tmp_path, "SCGA-FULL-20261120-0301", [Dataset("HZ_HJRKJBXX", rows, fields=fields,
                                                                    encoding="GB18030")], crlf=True)
    _, r = _load(pg_dsn, b)
    assert r.tables["HZ_HJRKJBXX"].loaded == 3 and r.tables["HZ_HJRKJBXX"].rejected == 0
    with psycopg.connect(pg_dsn) as conn:
        xm, djsj, extra, csrq = conn.execute(
            "select xm, djsj, _extra, csrq from ods.hz_hjrkjbxx where rybh = 'R00000001'").fetchone()
    assert xm == "䶮\t镕\n1\\" and extra == {"BYZD": "备\t1"} and csrq is None
    assert djsj == datetime(2026, 11, 19, 15, 59, 59, tzinfo=UTC)


CRASH = """
import sys
from dz_assets.province.delivery.full_load import load_full
from dz_assets.province.reader.package import open_package
pkg = open_package(sys.argv[2])
load_full(sys.argv[1], pkg, delivery_id=None, batch_id=pkg.batch_id, chunk_bytes=4096)
"""


def test_crash_mid_load_keeps_the_previous_table_and_rerun_converges(pg_dsn, tmp_path):
    old = build_package(tmp_path / "old", "SCGA-FULL-20261120-0401", [Dataset("HZ_HJRKJBXX", person_rows(30))])
    _load(pg_dsn, old)
    new = build_package(tmp_path / "new", "SCGA-FULL-20261121-0002",
                        [Dataset("HZ_HJRKJBXX", person_rows(4000, start=10_000), files=2)])
    env = {**os.environ, "DZ_LOAD_THROTTLE_S": "0.05"}  # ~130 chunks of 4 KiB: several seconds of COPY
    proc = subprocess.Popen([sys.executable, "-c", CRASH, pg_dsn, str(new.zip_path)], env=env)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        deadline = time.monotonic() + 30
        while not conn.execute("select count(*) from pg_stat_activity where query ilike 'copy%%__load%%'"
                               ).fetchone()[0]:
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        time.sleep(0.3)
        proc.kill()
        proc.wait()
        assert conn.execute("select count(*), min(_batch_id), max(_batch_id) from ods.hz_hjrkjbxx").fetchone() == (
            30, old.batch_id, old.batch_id)
    _, r = _load(pg_dsn, new)
    assert r.tables["HZ_HJRKJBXX"].loaded == 4000
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("select count(*), min(_batch_id) from ods.hz_hjrkjbxx").fetchone() == (
            4000, new.batch_id)


def test_a_whole_synthetic_city_loads_and_reconciles(pg_dsn, tmp_path):
    from dz_assets.synth.defects import FLAG_DEFECTS, ROW_DEFECTS
    from dz_assets.synth.package_writer import write_package

    info = write_package(tmp_path, persons=1500, seed=21, nnnn=7, defects=tuple(ROW_DEFECTS) + tuple(FLAG_DEFECTS),
                         progress=None)
    pkg = open_package(info.zip_path)
    d = _delivery(pg_dsn, info.batch_id)
    r = load_full(pg_dsn, pkg, delivery_id=d, batch_id=info.batch_id)
    assert set(r.tables) == set(info.tables)
    assert r.totals()["rejected"] == len(ROW_DEFECTS) and r.flagged_rows == len(FLAG_DEFECTS)
    with psycopg.connect(pg_dsn) as conn:
        for code, t in r.tables.items():
            assert t.declared == info.tables[code] == t.loaded + t.rejected + t.duplicate
            live = conn.execute(f"select count(*) from ods.{code.lower()} where _batch_id = %s",
                                (info.batch_id,)).fetchone()[0]
            assert live == t.loaded, code
        flags = conn.execute("select flag, sum(rows) from meta.batch_flag where delivery_id = %s group by 1",
                             (d,)).fetchall()
        assert sorted(flags) == sorted((v[0], 1) for v in FLAG_DEFECTS.values())
        assert conn.execute("select count(*) from meta.reject where delivery_id = %s", (d,)).fetchone()[0] == len(
            ROW_DEFECTS)


def test_full_keeps_the_grants_of_the_table_and_its_views(pg_dsn, tmp_path):
    """Analysts' access survives a re-base: the swap re-creates table and views with their grants."""
    role = "dz_test_analyst"
    first = build_package(tmp_path / "a", "SCGA-FULL-20261120-0401", [Dataset("HZ_HJRKJBXX", person_rows(5))])
    _load(pg_dsn, first)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        if not conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone():
            conn.execute(f"create role {role}")
        conn.execute("create or replace view public.v_grant_names as select rybh, xm from ods.hz_hjrkjbxx")
        conn.execute(f"grant select on ods.hz_hjrkjbxx to {role}")
        conn.execute(f"grant select, insert on public.v_grant_names to {role} with grant option")
    _load(pg_dsn, build_package(tmp_path / "b", "SCGA-FULL-20261121-0401", [Dataset("HZ_HJRKJBXX", person_rows(3))]))
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        def priv(rel: str, what: str) -> bool:
            return conn.execute("select has_table_privilege(%s, %s, %s)", (role, rel, what)).fetchone()[0]

        assert priv("ods.hz_hjrkjbxx", "select") and not priv("ods.hz_hjrkjbxx", "insert")
        assert priv("public.v_grant_names", "select") and priv("public.v_grant_names", "insert")
        assert priv("public.v_grant_names", "select with grant option")
        conn.execute("drop view public.v_grant_names")
        conn.execute(f"revoke all on ods.hz_hjrkjbxx from {role}")


def test_many_tables_hold_few_connections(pg_dsn, tmp_path):
    """Each table is COPYed and keyed on a connection of its own: a package of many small tables
    must not open one per table at once (the synthetic city's 143 tables once opened 68)."""
    import threading

    from dz_assets.ops.alerts import SENDER_APP
    from dz_assets.province.delivery.full_load import MAX_COPIERS
    from dz_assets.synth import write_package

    info = write_package(tmp_path, persons=200, seed=3)
    pkg = open_package(info.zip_path, deep=False)
    assert pkg.valid and len(pkg.index.datasets) > 4 * MAX_COPIERS
    peak, done = [0], threading.Event()

    def watch():
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            while not done.is_set():
                n = conn.execute("select count(*) from pg_stat_activity where datname = current_database() "
                                 "and pid <> pg_backend_pid() and application_name <> %s", (SENDER_APP,)).fetchone()[0]
                peak[0] = max(peak[0], n)
                time.sleep(0.005)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        r = load_full(pg_dsn, pkg, delivery_id=None, batch_id=info.batch_id)
    finally:
        done.set()
        watcher.join()
    assert len(r.tables) == len(pkg.index.datasets)
    assert 1 <= peak[0] <= MAX_COPIERS + 1  # the copiers, and the connection that creates empty tables


def test_leftover_tables_are_dropped_past_one_a_reader_holds(pg_dsn, caplog):
    """The drop of leftovers (a failed load's ``__load`` builds, a swap's retired tables) goes
    past a table a reader still holds: that one is logged and left, the others are dropped, and
    the caller (a failing load, a committed swap) gets no error of its own."""
    from dz_assets.ods.swap import drop_tables

    names = ["t_left_a__load", "t_left_b__load", "t_left_c__load"]
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        for n in names:
            conn.execute(f"create table if not exists ods.{n} (k int)")
        with psycopg.connect(pg_dsn) as reader:
            reader.execute("select * from ods.t_left_b__load").fetchall()  # holds its lock until rollback
            start = time.monotonic()
            drop_tables(pg_dsn, names)
            assert time.monotonic() - start < 30  # one lock_timeout, not a wait for the reader
            reader.rollback()
        left = [n for (n,) in conn.execute("select tablename from pg_tables where schemaname = 'ods' and "
                                           "tablename like 't\\_left\\_%'")]
        assert left == ["t_left_b__load"]
        assert "t_left_b__load stays" in caplog.text
        conn.execute("drop table ods.t_left_b__load")


def test_duplicate_keys_leave_no_key_value_in_the_server_log(pg_dsn, tmp_path):
    log = server_log(pg_dsn)
    if log is None:
        pytest.skip("the server's log file is not readable here")
    key = f"RDUP{os.getpid()}X{time.time_ns() % 10**9}"  # a key no other run writes
    rows = person_rows(200)
    rows[5][0] = key
    rows[150] = list(rows[5])
    b = build_package(tmp_path, "SCGA-FULL-20261120-0190", [Dataset("HZ_HJRKJBXX", rows, files=2)])
    start = log.stat().st_size
    _, r = _load(pg_dsn, b)
    assert r.tables["HZ_HJRKJBXX"].duplicate == 1
    assert key not in written_since(log, start), "a duplicated key reached the server log"
