"""The redirect API and the doorplate page against a real PostgreSQL (spec/ecode-redirect.md).

The tests run on a database of their own (initialised like the session's), so that a
``serve.address_registry`` built by another test cannot change which source answers.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from dataclasses import replace
from urllib.parse import parse_qs, urlsplit

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from starlette.routing import Route
from support.redirect_sample import (
    TEST_KEYS,
    TEST_MAC,
    TEST_RING,
    create_sample_database,
    drop_database,
    test_settings,
)

from redirect_api.app import create_app
from redirect_api.keys import KeyRing
from redirect_api.replay import ReplayMemory
from redirect_api.server import serve_in_thread
from redirect_api.tokens import ReplayedToken, decrypt_token, issue_token, read_token

KEYS, MAC, RING = TEST_KEYS, TEST_MAC, TEST_RING
settings = test_settings


@pytest.fixture(scope="module")
def redirect_dsn(pg_server_dsn):
    dsn = create_sample_database(pg_server_dsn)
    yield dsn
    drop_database(pg_server_dsn, dsn)


@pytest.fixture(scope="module")
def gajg(redirect_dsn):
    with psycopg.connect(redirect_dsn) as conn:
        return conn.execute("select gajgjgdm, (select name from meta.code_table where dict = 'GAJG' "
                            "and code = gajgjgdm) from ods.ybss_bzdzmlxx where dzbm = 'H7ACTIVE01'").fetchone()


@pytest.fixture
def client(redirect_dsn):
    with TestClient(create_app(settings(), RING, redirect_dsn), follow_redirects=False) as c:
        yield c


def test_resolve(client, gajg):
    r = client.get("/ecode/resolve/H7ACTIVE01")
    assert r.status_code == 200
    body = r.json()
    assert body["dzmc"] == "四川省达州市通川区朝阳东路1号" and body["xzqh"] == "511702"
    assert body["status"] == "active" and body["in_dazhou"] is True
    assert body["gajg"] == gajg[0] and body["gajgmc"] == gajg[1]
    assert body["xzqhmc"] in (None, "通川区")
    assert client.get("/ecode/resolve/H7OUTSIDE01").json()["in_dazhou"] is False
    assert client.get("/ecode/resolve/NOPE").status_code == 404
    assert client.get("/ecode/resolve/H7DELETED01").status_code == 404


@pytest.mark.parametrize("dzbm", ["H7ACTIVE01", "H7ROOM_0101"])
def test_dazhou_address_redirects_with_a_token_of_the_registry_data(client, dzbm):
    r = client.get(f"/ecode/r/{dzbm}")
    assert r.status_code == 302
    loc = urlsplit(r.headers["location"])
    assert loc.path == "/doorplate" and r.headers["cache-control"] == "no-store"
    claims = read_token(parse_qs(loc.query)["d"][0], RING)
    resolved = client.get(f"/ecode/resolve/{dzbm}").json()
    for f in ("dzbm", "dzmc", "xzqh", "gajg", "gajgmc"):
        assert claims[f] == resolved[f]
    assert abs(claims["iat"] - time.time()) < 5


@pytest.mark.parametrize(("dzbm", "status", "reason"), [
    ("H7OUTSIDE01", 404, "outside"), ("H7DISABLED1", 410, "disabled"), ("H7CANCEL-01", 410, "cancelled"),
    ("H7UNKNOWN", 404, "unknown"), ("H7DELETED01", 404, "unknown")])
def test_no_token_without_fallback(client, dzbm, status, reason):
    r = client.get(f"/ecode/r/{dzbm}")
    assert r.status_code == status and r.json() == {"dzbm": dzbm, "reason": reason}
    assert "location" not in r.headers


def test_no_token_with_fallback(redirect_dsn):
    app = create_app(settings(fallback_url="https://fallback.example.invalid/page?x=1"), RING, redirect_dsn)
    with TestClient(app, follow_redirects=False) as c:
        for dzbm, reason in (("H7OUTSIDE01", "outside"), ("H7CANCEL-01", "cancelled"), ("ZZZ", "unknown")):
            r = c.get(f"/ecode/r/{dzbm}")
            assert r.status_code == 302
            loc = urlsplit(r.headers["location"])
            assert loc.netloc == "fallback.example.invalid"
            assert parse_qs(loc.query) == {"x": ["1"], "c": [dzbm], "reason": [reason]}
        assert "/doorplate?d=" in c.get("/ecode/r/H7ACTIVE01").headers["location"]


@pytest.mark.parametrize("bad", ["A" * 65, "a.b", "a%20b", "%E4%B8%AD", "a%2Fb", "a/b", "", "a;b", "a+b", "%00",
                                 "abc%0A", "abc%0D%0A", "%20abc"])
def test_malformed_codes_are_422(client, bad):
    for prefix in ("/ecode/r/", "/ecode/resolve/"):
        assert client.get(prefix + bad).status_code == 422, prefix + bad


def test_doorplate_card_replay_and_refusals(client):
    token = parse_qs(urlsplit(client.get("/ecode/r/H7ACTIVE01").headers["location"]).query)["d"][0]
    page = client.get("/doorplate", params={"d": token})
    assert page.status_code == 200 and "四川省达州市通川区朝阳东路1号" in page.text
    assert 'name="viewport"' in page.text and page.headers["cache-control"] == "no-store"
    again = client.get("/doorplate", params={"d": token})
    assert again.status_code == 409 and 'data-reason="replayed"' in again.text
    expired = issue_token({"dzbm": "H7ACTIVE01", "dzmc": "x"}, RING, now=time.time() - 301)
    assert client.get("/doorplate", params={"d": expired}).status_code == 401
    other = KeyRing(keys={9: bytes(16)})
    assert client.get("/doorplate", params={"d": issue_token({"dzbm": "x"}, other)}).status_code == 400
    fresh = bytearray(token.encode())
    fresh[10] = ord("A") if fresh[10] != ord("A") else ord("B")
    assert client.get("/doorplate", params={"d": fresh.decode()}).status_code == 400
    assert client.get("/doorplate").status_code == 400
    assert client.get("/doorplate", params={"d": "!!"}).status_code == 400


def test_cbc_mode_end_to_end(redirect_dsn):
    ring = KeyRing(keys=KEYS, mac_key=MAC, mode="cbc")
    with TestClient(create_app(settings(token_mode="cbc"), ring, redirect_dsn), follow_redirects=False) as c:
        loc = c.get("/ecode/r/H7ROOM_0101").headers["location"]
        token = parse_qs(urlsplit(loc).query)["d"][0]
        assert read_token(token, ring)["dzbm"] == "H7ROOM_0101"
        assert c.get(loc).status_code == 200


def test_replay_memory_is_shared_and_race_free(redirect_dsn):
    """Two receivers (own connections) racing on the same jtis: exactly one wins each."""
    a, b = ReplayMemory(redirect_dsn), ReplayMemory(redirect_dsn)
    tokens = [issue_token({"dzbm": f"R{i}"}, RING) for i in range(20)]
    results: dict[str, list] = {"a": [], "b": []}
    barrier = threading.Barrier(2)

    def receive(name, memory):
        barrier.wait()
        for t in tokens:
            try:
                decrypt_token(t, RING, replay=memory)
                results[name].append(200)
            except ReplayedToken:
                results[name].append(409)

    threads = [threading.Thread(target=receive, args=(n, m)) for n, m in (("a", a), ("b", b))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(sorted(pair) == [200, 409] for pair in zip(results["a"], results["b"], strict=True))
    with psycopg.connect(redirect_dsn) as conn:
        assert conn.execute("select count(*) from meta.redirect_replay where jti = any(%s)",
                            ([read_token(t, RING)["jti"] for t in tokens],)).fetchone()[0] == 20


def test_health_ready_openapi(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["database"] is True and ready.json()["keys"] is True
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/ecode/r/{dzbm}", "/ecode/resolve/{dzbm}", "/doorplate", "/healthz", "/readyz"} <= set(paths)
    assert client.get("/docs").status_code == 200
    assert client.get("/redoc").status_code == 404  # ReDoc calls a CDN even from a local copy


def test_readyz_without_database():
    app = create_app(settings(), RING, "postgresql://postgres@127.0.0.1:1/none?connect_timeout=1")
    with TestClient(app) as c:
        r = c.get("/readyz")
        assert r.status_code == 503 and r.json()["database"] is False
        for path in ("/ecode/r/H7ACTIVE01", "/ecode/resolve/H7ACTIVE01"):
            r = c.get(path)
            assert r.status_code == 503 and r.json()["detail"].startswith("address registry unavailable")
        r = c.get("/doorplate", params={"d": issue_token({"dzbm": "X"}, RING)})
        assert r.status_code == 503


def test_limits_and_rate_limit(redirect_dsn):
    with TestClient(create_app(settings(rate_limit=1, rate_burst=3), RING, redirect_dsn),
                    follow_redirects=False) as c:
        codes = [c.get("/ecode/resolve/H7ACTIVE01").status_code for _ in range(5)]
        assert codes[:3] == [200, 200, 200] and codes[-1] == 429
        assert c.get("/healthz").status_code == 200  # health is never rate limited
    with TestClient(create_app(settings(), RING, redirect_dsn)) as c:
        assert c.get("/doorplate", params={"d": "A" * 9000}).status_code == 414
        assert c.get("/doorplate", params={"d": "A" * 5000}).status_code == 400  # malformed, not 422
        assert c.request("GET", "/healthz", content=b"x" * 2000).status_code == 413


def test_access_log_is_json_without_secrets_or_details(redirect_dsn):
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            lines.append(record.getMessage())

    handler = Keep()
    logging.getLogger("redirect_api.access").addHandler(handler)
    try:
        with TestClient(create_app(settings(), RING, redirect_dsn), follow_redirects=True) as c:
            page = c.get("/ecode/r/H7ACTIVE01")
            assert page.status_code == 200
            token = parse_qs(urlsplit(str(page.url)).query)["d"][0]
            assert c.get('/ecode/r/a%22b%0A%5C').status_code == 422  # quote, newline, backslash
    finally:
        logging.getLogger("redirect_api.access").removeHandler(handler)
    lines = [line for batch in lines for line in batch.split("\n")]
    assert len(lines) == 3
    entries = [json.loads(line) for line in lines]
    assert [e["status"] for e in entries] == [302, 200, 422]
    assert entries[2]["path"] == '/ecode/r/a"b\n\\' and entries[0]["method"] == "GET"
    text = "\n".join(lines)
    assert token not in text and "朝阳" not in text and "d=" not in text
    for key in KEYS.values():
        assert key.hex() not in text


def test_serve_registry_wins_when_it_exists(redirect_dsn):
    with psycopg.connect(redirect_dsn, autocommit=True) as conn:
        conn.execute("create table serve.address_registry (dzbm text primary key, dzmc text, xzqh text, "
                     "xzqhmc text, gajg text, gajgmc text, status text)")
        conn.execute("insert into serve.address_registry values "
                     "('H7SERVE01', '达州市通川区服务表路9号', '511702', '通川区', '511702010000', '某派出所', 'active')")
    try:
        with TestClient(create_app(settings(), RING, redirect_dsn), follow_redirects=False) as c:
            assert c.get("/ecode/resolve/H7SERVE01").json()["gajgmc"] == "某派出所"
            assert c.get("/ecode/r/H7SERVE01").status_code == 302
            assert c.get("/ecode/resolve/H7ACTIVE01").status_code == 404  # ODS no longer consulted
    finally:
        with psycopg.connect(redirect_dsn, autocommit=True) as conn:
            conn.execute("drop table serve.address_registry")


def test_receiver_app_alone(redirect_dsn):
    from redirect_api.receiver import create_receiver_app

    with TestClient(create_receiver_app(replace(settings(), mount_receiver=True), RING, redirect_dsn)) as c:
        assert c.get("/doorplate", params={"d": issue_token({"dzbm": "X", "dzmc": "独立接收端"}, RING)}).status_code == 200
        assert c.get("/ecode/r/H7ACTIVE01").status_code == 404


def test_concurrent_lookups_are_batched_correctly(redirect_dsn):
    """Many requests in flight share batch queries; each still gets its own code's answer."""
    import asyncio

    import httpx

    from redirect_api.server import serve_in_thread

    expected = {"H7ACTIVE01": 302, "H7ROOM_0101": 302, "H7OUTSIDE01": 404, "H7DISABLED1": 410,
                "H7CANCEL-01": 410, "H7DELETED01": 404, "NOPE1": 404, "NOPE2": 404}
    codes = list(expected) * 25

    async def scan(base):
        async with httpx.AsyncClient(base_url=base, follow_redirects=False) as c:
            return await asyncio.gather(*(c.get(f"/ecode/r/{code}") for code in codes))

    with serve_in_thread(create_app(settings(access_log=False), RING, redirect_dsn)) as base:
        answers = asyncio.run(scan(base))
    for code, r in zip(codes, answers, strict=True):
        assert r.status_code == expected[code], code
        if r.status_code == 302:
            assert read_token(parse_qs(urlsplit(r.headers["location"]).query)["d"][0], RING)["dzbm"] == code
        else:
            assert r.json()["dzbm"] == code


