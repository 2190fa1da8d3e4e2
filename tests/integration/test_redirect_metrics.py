"""``/metrics`` of the redirect service: Prometheus text that parses, and counters that move with
real requests against a real PostgreSQL (redirects, token checks, latency, cache, guard, rate limit).

Figures are per process and other tests in this process count too: every check is a difference
between two scrapes around the requests it makes.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import time
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from support.redirect_sample import TEST_RING, create_sample_database, drop_database, test_settings

from redirect_api.app import create_app
from redirect_api.server import free_port, serve_in_thread


@pytest.fixture(scope="module")
def redirect_dsn(pg_server_dsn):
    dsn = create_sample_database(pg_server_dsn, prefix="dzhub_redirect_metrics")
    yield dsn
    drop_database(pg_server_dsn, dsn)


def scrape(client) -> dict[tuple[str, tuple], float]:
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    out: dict[tuple[str, tuple], float] = {}
    for family in text_string_to_metric_families(r.text):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def moved(before: dict, after: dict, name: str, **labels) -> float:
    key = (name, tuple(sorted(labels.items())))
    return after.get(key, 0.0) - before.get(key, 0.0)


def test_metrics_parse_and_count_redirects_tokens_latency_and_cache(redirect_dsn):
    with TestClient(create_app(test_settings(cache_ttl_s=60), TEST_RING, redirect_dsn),
                    follow_redirects=False) as c:
        before = scrape(c)
        token = parse_qs(urlsplit(c.get("/ecode/r/H7ACTIVE01").headers["location"]).query)["d"][0]
        assert c.get("/ecode/r/H7ACTIVE01").status_code == 302  # from the cache
        assert c.get("/ecode/r/H7DISABLED1").status_code == 410
        assert c.get("/ecode/r/H7CANCEL-01").status_code == 410
        assert c.get("/ecode/r/H7UNKNOWN").status_code == 404
        assert c.get("/ecode/r/H7OUTSIDE01").status_code == 404
        assert c.get("/ecode/r/bad.code").status_code == 422
        assert c.get("/doorplate", params={"d": token}).status_code == 200
        assert c.get("/doorplate", params={"d": token}).status_code == 409
        assert c.get("/doorplate", params={"d": "!!"}).status_code == 400
        after = scrape(c)
        text = c.get("/metrics").text

    redirects = "dzhub_redirect_redirects_total"
    assert moved(before, after, redirects, outcome="token", reason="none", status="302") == 2
    assert moved(before, after, redirects, outcome="refused", reason="disabled", status="410") == 1
    assert moved(before, after, redirects, outcome="refused", reason="cancelled", status="410") == 1
    assert moved(before, after, redirects, outcome="refused", reason="unknown", status="404") == 1
    assert moved(before, after, redirects, outcome="refused", reason="outside", status="404") == 1
    assert moved(before, after, redirects, outcome="invalid", reason="none", status="422") == 1
    checks = "dzhub_redirect_token_checks_total"
    assert moved(before, after, checks, outcome="ok", status="200") == 1
    assert moved(before, after, checks, outcome="replayed", status="409") == 1
    assert moved(before, after, checks, outcome="malformed", status="400") == 1
    assert moved(before, after, "dzhub_redirect_registry_cache_total", result="hit") >= 1
    assert moved(before, after, "dzhub_redirect_registry_cache_total", result="miss") >= 5
    route = "/ecode/r/{dzbm}"
    assert moved(before, after, "dzhub_redirect_request_duration_seconds_count", route=route) == 7
    assert moved(before, after, "dzhub_redirect_request_duration_seconds_bucket", route=route, le="+Inf") == 7
    assert moved(before, after, "dzhub_redirect_request_duration_seconds_sum", route=route) > 0
    assert moved(before, after, "dzhub_redirect_requests_total", route="/doorplate", status="409") == 1
    # Labels are route templates and fixed words: no code, token or address reaches the text.
    for secret in ("H7ACTIVE01", "H7UNKNOWN", "bad.code", token[:20], "朝阳", "testclient"):
        assert secret not in text


def test_metrics_are_neither_rate_limited_nor_logged(redirect_dsn):
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            lines.extend(record.getMessage().split("\n"))

    handler = Keep()
    logging.getLogger("redirect_api.access").addHandler(handler)
    try:
        with TestClient(create_app(test_settings(rate_limit=0.01, rate_burst=1), TEST_RING, redirect_dsn),
                        follow_redirects=False) as c:
            before = scrape(c)
            assert [c.get("/ecode/resolve/H7ACTIVE01").status_code for _ in range(3)] == [200, 429, 429]
            assert all(c.get("/metrics").status_code == 200 for _ in range(10))
            assert c.head("/metrics").status_code == 200 and c.post("/metrics").status_code == 405
            after = scrape(c)
    finally:
        logging.getLogger("redirect_api.access").removeHandler(handler)
    assert moved(before, after, "dzhub_redirect_rate_limited_total") == 2
    paths = [json.loads(line)["path"] for line in lines]
    assert paths.count("/ecode/resolve/H7ACTIVE01") == 3 and "/metrics" not in paths


def _wait_for(client, name: str, labels: dict, before: dict, at_least: float, timeout_s: float = 5.0) -> float:
    deadline = time.monotonic() + timeout_s
    while True:
        got = moved(before, scrape(client), name, **labels)
        if got >= at_least or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def test_connections_closed_by_the_guard_are_counted(redirect_dsn):
    settings = test_settings(access_log=False, header_timeout_s=0.3, max_connections=3)
    app = create_app(settings, TEST_RING, redirect_dsn)
    closed = "dzhub_redirect_connections_closed_total"
    with serve_in_thread(app, settings=settings) as base, httpx.Client(base_url=base) as c:
        host, port = base.removeprefix("http://").rsplit(":", 1)
        before = scrape(c)
        c.close()  # the scraper's own kept-alive connection must not be the idle one counted
        with socket.create_connection((host, int(port))) as idle, \
                socket.create_connection((host, int(port))) as partial:
            partial.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            assert partial.recv(4096).startswith(b"HTTP/1.1 408 ")
            assert idle.recv(4096) == b""  # closed without an answer
        with socket.create_connection((host, int(port))) as big:
            big.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n")
            assert big.recv(4096).startswith(b"HTTP/1.1 431 ")
        # Over the cap of 3: the idle connections waiting longest are closed to serve new ones.
        waiting = [socket.create_connection((host, int(port))) for _ in range(3)]
        try:
            with httpx.Client(base_url=base) as fresh:
                assert fresh.get("/healthz").status_code == 200
                assert _wait_for(fresh, closed, {"reason": "idle"}, before, 1) >= 1
                assert _wait_for(fresh, closed, {"reason": "header_timeout"}, before, 1) == 1
                assert _wait_for(fresh, closed, {"reason": "head_too_large"}, before, 1) == 1
                assert _wait_for(fresh, closed, {"reason": "evicted"}, before, 1) >= 1
        finally:
            for s in waiting:
                s.close()


def test_workers_share_one_sum(pg_dsn):
    """Two workers behind one socket: whichever answers a scrape reports every worker's requests."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DZ_SM4", "PROMETHEUS_MULTIPROC"))}
    env["DZ_PG_DSN"] = pg_dsn
    dzhub = os.path.join(os.path.dirname(sys.executable), "dzhub")
    proc = subprocess.Popen([dzhub, "redirect", "serve", "--port", str(port), "--workers", "2", "--demo-keys"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline and proc.poll() is None, "dzhub redirect serve did not start"
            time.sleep(0.1)
        time.sleep(1.0)  # the second worker may start after the first answers
        for _ in range(40):  # a new connection each: the kernel spreads them over the workers
            assert httpx.get(f"{base}/healthz").status_code == 200
        counts = set()
        for _ in range(10):
            with httpx.Client(base_url=base) as c:
                counts.add(scrape(c)[("dzhub_redirect_requests_total", (("route", "/healthz"), ("status", "200")))])
        assert len(counts) == 1 and min(counts) >= 41, counts  # the first readiness probe or two, and 40
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
