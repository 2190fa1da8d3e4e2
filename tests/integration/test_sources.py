"""Declarative sources (spec/source-config.md) against the real services: MariaDB, PostgreSQL,
an HTTP API served on loopback, CSV (UTF-8, GBK), xlsx and JSON files."""

from __future__ import annotations

import json
import os
import secrets
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from support.server_log import server_log, written_since
from support.sources_fixtures import Api, as_json, write_source

from dz_assets.catalog.idcard import make_id
from dz_assets.cli import main
from dz_assets.settings import env
from dz_assets.sources.config import load_sources
from dz_assets.sources.run import SourceRunFailed, run_source

pytestmark = pytest.mark.integration


@pytest.fixture
def src_dir(pg_dsn, tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "sources"
    folder.mkdir()
    monkeypatch.setenv("DZ_SOURCES_DIR", str(folder))
    monkeypatch.setenv("DZ_SOURCES_RETRY_BACKOFF_S", "0.05")
    return folder


@pytest.fixture(scope="session")
def mysql_url():
    import pymysql

    base = env("DZ_MYSQL_URL", "mysql://root@127.0.0.1:3306/test")
    rest = base.split("://", 1)[1]
    cred, _, hostpart = rest.rpartition("@")
    user, _, password = cred.partition(":")
    host, _, port = hostpart.split("/")[0].partition(":")
    name = f"dzsrc_{os.getpid()}_{secrets.token_hex(3)}"
    try:
        conn = pymysql.connect(host=host, port=int(port or 3306), user=user, password=password, autocommit=True)
    except pymysql.err.OperationalError as exc:
        if env("DZ_REQUIRE_SERVICES", "0") == "1":
            pytest.fail(f"MariaDB at {base} is not reachable: {exc}")
        pytest.skip(f"MariaDB at {base} is not reachable")
    conn.cursor().execute(f"create database {name} character set utf8mb4")
    yield f"mysql://{cred}@{hostpart.split('/')[0]}/{name}", conn, name
    conn.cursor().execute(f"drop database if exists {name}")
    conn.close()


def mysql_exec(mysql_url, *statements, params=None):
    _url, conn, name = mysql_url
    cur = conn.cursor()
    cur.execute(f"use {name}")
    for s in statements:
        if params is not None:
            cur.executemany(s, params)
        else:
            cur.execute(s)


def pid(n: int) -> str:
    return make_id("511702", "19900101", n)


def hydj_doc(**over) -> dict:
    doc = {
        "id": "mz_hydj", "name": "民政婚姻登记信息", "category": "政务", "owner": "达州市民政局",
        "schedule": "0 2 * * *", "kind": "mysql", "connection": {"url_env": "DZ_SRC_MZ_HYDJ_URL"},
        "table": "hydj", "key": ["djbh"], "cursor": "gxsj",
        "fields": {
            "DJBH": {"from": "djbh"},
            "GMSFHM": {"from": "sfzh", "rules": ["trim", "upper", "idcard"], "pii": "idcard"},
            "XM": {"from": "xm", "rules": ["trim"], "pii": "name"},
            "HYZKDM": {"from": "hyzk", "map": {"未婚": "10", "已婚": "20", "离婚": "40"}},
            "DJRQ": {"from": "djrq", "date": "%Y/%m/%d"},
            "GXSJ": {"from": "gxsj", "datetime": "%Y-%m-%d %H:%M:%S"},
        },
        "roles": ["dz_engineer", "dz_analyst"], "freshness_hours": 26,
        "fuse": {"entity": "person", "key": "GMSFHM", "priority": 2},
    }
    doc.update(over)
    return doc


def rows(db_dsn, sql, *params):
    with psycopg.connect(db_dsn) as conn:
        return conn.execute(sql, params).fetchall()


def cli(*args):
    res = CliRunner().invoke(main, list(args))
    return res


# -- configuration errors ------------------------------------------------------------------------

def test_check_names_file_and_key_of_each_error(src_dir, monkeypatch):
    monkeypatch.delenv("DZ_SRC_UNSET_URL", raising=False)
    monkeypatch.setenv("DZ_SRC_MZ_HYDJ_URL", "mysql://root@127.0.0.1:3306/x")
    good = write_source(src_dir, hydj_doc())
    write_source(src_dir, hydj_doc(colour="red"), "a_unknown_key")
    write_source(src_dir, hydj_doc(id="b_cron", schedule="0 25 * * *"), "b_cron")
    write_source(src_dir, hydj_doc(id="c_env", connection={"url_env": "DZ_SRC_UNSET_URL"}), "c_env")
    write_source(src_dir, hydj_doc(), "z_twice")  # same id as the good file, later in name order
    bad_field = hydj_doc(id="d_field")
    bad_field["fields"]["XM"]["rules"] = ["trim", "titlecase"]
    write_source(src_dir, bad_field, "d_field")
    res = cli("sources", "check", "--json")
    assert res.exit_code == 1, res.output
    out = json.loads(res.stdout)
    got = {(Path(e["file"]).name, e["key"]) for e in out["errors"]}
    assert ("a_unknown_key.yaml", "colour") in got
    assert ("b_cron.yaml", "schedule") in got
    assert ("c_env.yaml", "connection.url_env") in got
    assert ("z_twice.yaml", "id") in got
    assert ("d_field.yaml", "fields.XM.rules[1]") in got
    assert len(got) == 5, got
    assert out["ok"] is False and out["sources"] == ["mz_hydj"]
    assert Path(good).name == "mz_hydj.yaml"
    text = cli("sources", "check")
    assert "b_cron.yaml: schedule:" in text.stdout


# -- MariaDB: load, rejects, incremental re-run ---------------------------------------------------

def test_mysql_loads_rejects_and_rereads_only_new_and_changed(src_dir, mysql_url, pg_dsn, monkeypatch):
    url, _conn, _name = mysql_url
    monkeypatch.setenv("DZ_SRC_MZ_HYDJ_URL", url)
    mysql_exec(mysql_url, "drop table if exists hydj",
               "create table hydj (djbh int primary key, sfzh varchar(20), xm varchar(20), hyzk varchar(10), "
               "djrq varchar(20), gxsj datetime)")
    first = [(1, f" {pid(1).lower()} ", "张三 ", "已婚", "2020/01/02", datetime(2026, 1, 1, 10)),
             (2, "123", "李四", "未婚", "2020/01/03", datetime(2026, 1, 1, 11)),
             (3, pid(3), "王五", "丧偶", "2020/01/04", datetime(2026, 1, 1, 12)),
             (4, pid(4), "赵六", "离婚", "2020/13/04", datetime(2026, 1, 1, 12)),
             (5, pid(5)[:6] + pid(5)[8:17], "钱七", "离婚", "2021/02/03", datetime(2026, 1, 1, 12))]
    mysql_exec(mysql_url, "insert into hydj values (%s, %s, %s, %s, %s, %s)", params=first)
    write_source(src_dir, hydj_doc())
    res = cli("sources", "run", "mz_hydj", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert set(out) == {"id", "read", "loaded", "rejected", "duration_s"}
    assert (out["id"], out["read"], out["loaded"], out["rejected"]) == ("mz_hydj", 5, 2, 3)
    got = rows(pg_dsn, "select djbh, gmsfhm, xm, hyzkdm, djrq, gxsj, _source, _position, _run_id "
                       "from raw_src.mz_hydj order by djbh")
    assert [r[:6] for r in got] == [
        ("1", pid(1), "张三", "20", date(2020, 1, 2), datetime(2026, 1, 1, 2, tzinfo=UTC)),
        ("5", pid(5), "钱七", "40", date(2021, 2, 3), datetime(2026, 1, 1, 4, tzinfo=UTC))]  # 15 digits → 18
    assert got[0][6:8] == ("mz_hydj", "djbh=1")
    first_run = got[0][8]
    rej = rows(pg_dsn, "select position, field, reason, record->>'sfzh' from meta.source_reject "
                       "where source = 'mz_hydj' order by position")
    assert [(p, f) for p, f, _r, _s in rej] == [("djbh=2", "GMSFHM"), ("djbh=3", "HYZKDM"), ("djbh=4", "DJRQ")]
    assert "丧偶" in rej[1][2] and rej[0][3] == "123"

    # Second run: one row changed, one new, one late row with a time before the highest read.
    mysql_exec(mysql_url, "update hydj set xm = '钱七七', gxsj = '2026-01-02 09:00:00' where djbh = 5",
               f"insert into hydj values (6, '{pid(6)}', '孙八', '未婚', '2022/01/01', '2026-01-02 09:00:00')",
               f"insert into hydj values (7, '{pid(7)}', '周九', '未婚', '2022/01/01', '2026-01-01 11:58:00')")
    cfg = load_sources().by_id("mz_hydj")
    result = run_source(cfg)
    assert result.read < 7  # only from the cursor (less the look-back), not everything
    got = {r[0]: r for r in rows(pg_dsn, "select djbh, xm, _run_id from raw_src.mz_hydj")}
    assert set(got) == {"1", "5", "6", "7"}
    assert got["1"][2] == first_run  # unchanged: untouched
    assert got["5"][1:] == ("钱七七", result.run_id)
    assert rows(pg_dsn, "select count(*) from raw_src.mz_hydj")[0][0] == 4
    st = rows(pg_dsn, "select rows_read, rows_loaded, rows_rejected, last_error, last_success_at is not null "
                      "from meta.source_status where source = 'mz_hydj'")[0]
    assert st == (result.read, result.loaded, result.rejected, None, True)

    # Reset: everything again, still one row per key.
    assert cli("sources", "reset", "mz_hydj").exit_code == 0
    again = run_source(cfg)
    assert again.read == 7
    assert rows(pg_dsn, "select count(*) from raw_src.mz_hydj")[0][0] == 4

    # The last run's rejects, retrievable with their raw records
    rej_out = json.loads(cli("sources", "rejects", "mz_hydj", "--json").stdout)
    assert rej_out["count"] == 3 and {r["field"] for r in rej_out["rejects"]} == {"GMSFHM", "HYZKDM", "DJRQ"}

    # Listing
    listing = json.loads(cli("sources", "list", "--json").stdout)["sources"]
    (item,) = [s for s in listing if s["id"] == "mz_hydj"]
    assert item["enabled"] is True and item["rejected"] == 3 and item["last_error"] is None


def test_mysql_unreachable_is_retried_then_fails_committing_nothing(src_dir, pg_dsn, monkeypatch):
    monkeypatch.setenv("DZ_SRC_DOWN_URL", "mysql://root@127.0.0.1:1/nothing")
    monkeypatch.setenv("DZ_SOURCES_RETRIES", "2")
    write_source(src_dir, hydj_doc(id="mz_down", connection={"url_env": "DZ_SRC_DOWN_URL"}))
    logs = []
    with pytest.raises(SourceRunFailed):
        run_source(load_sources().by_id("mz_down"), log=logs.append)
    assert len(logs) == 2 and "retrying" in logs[0]
    st = rows(pg_dsn, "select last_error is not null, last_success_at from meta.source_status "
                      "where source = 'mz_down'")
    assert st == [(True, None)]
    assert rows(pg_dsn, "select to_regclass('raw_src.mz_down')") == [(None,)]


# -- PostgreSQL, full sync -------------------------------------------------------------------------

@pytest.fixture
def pg_source(pg_server_dsn):
    from dz_assets.db import with_database

    name = f"dzsrc_pg_{os.getpid()}_{secrets.token_hex(3)}"
    with psycopg.connect(pg_server_dsn, autocommit=True) as conn:
        conn.execute(f'create database "{name}"')
    dsn = with_database(pg_server_dsn, name)
    yield dsn
    with psycopg.connect(pg_server_dsn, autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


def test_postgres_full_sync_marks_vanished_keys_deleted(src_dir, pg_source, pg_dsn, monkeypatch):
    monkeypatch.setenv("DZ_SRC_PG_URL", pg_source)
    with psycopg.connect(pg_source) as conn:
        conn.execute("create table jzz (bh text, sfzh text, xm text, lb text, djrq date)")
        conn.execute("insert into jzz values ('A', %s, '张三', '1', '2024-01-01'), ('B', %s, '李四', '2', null),"
                     " ('C', 'bad', '王五', '1', null)", (pid(1), pid(2)))
    doc = {"id": "jzz", "name": "居住证信息", "category": "公安", "owner": "达州市公安局", "kind": "postgres",
           "connection": {"url_env": "DZ_SRC_PG_URL"}, "query": "select bh, sfzh, xm, lb, djrq from jzz",
           "key": ["bh"], "sync": "full",
           "fields": {"BH": {"from": "bh"}, "GMSFHM": {"from": "sfzh", "rules": ["idcard"], "pii": "idcard"},
                      "XM": {"from": "xm", "pii": "name"}, "LB": {"from": "lb", "map": {"1": "户籍"},
                                                                 "map_default": "其他"},
                      "DJRQ": {"from": "djrq", "date": "%Y-%m-%d"}}}
    write_source(src_dir, doc)
    r1 = run_source(load_sources().by_id("jzz"))
    assert (r1.read, r1.loaded, r1.rejected) == (3, 2, 1)
    assert rows(pg_dsn, "select bh, lb, djrq, _deleted from raw_src.jzz order by bh") == [
        ("A", "户籍", date(2024, 1, 1), False), ("B", "其他", None, False)]
    with psycopg.connect(pg_source) as conn:
        conn.execute("delete from jzz where bh in ('A')")
    r2 = run_source(load_sources().by_id("jzz"))
    assert r2.deleted == 1
    assert rows(pg_dsn, "select bh, _deleted, _deleted_at is not null from raw_src.jzz order by bh") == [
        ("A", True, True), ("B", False, False)]  # C (rejected, still in the source) is not deleted


# -- HTTP ------------------------------------------------------------------------------------------

@pytest.fixture
def api():
    a = Api()
    yield a
    a.close()


def people(n: int) -> list[dict]:
    return [{"id": i, "sfzh": pid(i), "name": f"人员{i}", "updated": f"2026-01-{1 + i % 28:02d} 08:00:00"}
            for i in range(1, n + 1)]


def http_doc(sid: str, url: str, paging: dict | None, records: str | None = "data.items") -> dict:
    doc = {"id": sid, "name": "川e医就诊登记", "category": "社会采集", "owner": "四川省卫健委", "kind": "http",
           "connection": {"url": url, "headers": {"X-Token": {"env": "DZ_SRC_TOKEN"}}}, "key": ["id"],
           "fields": {"JZBH": {"from": "id"}, "GMSFHM": {"from": "sfzh", "rules": ["idcard"], "pii": "idcard"},
                      "XM": {"from": "name", "pii": "name"},
                      "GXSJ": {"from": "updated", "datetime": "%Y-%m-%d %H:%M:%S"}}}
    if paging:
        doc["paging"] = paging
    if records:
        doc["records"] = records
    return doc


@pytest.mark.parametrize("style", ["page", "offset", "next"])
def test_http_paging_styles(src_dir, api, pg_dsn, monkeypatch, style):
    monkeypatch.setenv("DZ_SRC_TOKEN", "t0ken")
    data = people(25)
    seen_tokens = []

    def page(q, _n):
        seen_tokens.append(q)
        if style == "page":
            p, size = int(q["page"]), int(q["size"])
            items = data[(p - 1) * size: p * size]
            return 200, as_json({"data": {"items": items}})
        if style == "offset":
            o, lim = int(q["offset"]), int(q["limit"])
            return 200, as_json({"data": {"items": data[o:o + lim]}})
        p = int(q.get("p", 1))
        nxt = f"{api.base}/people?p={p + 1}" if p * 10 < len(data) else None
        return 200, as_json({"data": {"items": data[(p - 1) * 10: p * 10]}, "links": {"next": nxt}})

    api.routes["/people"] = page
    paging = {"page": {"style": "page", "param": "page", "size_param": "size", "size": 10},
              "offset": {"style": "offset", "param": "offset", "size_param": "limit", "size": 10},
              "next": {"style": "next", "path": "links.next"}}[style]
    sid = f"cey_{style}"
    write_source(src_dir, http_doc(sid, f"{api.base}/people", paging))
    r = run_source(load_sources().by_id(sid))
    assert (r.read, r.loaded, r.rejected) == (25, 25, 0)
    assert api.calls["/people"] == 3
    got = rows(pg_dsn, f"select jzbh, _position from raw_src.{sid} where jzbh in ('1', '25') order by jzbh")
    assert got == [("1", "page=1,index=0 id=1"), ("25", "page=3,index=4 id=25")]


def test_http_retries_a_500_and_a_malformed_page_commits_nothing(src_dir, api, pg_dsn, monkeypatch):
    monkeypatch.setenv("DZ_SRC_TOKEN", "t")
    data = people(15)

    def flaky(q, n):
        if n == 1:
            return 500, b'{"error": "busy"}'
        p = int(q["page"])
        return 200, as_json({"data": {"items": data[(p - 1) * 10: p * 10]}})

    api.routes["/flaky"] = flaky
    paging = {"style": "page", "param": "page", "size_param": "size", "size": 10}
    write_source(src_dir, http_doc("cey_flaky", f"{api.base}/flaky", paging))
    r = run_source(load_sources().by_id("cey_flaky"))
    assert (r.read, r.loaded) == (15, 15) and api.calls["/flaky"] == 3

    def broken(q, _n):
        if q["page"] == "1":
            return 200, as_json({"data": {"items": [{**d, "sfzh": "x"} for d in data[:10]]}})
        return 200, b'{"data": {"items": [oops'

    api.routes["/broken"] = broken
    write_source(src_dir, http_doc("cey_broken", f"{api.base}/broken", paging))
    res = cli("sources", "run", "cey_broken", "--json")
    assert res.exit_code == 1
    assert json.loads(res.stdout)["error"] == "failed"
    assert rows(pg_dsn, "select count(*) from meta.source_reject where source = 'cey_broken'") == [(0,)]
    assert rows(pg_dsn, "select to_regclass('raw_src.cey_broken')") == [(None,)]  # not even its table
    st = rows(pg_dsn, "select last_error from meta.source_status where source = 'cey_broken'")[0][0]
    assert "malformed" in st or "JSON" in st or "page" in st


# -- files -----------------------------------------------------------------------------------------

def file_doc(sid: str, path: str, fmt: str, **over) -> dict:
    doc = {"id": sid, "name": "县级人口登记表", "category": "政务", "owner": "宣汉县民政局", "kind": "file",
           "connection": {"path": path}, "format": fmt, "key": ["编号"],
           "fields": {"BH": {"from": "编号"}, "GMSFHM": {"from": "身份证号", "rules": ["trim", "idcard"],
                                                          "pii": "idcard"},
                      "XM": {"from": "姓名", "rules": ["trim"], "pii": "name"},
                      "DJRQ": {"from": "登记日期", "date": "%Y-%m-%d"}}}
    doc.update(over)
    return doc


@pytest.mark.parametrize("encoding", ["utf-8", "gbk"])
def test_csv_in_utf8_and_gbk_read_once(src_dir, tmp_path, pg_dsn, encoding):
    sid = f"csv_{encoding.replace('-', '')}"
    folder = tmp_path / sid
    folder.mkdir()
    text = ("编号;身份证号;姓名;登记日期\n"
            f"1;{pid(1)};张三;2024-01-02\n"
            f"2;{pid(2)};李四;2024-02-30\n"
            f"3; {pid(3)} ;欧阳娜娜;2024-03-04\n")
    (folder / "a.csv").write_bytes(text.encode("gb18030" if encoding == "gbk" else "utf-8"))
    write_source(src_dir, file_doc(sid, str(folder / "*.csv"), "csv", encoding=encoding, delimiter=";"))
    cfg = load_sources().by_id(sid)
    r = run_source(cfg)
    assert (r.read, r.loaded, r.rejected, r.files_read) == (3, 2, 1, 1)
    assert rows(pg_dsn, f"select bh, xm, _position from raw_src.{sid} order by bh") == [
        ("1", "张三", "a.csv:2 编号=1"), ("3", "欧阳娜娜", "a.csv:4 编号=3")]
    assert rows(pg_dsn, "select position, field from meta.source_reject where source = %s", sid) == [
        ("a.csv:3 编号=2", "DJRQ")]
    again = run_source(cfg)
    assert (again.read, again.files_read, again.files_skipped) == (0, 0, 1)
    (folder / "b.csv").write_bytes(("编号;身份证号;姓名;登记日期\n"
                                    f"4;{pid(4)};赵六;2024-04-05\n").encode("gb18030" if encoding == "gbk"
                                                                       else "utf-8"))
    third = run_source(cfg)
    assert (third.read, third.loaded, third.files_read, third.files_skipped) == (1, 1, 1, 1)


def test_a_key_read_twice_keeps_its_last_record_on_both_write_paths(src_dir, tmp_path, pg_dsn):
    """The first run writes its empty target straight and builds the key afterwards; later runs
    merge through a stage. Either way a key read twice keeps the record read last, and the
    duplicate's error never reaches the server log (the key here is an ID number)."""
    folder = tmp_path / "dup"
    folder.mkdir()
    twice, other = pid(41), pid(42)
    (folder / "a.csv").write_text("编号,身份证号,姓名,登记日期\n"
                                  f"1,{twice},先读,2024-01-02\n2,{other},王五,2024-01-02\n"
                                  f"3,{twice},后读,2024-01-03\n", encoding="utf-8")
    write_source(src_dir, file_doc("dup_rk", str(folder / "*.csv"), "csv", key=["身份证号"]))
    cfg = load_sources().by_id("dup_rk")
    log = server_log(pg_dsn)
    start = log.stat().st_size if log else 0
    first = run_source(cfg)
    assert (first.read, first.loaded, first.changed) == (3, 3, 2)
    assert rows(pg_dsn, "select _key, xm, bh from raw_src.dup_rk order by _key") == [
        (twice, "后读", "3"), (other, "王五", "2")]
    assert rows(pg_dsn, "select count(*) from pg_constraint where conrelid = 'raw_src.dup_rk'::regclass "
                        "and contype = 'p'") == [(1,)]
    (folder / "b.csv").write_text("编号,身份证号,姓名,登记日期\n"
                                  f"4,{other},又读,2024-01-04\n5,{other},再读,2024-01-05\n", encoding="utf-8")
    second = run_source(cfg)
    assert (second.read, second.changed) == (2, 1)
    assert rows(pg_dsn, "select _key, xm from raw_src.dup_rk order by _key") == [(twice, "后读"), (other, "再读")]
    if log:
        assert twice not in written_since(log, start) and other not in written_since(log, start)


def test_xlsx_and_json_files(src_dir, tmp_path, pg_dsn):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["编号", "身份证号", "姓名", "登记日期"])
    ws.append([1, pid(1), "张三", datetime(2024, 1, 2)])
    ws.append([2, pid(2)[:17], "李四", datetime(2024, 1, 3)])
    ws.append([None, pid(3), "无键", datetime(2024, 1, 3)])
    wb.save(tmp_path / "sheet.xlsx")
    write_source(src_dir, file_doc("xlsx_rk", str(tmp_path / "*.xlsx"), "xlsx"))
    r = run_source(load_sources().by_id("xlsx_rk"))
    assert (r.read, r.loaded, r.rejected) == (3, 1, 2)
    assert rows(pg_dsn, "select bh, djrq, _position from raw_src.xlsx_rk") == [
        ("1", date(2024, 1, 2), "sheet.xlsx:2 编号=1")]
    assert rows(pg_dsn, "select position, field, reason from meta.source_reject where source = 'xlsx_rk' "
                        "order by position") == [
        ("sheet.xlsx:3 编号=2", "GMSFHM", f"not an ID number: {pid(2)[:17]!r}"),
        ("sheet.xlsx:4 编号=", "编号", "missing key 编号")]

    (tmp_path / "j").mkdir()
    (tmp_path / "j" / "x.json").write_text(json.dumps({"rows": [
        {"编号": "a", "身份证号": pid(5), "姓名": "孙八", "登记日期": "2024-05-06"}]}, ensure_ascii=False))
    write_source(src_dir, file_doc("json_rk", str(tmp_path / "j" / "*.json"), "json", records="rows"))
    r = run_source(load_sources().by_id("json_rk"))
    assert (r.read, r.loaded) == (1, 1)


# -- masking ---------------------------------------------------------------------------------------

def test_pii_fields_are_masked_for_analysts(src_dir, tmp_path, pg_dsn):
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "a.csv").write_text(f"编号,身份证号,姓名,登记日期\n1,{pid(1)},张三丰,2024-01-02\n", encoding="utf-8")
    write_source(src_dir, file_doc("masked_rk", str(folder / "*.csv"), "csv",
                                   roles=["dz_engineer", "dz_analyst"]))
    run_source(load_sources().by_id("masked_rk"))
    got = rows(pg_dsn, "select gmsfhm, xm, bh from masked_raw_src.masked_rk")
    assert got == [(pid(1)[:4] + "*" * 10 + pid(1)[-4:], "张**", "1")]
    classes = dict(rows(pg_dsn, "select column_name, pii from meta.column_class "
                                "where schema_name = 'raw_src' and relation = 'masked_rk'"))
    assert classes["gmsfhm"] == "idcard" and classes["xm"] == "name" and classes["_run_id"] == "none"
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("select has_table_privilege('dz_analyst', 'masked_raw_src.masked_rk', 'select'), "
                            "has_table_privilege('dz_analyst', 'raw_src.masked_rk', 'select'), "
                            "has_table_privilege('dz_operator', 'meta.source_status', 'select'), "
                            "has_column_privilege('dz_operator', 'meta.source_reject', 'record', 'select'), "
                            "has_column_privilege('dz_operator', 'meta.source_reject', 'reason', 'select')"
                            ).fetchone() == (True, False, True, False, True)