def test_non_ascii_fallback_url_is_percent_encoded(redirect_dsn):
    app = create_app(settings(fallback_url="https://门牌.example.invalid/兜底"), RING, redirect_dsn)
    with TestClient(app, follow_redirects=False) as c:
        loc = c.get("/ecode/r/H7OUTSIDE01").headers["location"]
        assert loc.isascii() and "%E5%85%9C%E5%BA%95?c=H7OUTSIDE01&reason=outside" in loc


def test_cached_lookups_show_changes_within_the_ttl(redirect_dsn):
    with psycopg.connect(redirect_dsn, autocommit=True) as conn:
        conn.execute("insert into ods.ybss_bzdzmlxx (dzbm, dzmc, xzqhdm, dzztdm) "
                     "values ('H7TTL01', '达州市通川区缓存路1号', '511702', '1')")
        with TestClient(create_app(settings(cache_ttl_s=3), RING, redirect_dsn), follow_redirects=False) as c:
            assert c.get("/ecode/r/H7TTL01").status_code == 302
            conn.execute("update ods.ybss_bzdzmlxx set dzztdm = '3' where dzbm = 'H7TTL01'")
            assert c.get("/ecode/r/H7TTL01").status_code == 302  # still cached
            time.sleep(3.1)
            assert c.get("/ecode/r/H7TTL01").json() == {"dzbm": "H7TTL01", "reason": "cancelled"}
        conn.execute("delete from ods.ybss_bzdzmlxx where dzbm = 'H7TTL01'")


