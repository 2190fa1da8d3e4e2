"""ASGI middleware of the redirect service: request limits, per-client rate limit, HEAD, access log.

Plain ASGI (not Starlette's BaseHTTPMiddleware): each layer costs a function call, not a task.
The access log is one JSON line per request with the path only: the query string (which
carries the token on ``/doorplate``) and every address detail stay out of it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redirect_api.metrics import RATE_LIMITED

Scope = dict[str, Any]
ASGIApp = Callable[[Scope, Callable, Callable], Awaitable[None]]

# A GET service: the longest legitimate URL is /doorplate?d=<4 096-char token>; 8 KiB is ample.
MAX_URL_BYTES = 8192
# Nothing here reads a body; 1 KiB of body means a confused or hostile client.
MAX_BODY_BYTES = 1024
# Distinct clients remembered by the rate limiter before the oldest are forgotten.
MAX_CLIENTS = 100_000

access_logger = logging.getLogger("redirect_api.access")


def configure_access_log() -> None:
    """JSON lines on stderr, once per process (uvicorn's own access log is off: it logs queries)."""
    access_logger.setLevel(logging.INFO)
    access_logger.propagate = False
    if not any(getattr(h, "_dz_access", False) for h in access_logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        handler._dz_access = True
        access_logger.addHandler(handler)


async def _send_json(send: Callable, status: int, body: dict, headers: list | None = None) -> None:
    payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(payload)).encode())] + (headers or [])})
    await send({"type": "http.response.body", "body": payload})


class RequestLimits:
    """413 for a body over 1 KiB, 414 for a URL over 8 KiB, before any routing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http":
            url_len = len(scope.get("raw_path") or b"") + len(scope.get("query_string") or b"")
            if url_len > MAX_URL_BYTES:
                return await _send_json(send, 414, {"detail": "URI too long"})
            for name, value in scope["headers"]:
                if name == b"content-length":
                    if not value.isdigit() or int(value) > MAX_BODY_BYTES:
                        return await _send_json(send, 413, {"detail": "request body too large"})
                elif name == b"transfer-encoding":
                    return await _send_json(send, 413, {"detail": "chunked request bodies are not accepted"})
        await self.app(scope, receive, send)


# Set in the scope of a HEAD request answered by a GET route: a route with a side effect (the
# doorplate page claims its token) can answer without it.
HEAD_SCOPE_KEY = "dz.head"


class HeadAsGet:
    """HEAD is answered by the GET route: the same status and headers, no body.

    FastAPI's routes answer only the methods they name, so HEAD (what load balancers and link
    checkers send) got 405 on every GET route. Here every GET route, present or future, answers
    it. Content-Length stays the GET's, as HTTP asks of a HEAD answer.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            return await self.app(scope, receive, send)

        async def send_without_body(message: dict) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        await self.app({**scope, "method": "GET", HEAD_SCOPE_KEY: True}, receive, send_without_body)


class RateLimit:
    """Token bucket per client address on the e-code and doorplate paths; ``rate`` 0 turns it off."""

    def __init__(self, app: ASGIApp, *, rate: float, burst: int, prefixes: tuple[str, ...] = ("/ecode", "/doorplate")):
        self.app = app
        self.rate = rate
        self.burst = max(1, burst)
        self.prefixes = prefixes
        self._buckets: dict[str, tuple[float, float]] = {}  # client → (tokens, last refill)

    def allow(self, client: str, now: float) -> bool:
        tokens, last = self._buckets.pop(client, (float(self.burst), now))
        tokens = min(self.burst, tokens + (now - last) * self.rate)
        if len(self._buckets) >= MAX_CLIENTS:
            self._buckets.pop(next(iter(self._buckets)))
        ok = tokens >= 1.0
        self._buckets[client] = (tokens - 1.0 if ok else tokens, now)
        return ok

    async def __call__(self, scope: Scope, receive: Callable, send: Callable) -> None:
        if (self.rate > 0 and scope["type"] == "http" and scope["path"].startswith(self.prefixes)
                and not self.allow((scope.get("client") or ("?", 0))[0], time.monotonic())):
            RATE_LIMITED.inc()
            retry = max(1, int(1 / self.rate + 0.999))
            return await _send_json(send, 429, {"detail": "too many requests"},
                                    [(b"retry-after", str(retry).encode())])
        await self.app(scope, receive, send)


class AccessLog:
    """One JSON line per request: time, client, method, path (no query), status, milliseconds.

    Not a layer of its own: the metrics layer, which already times every request and sees its
    status, hands each finished request to ``note`` (a second wrapper of ``send`` and a second
    clock cost ~15 % of the hot path's throughput in the redirect bench).

    Lines are written in batches (at most ``FLUSH_LINES`` lines or ``FLUSH_S`` seconds late, and
    at shutdown): a flushed write per request cost ~40 % of the service's throughput.
    """

    FLUSH_LINES = 256
    FLUSH_S = 1.0

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._timer = None
        configure_access_log()

    def flush(self) -> None:
        self._timer = None
        if self._lines:
            lines, self._lines = self._lines, []
            access_logger.info("\n".join(lines))

    def note(self, scope: Scope, status: int, seconds: float) -> None:
        # Formatted by hand (json.dumps of a dict per request was a visible share of the hot
        # path); only the path is free text, and it goes through json.dumps.
        client = (scope.get("client") or ("?", 0))[0]
        self._lines.append(
            f'{{"ts": {time.time():.3f}, "client": {json.dumps(client)}, "method": "{scope["method"]}", '
            f'"path": {json.dumps(scope["path"][:200], ensure_ascii=False)}, "status": {status}, '
            f'"ms": {seconds * 1000:.2f}}}')
        if len(self._lines) >= self.FLUSH_LINES:
            self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.FLUSH_S, self.flush)
