"""Prometheus metrics of the redirect service (``GET /metrics``, text format, no sign-in).

Counted in the process that serves the request: redirects and token checks by outcome, request
latency per route, registry cache hits and misses, connections the guard closed, rate-limited
requests. Labels are fixed words (outcomes, reasons, statuses, route templates such as
``/ecode/r/{dzbm}``): never a code, token, name or client address, so nothing personal leaves
through them and a scanner probing random URLs cannot grow the series (unknown paths are
``other``).

Workers: with one process (the default) the figures live in memory. ``dzhub redirect serve
--workers N`` shares one listening socket between N processes, so a scrape reaches one worker at
random and per-worker figures would jump back and forth; :func:`redirect_api.server.run` then
turns on prometheus_client's multiprocess mode (a fresh ``PROMETHEUS_MULTIPROC_DIR`` per run,
set before the workers start), each worker writes its figures to its own mmap file and any
worker answers a scrape with the sum over all of them. One process per port behind a balancer
needs nothing: scrape each.

The hot path pays a pre-bound counter's ``inc`` (a lock and an add) per figure: the label
lookups happen once, at import or on a route's first request.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector

REGISTRY = CollectorRegistry(auto_describe=True)
# prometheus_client picks its value store at import, from PROMETHEUS_MULTIPROC_DIR.
MULTIPROCESS = values.ValueClass is not values.MutexValue
METRICS_PATH = "/metrics"

# Latency of a redirect is ~0.1 ms in process and tens of ms under load: buckets from 0.5 ms to 5 s.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)

REDIRECTS = Counter("dzhub_redirect_redirects", "Answers of GET /ecode/r/{dzbm} by outcome (token: 302 to the "
                    "doorplate page; fallback: 302 to the fallback page; refused: 404/410 without a fallback; "
                    "invalid: 422; unavailable: 503) and reason", ["outcome", "reason", "status"],
                    registry=REGISTRY)
TOKEN_CHECKS = Counter("dzhub_redirect_token_checks", "Tokens checked by the doorplate page, by outcome",
                       ["outcome", "status"], registry=REGISTRY)
REQUESTS = Counter("dzhub_redirect_requests", "Requests by route template and status", ["route", "status"],
                   registry=REGISTRY)
LATENCY = Histogram("dzhub_redirect_request_duration_seconds", "Time from a request's start to its answer, "
                    "per route template", ["route"], buckets=LATENCY_BUCKETS, registry=REGISTRY)
CACHE = Counter("dzhub_redirect_registry_cache", "Address lookups answered from the cache (hit) or not (miss)",
                ["result"], registry=REGISTRY)
REGISTRY_QUERIES = Counter("dzhub_redirect_registry_queries", "Batched lookup queries sent to PostgreSQL",
                           registry=REGISTRY)
CLOSED = Counter("dzhub_redirect_connections_closed", "Connections closed by the connection guard: idle "
                 "(no request head within the header timeout), header_timeout (part of a head, 408), evicted "
                 "(idle, closed to make room over the connection cap), head_too_large (431)", ["reason"],
                 registry=REGISTRY)
RATE_LIMITED = Counter("dzhub_redirect_rate_limited", "Requests refused by the per-client rate limit (429)",
                       registry=REGISTRY)

REASONS = ("unknown", "outside", "disabled", "cancelled")
REDIRECT_TOKEN = REDIRECTS.labels("token", "none", "302")
REDIRECT_FALLBACK = {r: REDIRECTS.labels("fallback", r, "302") for r in REASONS}
REDIRECT_REFUSED = {r: REDIRECTS.labels("refused", r, "404" if r in ("unknown", "outside") else "410")
                    for r in REASONS}
REDIRECT_INVALID = REDIRECTS.labels("invalid", "none", "422")
REDIRECT_UNAVAILABLE = REDIRECTS.labels("unavailable", "none", "503")
TOKEN_OUTCOMES = {"ok": "200", "malformed": "400", "tampered": "400", "unknown_key": "400", "expired": "401",
                  "replayed": "409"}
TOKEN = {outcome: TOKEN_CHECKS.labels(outcome, status) for outcome, status in TOKEN_OUTCOMES.items()}
CACHE_HIT = CACHE.labels("hit")
CACHE_MISS = CACHE.labels("miss")
CLOSED_IDLE = CLOSED.labels("idle")
CLOSED_HEADER_TIMEOUT = CLOSED.labels("header_timeout")
CLOSED_EVICTED = CLOSED.labels("evicted")
CLOSED_HEAD_TOO_LARGE = CLOSED.labels("head_too_large")

_ROUTES = {"/doorplate": "/doorplate", "/healthz": "/healthz", "/readyz": "/readyz", "/docs": "/docs",
           "/openapi.json": "/docs"}


def token_check(outcome: str) -> None:
    (TOKEN.get(outcome) or TOKEN_CHECKS.labels(outcome, "400")).inc()


def route_of(path: str) -> str:
    """The route template a path belongs to (the label), never the path itself."""
    if path.startswith("/ecode/r/"):
        return "/ecode/r/{dzbm}"
    if path.startswith("/ecode/resolve/"):
        return "/ecode/resolve/{dzbm}"
    if path.startswith("/docs/"):
        return "/docs"
    return _ROUTES.get(path, "other")


def exposition() -> bytes:
    """The text every scrape gets: this process's figures, or every worker's summed."""
    if MULTIPROCESS:
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)


class Metrics:
    """Outermost layer: answers ``/metrics`` itself, times every other request by route and
    hands it to the access log (when on) with the same time and status.

    Outside the access log and the rate limit on purpose: a scrape is neither logged (the log
    would hold the scraper's address every 15 s) nor limited (a refused scrape is a gap in
    every graph). It times what the client waits for, the limits' own answers included.
    """

    def __init__(self, app: Callable, access_log=None) -> None:
        self.app = app
        self.access_log = access_log  # an AccessLog fed from the same clock and status, or None
        self._latency: dict[str, object] = {}
        self._requests: dict[tuple[str, int], object] = {}

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            if self.access_log is None:
                return await self.app(scope, receive, send)
            access_log = self.access_log

            async def send_after_flush(message: dict) -> None:
                if message["type"].startswith("lifespan.shutdown"):
                    access_log.flush()  # before the server is told it may exit: nothing stays buffered
                await send(message)

            return await self.app(scope, receive, send_after_flush)
        path = scope["path"]
        if path == METRICS_PATH:
            return await _send_metrics(send, scope["method"])
        start = time.perf_counter()
        status = [500]

        async def send_and_note(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            elapsed = time.perf_counter() - start
            route = route_of(path)
            latency = self._latency.get(route)
            if latency is None:
                latency = self._latency[route] = LATENCY.labels(route)
            latency.observe(elapsed)
            key = (route, status[0])
            requests = self._requests.get(key)
            if requests is None:
                requests = self._requests[key] = REQUESTS.labels(route, str(status[0]))
            requests.inc()
            if self.access_log is not None:
                self.access_log.note(scope, status[0], elapsed)


async def _send_metrics(send: Callable, method: str) -> None:
    if method in ("GET", "HEAD"):
        status, payload, headers = 200, exposition(), [(b"content-type", CONTENT_TYPE_LATEST.encode())]
    else:
        status, payload, headers = 405, b'{"detail":"Method Not Allowed"}', [
            (b"content-type", b"application/json"), (b"allow", b"GET, HEAD")]
    headers += [(b"content-length", str(len(payload)).encode()), (b"cache-control", b"no-store")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if method == "HEAD" else payload})