def _fastapi_of(app) -> FastAPI:
    """The FastAPI app inside the middleware stack."""
    while not isinstance(app, FastAPI):
        app = app.app
    return app


def _get_paths(routes, prefix: str = ""):
    for route in routes:
        router = getattr(route, "original_router", None)  # an included router (FastAPI includes lazily)
        if router is not None:
            yield from _get_paths(router.routes, prefix + route.include_context.prefix)
        elif isinstance(route, Route) and "GET" in route.methods:
            yield prefix + route.path


def _get_routes(app) -> list[str]:
    """Every path of the app's routing table that answers GET (docs pages included)."""
    return sorted(set(_get_paths(_fastapi_of(app).routes)))


def _concrete(path: str) -> str:
    return path.replace("{dzbm:path}", "H7ACTIVE01").replace("{dzbm}", "H7ACTIVE01")


def _comparable(headers) -> dict:
    # date moves with the clock; a redirect carries a fresh token each time (same place, same length)
    out = {k: v for k, v in headers.items() if k != "date"}
    if "location" in out:
        out["location"] = out["location"].split("?d=")[0]
    return out


@pytest.mark.parametrize("receiver_alone", [False, True])
def test_every_get_route_answers_head_like_get(redirect_dsn, receiver_alone):
    from redirect_api.receiver import create_receiver_app

    make = create_receiver_app if receiver_alone else create_app
    app = make(settings(access_log=False), RING, redirect_dsn)
    paths = _get_routes(app)
    assert "/healthz" in paths and "/doorplate" in paths and (receiver_alone or "/ecode/resolve/{dzbm:path}" in paths)
    with serve_in_thread(app) as base, httpx.Client(base_url=base, follow_redirects=False) as c:
        for path in paths:
            urls = [_concrete(path)]
            if "{dzbm" in path:
                urls += [path.split("{")[0] + "NOPE404", path.split("{")[0] + "bad.code"]
            if path == "/doorplate":
                urls = ["/doorplate", "/doorplate?d=%21%21"]
            for url in urls:
                get, head = c.get(url), c.head(url)
                assert head.status_code == get.status_code, url
                assert _comparable(head.headers) == _comparable(get.headers), url
                assert head.content == b""
        # HEAD on the page tells what GET would answer and does not use the token up.
        token = issue_token({"dzbm": "H7ACTIVE01", "dzmc": "x"}, RING)
        assert c.head("/doorplate", params={"d": token}).status_code == 200
        assert c.get("/doorplate", params={"d": token}).status_code == 200
        assert c.head("/doorplate", params={"d": token}).status_code == 409
        # No body on the wire either (an HTTP client drops it on its own).
        host, port = base.removeprefix("http://").rsplit(":", 1)
        with socket.create_connection((host, int(port))) as s:
            s.sendall(b"HEAD /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            raw = b"".join(iter(lambda: s.recv(4096), b""))
        assert raw.startswith(b"HTTP/1.1 200 ") and raw.endswith(b"\r\n\r\n")


def _declared(doc: dict, path: str) -> set[int]:
    return {int(code) for code in doc["paths"][path]["get"]["responses"]}


def test_openapi_declares_what_each_route_answers(redirect_dsn):
    """Every status seen when calling a route with good, unknown, missing or malformed input, with
    the database away and over the limits, is declared for that route; ``d`` is required."""
    seen: dict[str, set[int]] = {}

    def note(c, template: str, url: str, **kw) -> None:
        seen.setdefault(template, set()).add(c.request(kw.pop("method", "GET"), url, **kw).status_code)

    expired = issue_token({"dzbm": "H7ACTIVE01"}, RING, now=time.time() - 301)
    used = issue_token({"dzbm": "H7ACTIVE01"}, RING)
    with serve_in_thread(create_app(settings(access_log=False), RING, redirect_dsn)) as base, \
            httpx.Client(base_url=base, follow_redirects=False) as c:
        doc = c.get("/openapi.json").json()
        for code in ("H7ACTIVE01", "H7OUTSIDE01", "H7DISABLED1", "NOPE", "bad.code", "a%0A", "A" * 65):
            note(c, "/ecode/resolve/{dzbm}", f"/ecode/resolve/{code}")
            note(c, "/ecode/r/{dzbm}", f"/ecode/r/{code}")
        for params in ({}, {"d": ""}, {"d": "!!"}, {"d": expired}, {"d": used}, {"d": used}):
            note(c, "/doorplate", "/doorplate", params=params)
        for template in ("/healthz", "/readyz"):
            note(c, template, template)
        for template, url in (("/ecode/resolve/{dzbm}", "/ecode/resolve/X"), ("/ecode/r/{dzbm}", "/ecode/r/X"),
                              ("/doorplate", "/doorplate"), ("/healthz", "/healthz"), ("/readyz", "/readyz")):
            note(c, template, url + "?q=" + "A" * 9000)
            note(c, template, url, content=b"x" * 2000)
    with serve_in_thread(create_app(settings(rate_limit=0.01, rate_burst=3, access_log=False), RING,
                                    "postgresql://postgres@127.0.0.1:1/none?connect_timeout=1")) as base, \
            httpx.Client(base_url=base, follow_redirects=False, timeout=30) as c:
        calls = (("/ecode/resolve/{dzbm}", "/ecode/resolve/X"), ("/ecode/r/{dzbm}", "/ecode/r/X"),
                 ("/doorplate", f"/doorplate?d={issue_token({'dzbm': 'X'}, RING)}"))
        for template, url in calls + calls:  # the database is away: 503 (burst of 3), then 429
            note(c, template, url)
        note(c, "/readyz", "/readyz")
    assert seen["/ecode/resolve/{dzbm}"] >= {200, 404, 422, 503, 429}
    assert seen["/doorplate"] >= {400, 401, 409, 503, 429}
    for template, statuses in seen.items():
        assert statuses <= _declared(doc, template), (template, statuses - _declared(doc, template))
    (d,) = doc["paths"]["/doorplate"]["get"]["parameters"]
    assert d["name"] == "d" and d["required"] is True


BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"


@pytest.mark.parametrize(("dzbm", "status", "reason", "words"), [
    ("H7DISABLED1", 410, "disabled", "已停用"), ("H7CANCEL-01", 410, "cancelled", "已注销"),
    ("H7UNKNOWN", 404, "unknown", "未找到该门牌地址"), ("H7DELETED01", 404, "unknown", "未找到该门牌地址"),
    ("H7OUTSIDE01", 404, "outside", "不在达州市")])
def test_browsers_get_a_chinese_page_with_the_same_status(client, dzbm, status, reason, words):
    page = client.get(f"/ecode/r/{dzbm}", headers={"Accept": BROWSER_ACCEPT})
    assert page.status_code == status and page.headers["content-type"] == "text/html; charset=utf-8"
    assert words in page.text and f'data-reason="{reason}"' in page.text and dzbm in page.text
    assert "请" in page.text and 'lang="zh-CN"' in page.text  # says what to do
    assert "<script" not in page.text and "http" not in page.text.replace("http-equiv", "")  # loads nothing
    assert page.headers["vary"] == "Accept"
    # Clients that do not put HTML first keep the contract's JSON.
    for accept in (None, "application/json", "application/json, text/html", "*/*", "text/html;q=0, */*"):
        r = client.get(f"/ecode/r/{dzbm}", headers={} if accept is None else {"Accept": accept})
        assert r.status_code == status and r.json() == {"dzbm": dzbm, "reason": reason}, accept
        assert r.headers["vary"] == "Accept"


def test_browser_pages_use_the_code_table_words():
    from dz_assets.catalog import load_catalogue
    from redirect_api.pages import render_notice

    words = load_catalogue().code_table("DZZT").codes
    assert f"「{words['2']}」" in render_notice("X", "disabled", 410)
    assert f"「{words['3']}」" in render_notice("X", "cancelled", 410)


def test_browser_with_fallback_still_goes_to_the_fallback(redirect_dsn):
    app = create_app(settings(fallback_url="https://fallback.example.invalid/page"), RING, redirect_dsn)
    with TestClient(app, follow_redirects=False) as c:
        r = c.get("/ecode/r/H7DISABLED1", headers={"Accept": BROWSER_ACCEPT})
        assert r.status_code == 302 and r.headers["location"].startswith("https://fallback.example.invalid/")
