"""The operations console over HTTP against a real warehouse: sign-in required and audited,
sessions that expire, every page read as the login (the database's grants and masking decide),
downloads, and the Dagster proxy (a stand-in webserver served by the test on loopback)."""

from __future__ import annotations

import asyncio
import csv
import io
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
import websockets
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route, WebSocketRoute
from support.console_app import console
from support.logins import drop_login

from dz_assets.security.users import add_user
from dz_assets.settings import ConsoleSettings
from dz_console.server import serve_in_thread

PAGES = ["/batches", "/batches/1", "/monitoring", "/cdc", "/recon", "/alerts", "/findings", "/addresses",
         "/sources", "/audit"]
DZHUB = str(Path(sys.executable).with_name("dzhub"))


@pytest.fixture(scope="module")
def city(console_city):
    return console_city


@pytest.fixture(scope="module")
def app(city):
    with console(city) as c:
        yield c


def audit_rows(dsn: str, action: str, login: str) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute("select db_user, object, details from meta.audit where action = %s and db_user = %s",
                            (action, login)).fetchall()


def test_unsigned_requests_get_the_sign_in_page_and_no_data(app):
    c = app.client()
    for path in [*PAGES, "/batches/1/rejects.csv", "/addresses/qr/1/download", "/dagster/"]:
        r = c.get(path)
        assert r.status_code == 303 and r.headers["location"].startswith("/signin?next="), path
        page = c.get(r.headers["location"])
        assert page.status_code == 200 and "登录运维控制台" in page.text
        assert app.city.full_batch not in page.text and "<table" not in page.text
    assert c.post("/alerts/1/ack").status_code == 401
    with psycopg.connect(app.city.dsn) as conn:
        assert conn.execute("select acked_by from meta.alert where alert_id = 1").fetchone()[0] is None


def test_metrics_need_no_sign_in(app):
    r = app.client().get("/metrics")
    assert r.status_code == 200 and "dzhub_up 1.0" in r.text and "dzhub_province_batches" in r.text


def test_sign_in_checks_the_password_and_is_audited(app):
    a = app.accounts["operator"]
    c = app.client()
    bad = c.post("/signin", data={"login": a.login, "password": "wrong", "next": "/batches"})
    assert bad.status_code == 401 and "账号或口令错误" in bad.text and "dz_console" not in bad.headers.get("set-cookie", "")
    assert c.post("/signin", data={"login": "nobody_here", "password": "x"}).status_code == 401
    assert audit_rows(app.city.dsn, "console.signin_failed", a.login)[0][2]["reason"] == "bad_password"
    assert audit_rows(app.city.dsn, "console.signin_failed", "nobody_here")[0][2]["reason"] == "unknown_login"
    good = c.post("/signin", data={"login": a.login, "password": a.password, "next": "/monitoring"})
    assert good.status_code == 303 and good.headers["location"] == "/monitoring"
    cookie = good.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert audit_rows(app.city.dsn, "console.signin", a.login)
    with psycopg.connect(app.city.dsn) as conn:
        stored = conn.execute("select hash from console.password where login = %s", (a.login,)).fetchone()[0]
    assert stored.startswith("scrypt$") and a.password not in stored


def test_a_post_from_another_site_is_refused(app):
    c = app.client("engineer")
    r = c.post("/alerts/2/ack", headers={"Origin": "http://evil.test"})
    assert r.status_code == 403
    assert c.post("/signin", data={"login": "x", "password": "y"},
                  headers={"Origin": "http://evil.test"}).status_code == 403


def test_sessions_expire_and_end_with_the_login(city):
    with console(city, ConsoleSettings(session_ttl_s=1, dagster_url="http://127.0.0.1:9", pool_size=2)) as app:
        c = app.client("engineer")
        assert c.get("/batches").status_code == 200
        time.sleep(1.5)
        assert c.get("/batches").status_code == 303
        c = app.client("operator")
        with psycopg.connect(city.dsn, autocommit=True) as conn:
            conn.execute(f'alter role "{app.accounts["operator"].login}" nologin')
        assert c.get("/batches").status_code == 303


