"""The redirect service against slow, idle and oversized clients, on a real uvicorn (loopback).

Raw sockets, because the faults are below HTTP clients: a head that never completes, a head of
megabytes. The server runs with a small connection cap and a short head timeout (settings), so
that each test takes seconds.
"""

from __future__ import annotations

import socket
import time
from contextlib import closing, contextmanager

import httpx
import pytest
from support.redirect_sample import TEST_RING, test_settings

from redirect_api.app import create_app
from redirect_api.protocol import GuardedH11Protocol, GuardedProtocol
from redirect_api.server import serve_in_thread, uvicorn_settings

HEAD_TIMEOUT_S = 1.0
CAP = 100
PARTIAL_HEAD = b"GET /healthz HTTP/1.1\r\nHost: dzhub.test\r\nX-Slow: "


# The protocol the service runs (httptools when installed) and the h11 fallback.
PROTOCOLS = sorted({GuardedProtocol, GuardedH11Protocol}, key=lambda p: p.__name__)


def test_the_service_runs_a_guarded_protocol():
    assert uvicorn_settings(test_settings())["http"] is GuardedProtocol


@pytest.fixture(scope="module", params=PROTOCOLS, ids=lambda p: p.__name__)
def server(request, pg_dsn):
    settings = test_settings(header_timeout_s=HEAD_TIMEOUT_S, max_connections=CAP, access_log=False)
    with serve_in_thread(create_app(settings, TEST_RING, pg_dsn), settings=settings, http=request.param) as base:
        yield base


def address(base: str) -> tuple[str, int]:
    host, port = base.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


def wait_closed(sock: socket.socket, until: float) -> bytes | None:
    """What the server sent before closing the connection, or None when it is still open at ``until``."""
    data = b""
    while time.monotonic() < until:
        sock.settimeout(max(0.01, until - time.monotonic()))
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            return None
        except ConnectionResetError:
            return data
        if not chunk:
            return data
        data += chunk
    return None


@contextmanager
def sockets(n: int):
    opened: list[socket.socket] = []
    try:
        yield opened
    finally:
        for s in opened:
            s.close()


def test_idle_half_open_connections_do_not_lock_the_service_out(server):
    """300 connections idle in the middle of a head, on a server capped at 100: a new request is
    still answered, and every idle one is closed within the head timeout."""
    with sockets(300) as idle:
        for _ in range(300):
            s = socket.create_connection(address(server))
            s.sendall(PARTIAL_HEAD)
            idle.append(s)
        started = time.monotonic()
        r = httpx.get(server + "/healthz", timeout=5)
        assert r.status_code == 200 and r.json() == {"status": "ok"}
        until = started + HEAD_TIMEOUT_S + 2.0
        answers = [wait_closed(s, until) for s in idle]
    assert all(a is not None for a in answers), f"{answers.count(None)} idle connections still open"
    # The newest ones (not pushed out by the cap) waited out their timeout and were told so.
    assert any(a.startswith(b"HTTP/1.1 408 ") for a in answers)


def test_silent_and_kept_alive_connections_are_timed_out(server):
    with closing(socket.create_connection(address(server))) as silent, \
            closing(socket.create_connection(address(server))) as kept:
        kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: dzhub.test\r\n\r\n")
        kept.settimeout(5)
        assert kept.recv(4096).startswith(b"HTTP/1.1 200 ")
        kept.sendall(PARTIAL_HEAD)  # the next request's head, never finished
        until = time.monotonic() + HEAD_TIMEOUT_S + 2.0
        assert wait_closed(silent, until) == b""
        assert (wait_closed(kept, until) or b"").startswith(b"HTTP/1.1 408 ")


def rss_kib() -> int:
    with open("/proc/self/status", encoding="ascii") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))


def test_oversized_request_heads_get_431_in_bounded_memory(server):
    with closing(socket.create_connection(address(server))) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: dzhub.test\r\nX-Big: " + b"a" * 65536 + b"\r\n\r\n")
        assert (wait_closed(s, time.monotonic() + 5) or b"").startswith(b"HTTP/1.1 431 ")

    before = rss_kib()
    chunk = b"a" * 65536
    with closing(socket.create_connection(address(server))) as s:
        sent = 0
        try:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: dzhub.test\r\nX-Big: ")
            while sent < 20 * 2**20:  # 20 MB of one header, from one reused buffer
                s.sendall(chunk)
                sent += len(chunk)
            s.sendall(b"\r\n\r\n")
        except (ConnectionResetError, BrokenPipeError):
            pass  # the server answered and closed before the client finished: expected
        answer = wait_closed(s, time.monotonic() + 5)
    assert answer is not None and (answer == b"" or answer.startswith(b"HTTP/1.1 431 "))
    assert sent < 20 * 2**20, "the server read a 20 MB head to its end"
    assert rss_kib() - before < 4 * 1024
    assert httpx.get(server + "/healthz", timeout=5).status_code == 200


def test_heads_under_the_limit_are_served_however_they_arrive(server):
    """A 12 KiB head in small pieces (the blank line split between two), and pipelined requests."""
    head = b"GET /healthz HTTP/1.1\r\nHost: dzhub.test\r\nCookie: " + b"c" * 12 * 1024 + b"\r\n\r\n"
    with closing(socket.create_connection(address(server))) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(0, len(head) - 2, 1000):
            s.sendall(head[i:min(i + 1000, len(head) - 2)])
            time.sleep(0.002)
        s.sendall(head[-2:])
        s.settimeout(5)
        assert s.recv(4096).startswith(b"HTTP/1.1 200 ")
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: a\r\n\r\nGET /readyz HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        raw = b"".join(iter(lambda: s.recv(4096), b""))
    assert raw.count(b"HTTP/1.1 200 ") == 2
