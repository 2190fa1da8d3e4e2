"""What the redirect app and the doorplate receiver share: the service (settings, keys, pool),
its lifespan, health routes, middleware stack and error answers.

Both :mod:`redirect_api.app` and :mod:`redirect_api.receiver` build on this module; the app
mounts the receiver's router, so the receiver may not import the app.
"""

from __future__ import annotations

import asyncio
import gc
from contextlib import asynccontextmanager

import psycopg
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi_offline import FastAPIOffline
from psycopg_pool import AsyncConnectionPool, PoolTimeout
from pydantic import BaseModel, Field

from dz_assets.db import resolve_dsn
from dz_assets.settings import RedirectSettings, get_redirect_settings
from redirect_api.keys import KeyRing, load_keyring
from redirect_api.metrics import Metrics
from redirect_api.middleware import AccessLog, HeadAsGet, RateLimit, RequestLimits
from redirect_api.registry import AddressRegistry
from redirect_api.replay import AsyncReplayMemory

READY_TIMEOUT_S = 2.0
# A scan waits at most this long for the database, then gets 503: a resident will not wait 30 s.
POOL_TIMEOUT_S = 5.0
# What "the registry cannot be reached" looks like from psycopg and its pool.
UNAVAILABLE = (psycopg.Error, PoolTimeout)
UNAVAILABLE_BODY = {"detail": "address registry unavailable, try again shortly"}
# Tokens are single-use and short-lived: neither the redirect nor the page may be cached.
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


class Detail(BaseModel):
    detail: str = Field(description="说明")


class Health(BaseModel):
    status: str = Field(description="ok")


class Readiness(BaseModel):
    status: str = Field(description="ready 或 not ready")
    keys: bool = Field(description="密钥已加载")
    database: bool = Field(description="数据库可达")


# Answers the middleware (RequestLimits, RateLimit) and the database guard give on any route:
# every route declares them, so that the document lists what a client can really get.
LIMIT_RESPONSES: dict[int | str, dict] = {
    413: {"model": Detail, "description": "请求带有正文（本服务只接受不超过 1 KiB 的正文）"},
    414: {"model": Detail, "description": "URL 超过 8 KiB"},
}
RATE_LIMITED: dict[int | str, dict] = {
    429: {"model": Detail, "description": "请求过于频繁（按客户端限流），见 Retry-After"},
}
REGISTRY_DOWN: dict[int | str, dict] = {
    503: {"model": Detail, "description": "地址库暂不可用（数据库不可达），见 Retry-After"},
}


class Service:
    """What every request needs: settings, keys, the pool and what sits on it."""

    def __init__(self, settings: RedirectSettings, keyring: KeyRing, dsn: str) -> None:
        self.settings = settings
        self.keyring = keyring
        # prepare_threshold=0: every statement is prepared on first use on each pooled connection.
        self.pool = AsyncConnectionPool(dsn, min_size=1, max_size=max(1, settings.pool_size), open=False,
                                        timeout=POOL_TIMEOUT_S,
                                        kwargs={"autocommit": True, "prepare_threshold": 0},
                                        name="redirect")
        self.registry = AddressRegistry(self.pool, cache_ttl_s=settings.cache_ttl_s,
                                        cache_size=settings.cache_size, max_flushers=settings.pool_size)
        self.replay = AsyncReplayMemory(self.pool)
        url = settings.doorplate_url
        self.token_url_prefix = f"{url}{'&' if '?' in url else '?'}d="

    async def ready(self) -> dict:
        checks = {"keys": bool(self.keyring.keys), "database": False}
        try:
            async with asyncio.timeout(READY_TIMEOUT_S), self.pool.connection() as conn:
                await conn.execute("select 1")
            checks["database"] = True
        except Exception:  # noqa: BLE001 - any failure means "not ready", reported as such
            pass
        return checks


# Where the documentation page's assets (Swagger UI, favicon) are served, from the installed
# fastapi-offline package: FastAPI's own pages load them from a CDN, so /docs was blank offline.
DOCS_ASSETS = "/docs/assets"
# Swagger UI would otherwise ask an online validator about every spec served from a public host.
SWAGGER_UI_PARAMETERS = {"validatorUrl": None}


def create_api(**kwargs) -> FastAPI:
    """A FastAPI app whose ``/docs`` loads every asset from this server.

    No ``/redoc``: ReDoc, even from the package's copy, still asks cdn.redoc.ly for an asset, and
    ``/docs`` documents the same OpenAPI document.
    """
    return FastAPIOffline(redoc_url=None, static_url=DOCS_ASSETS, swagger_ui_parameters=SWAGGER_UI_PARAMETERS,
                          **kwargs)


def build_service(settings: RedirectSettings | None = None, keyring: KeyRing | None = None,
                  dsn: str | None = None) -> Service:
    settings = settings or get_redirect_settings()
    keyring = keyring or load_keyring(settings)
    return Service(settings, keyring, dsn or resolve_dsn().dsn)


def lifespan(service: Service, *, freeze_gc: bool = False):
    """Open the service's pool with the app and close it after."""
    @asynccontextmanager
    async def run(_app: FastAPI):
        await service.pool.open(wait=False)
        if freeze_gc:
            # Everything built so far (modules, app, routes) lives as long as the process: move it
            # out of the collector's sight, so that full collections only walk what requests create.
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            await service.pool.close()

    return run


def with_middleware(app, settings: RedirectSettings):
    """Wrap an app in the limits, the rate limit, HEAD handling and, outermost, the metrics layer,
    which also feeds the access log when it is on (``/metrics`` is answered there: neither logged
    nor rate limited).

    HEAD sits innermost: it is rate limited and logged as itself, and answered by the GET route.
    """
    wrapped = RateLimit(HeadAsGet(app), rate=settings.rate_limit, burst=settings.rate_burst)
    wrapped = RequestLimits(wrapped)
    return Metrics(wrapped, AccessLog() if settings.access_log else None)


def install_unavailable_handler(app: FastAPI) -> None:
    """Database trouble answers 503 with Retry-After, not a 500 with a traceback."""
    async def registry_unavailable(_request: Request, _exc: Exception):
        return JSONResponse(UNAVAILABLE_BODY, status_code=503, headers={"Retry-After": "5"})

    for exc in UNAVAILABLE:
        app.add_exception_handler(exc, registry_unavailable)


def add_health_routes(app: FastAPI, service: Service) -> None:
    """``/healthz`` (the process answers) and ``/readyz`` (database reachable, keys loaded)."""

    @app.get("/healthz", summary="存活检查", response_model=Health, responses=LIMIT_RESPONSES)
    async def healthz():
        return {"status": "ok"}

    @app.get("/readyz", summary="就绪检查（数据库可达、密钥已加载）", response_model=Readiness,
             responses={**LIMIT_RESPONSES, 503: {"model": Readiness, "description": "未就绪（数据库不可达或无密钥）"}})
    async def readyz():
        checks = await service.ready()
        ok = all(checks.values())
        return JSONResponse({"status": "ready" if ok else "not ready", **checks}, status_code=200 if ok else 503)