def test_each_page_is_read_as_the_login(app):
    eng, op, off, aud = (app.client(k) for k in ("engineer", "operator", "officer", "auditor"))
    for path in PAGES:
        r = eng.get(path)
        assert r.status_code == 200 and "当前账号无权查看" not in r.text, path
    assert "数据工程师" in eng.get("/batches").text
    # operators: loads, alerts, the change stream; never findings or the audit log
    assert app.city.full_batch in op.get("/batches").text
    assert "当前账号无权查看" in op.get("/findings").text
    assert "当前账号无权查看" in op.get("/audit").text
    assert "当前账号无权查看" not in op.get("/cdc").text
    # the station-bound officer: findings of its station only; no batch registry
    page = off.get("/findings").text
    assert app.city.busiest_station in page and "当前账号无权查看" in off.get("/batches").text
    with psycopg.connect(app.city.dsn) as conn:
        others = [s for (s,) in conn.execute("select distinct gajgjgdm from model.mdl_findings where gajgjgdm <> %s",
                                             (app.city.busiest_station,))]
    assert others and not [s for s in others if f">{s}<" in page]
    # the auditor: the audit log, with the sign-ins in it
    assert "console.signin" in aud.get("/audit").text


def test_masked_pages_hold_no_id_number(app):
    with psycopg.connect(app.city.dsn) as conn:
        ids = {i for (i,) in conn.execute("select gmsfhm from ods.hz_hjrkjbxx where gmsfhm is not null")}
    for who in ("operator", "officer"):
        c = app.client(who)
        for path in PAGES:
            text = c.get(path).text
            assert not [i for i in ids if i in text], (who, path)


def test_rejects_csv_is_utf8_with_bom_and_raw_lines_only_for_engineers(app):
    eng = app.client("engineer").get("/batches/1/rejects.csv")
    op = app.client("operator").get("/batches/1/rejects.csv")
    for r in (eng, op):
        assert r.status_code == 200 and r.content.startswith(b"\xef\xbb\xbf")
        assert r.headers["content-type"].startswith("text/csv") and "attachment" in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(eng.content.decode("utf-8-sig"))))
    assert len(rows) == app.city.rejects and {r["field"] for r in rows} >= {"CSRQ", "XM"}
    assert rows[0]["raw_hex"]
    op_rows = list(csv.DictReader(io.StringIO(op.content.decode("utf-8-sig"))))
    assert len(op_rows) == app.city.rejects and "raw_line" not in op_rows[0]
    assert audit_rows(app.city.dsn, "rejects.csv", app.accounts["operator"].login)


def test_operator_acknowledges_and_silences_an_alert(app):
    op = app.client("operator")
    assert op.post("/alerts/1/ack").status_code == 303
    assert op.post("/alerts/silence", data={"code": "cdc_lag", "hours": "2", "reason": "维护窗口"}).status_code == 303
    with psycopg.connect(app.city.dsn) as conn:
        assert conn.execute("select acked_by from meta.alert where alert_id = 1").fetchone()[0] == \
            app.accounts["operator"].login
        assert conn.execute("select created_by from meta.alert_silence where code = 'cdc_lag'").fetchone()[0] == \
            app.accounts["operator"].login
    assert app.client("officer").post("/alerts/2/ack").status_code == 403


def test_review_and_reveal_inside_the_jurisdiction_only(app):
    off = app.client("officer")
    with psycopg.connect(app.city.dsn) as conn:
        mine, gmsfhm = conn.execute("select finding_id, subject_gmsfhm from model.mdl_findings where gajgjgdm = %s "
                                    "order by finding_id limit 1", (app.city.busiest_station,)).fetchone()
        other = conn.execute("select finding_id from model.mdl_findings where gajgjgdm <> %s limit 1",
                             (app.city.busiest_station,)).fetchone()[0]
    assert off.post(f"/findings/{mine}/review", data={"verdict": "confirmed", "note": "已核实"}).status_code == 303
    assert off.post(f"/findings/{other}/review", data={"verdict": "confirmed"}).status_code == 404
    shown = off.post(f"/findings/{mine}/reveal", data={"reason": "入户核查"})
    assert shown.status_code == 200 and gmsfhm in shown.text
    assert off.post(f"/findings/{other}/reveal", data={"reason": "越权"}).status_code == 400
    login = app.accounts["officer"].login
    entries = audit_rows(app.city.dsn, "reveal", login)
    assert entries and entries[0][1] == "model.mdl_findings" and entries[0][2]["reason"] == "入户核查"
    with psycopg.connect(app.city.dsn) as conn:
        assert conn.execute("select verdict, reviewer, subject_gmsfhm from meta.finding_review "
                            "where finding_id = %s", (mine,)).fetchone() == ("confirmed", login, gmsfhm)
    assert "属实" in off.get("/findings").text


def test_qr_batches_download_only_from_the_outbox(app):
    eng = app.client("engineer")
    r = eng.get("/addresses/qr/1/download")
    assert r.status_code == 200 and r.content[:2] == b"PK"
    assert eng.get("/addresses/qr/2/download").status_code == 404  # a path outside DZ_OUTBOX


def test_users_passwd_sets_the_console_hash(app):
    a = app.accounts["auditor"]
    subprocess.run([DZHUB, "users", "passwd", a.login, "--password-stdin"], input="新口令-2\n", text=True,
                   check=True, capture_output=True, env={**__import__("os").environ, "DZ_PG_DSN": app.city.dsn})
    c = app.client()
    assert c.post("/signin", data={"login": a.login, "password": a.password}).status_code == 401
    assert c.post("/signin", data={"login": a.login, "password": "新口令-2"}).status_code == 303
    assert audit_rows(app.city.dsn, "users.passwd", "postgres")


# --- the Dagster UI behind /dagster/ ------------------------------------------------------------

def _fake_dagster():
    seen = {}

    async def page(request):
        seen["cookie"] = request.headers.get("cookie")
        return JSONResponse({"path": request.url.path, "query": request.url.query})

    async def ws(socket):
        await socket.accept(subprotocol="graphql-ws")
        await socket.send_text(await socket.receive_text() + " 已收到")
        await socket.close()

    return Starlette(routes=[Route("/dagster/{p:path}", page, methods=["GET", "POST"]),
                             WebSocketRoute("/dagster/graphql", ws)]), seen


def test_dagster_is_proxied_for_engineers_only(city):
    fake, seen = _fake_dagster()
    with serve_in_thread(fake) as upstream, \
            console(city, ConsoleSettings(3600, upstream, 2)) as app:
        eng = app.client("engineer")
        r = eng.get("/dagster/runs?status=QUEUED")
        assert r.status_code == 200 and r.json() == {"path": "/dagster/runs", "query": "status=QUEUED"}
        assert not seen["cookie"]  # the console's session never reaches Dagster
        assert app.client("operator").get("/dagster/runs").status_code == 403
        assert app.client().get("/dagster/runs").status_code == 303
        ws_url = app.url.replace("http", "ws") + "/dagster/graphql"

        async def talk(cookie: str | None):
            headers = {"Cookie": f"dz_console={cookie}"} if cookie else {}
            async with websockets.connect(ws_url, subprotocols=["graphql-ws"], additional_headers=headers) as w:
                await w.send("订阅")
                return w.subprotocol, await w.recv()

        assert asyncio.run(talk(eng.cookies["dz_console"])) == ("graphql-ws", "订阅 已收到")
        with pytest.raises(websockets.exceptions.WebSocketException):
            asyncio.run(talk(app.client("operator").cookies["dz_console"]))
        with pytest.raises(websockets.exceptions.WebSocketException):
            asyncio.run(talk(None))


def test_a_dropped_login_cannot_sign_in(city):
    """Sign-in needs the role to exist and be enabled; a new login of the same name does not
    inherit the old one's console password."""
    with console(city) as app:
        a = app.accounts["engineer"]
        drop_login(city.dsn, a.login)
        assert app.client().post("/signin", data={"login": a.login, "password": a.password}).status_code == 401
        with psycopg.connect(city.dsn) as conn:
            add_user(conn, a.login, "dz_engineer")
        assert app.client().post("/signin", data={"login": a.login, "password": a.password}).status_code == 401
