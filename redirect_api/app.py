"""The e-code redirect API (spec/ecode-redirect.md): resolve, redirect with an SM4 token, health.

``create_app()`` builds the service from the ``DZ_*`` settings; the doorplate landing page
(:mod:`redirect_api.receiver`) is mounted in the same app unless ``DZ_REDIRECT_RECEIVER=0``.
"""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager
from typing import Annotated
from urllib.parse import urlencode

from fastapi import FastAPI, Path, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from psycopg_pool import AsyncConnectionPool

from dz_assets.db import resolve_dsn
from dz_assets.settings import RedirectSettings, get_redirect_settings
from redirect_api.keys import KeyRing, load_keyring
from redirect_api.middleware import AccessLog, RateLimit, RequestLimits
from redirect_api.registry import AddressRegistry
from redirect_api.replay import AsyncReplayMemory
from redirect_api.tokens import issue_token

CODE_PATTERN = r"^[0-9A-Za-z_-]{1,64}$"
DzbmPath = Annotated[str, Path(min_length=1, max_length=64, pattern=CODE_PATTERN,
                               description="地址编码：1–64 位 [0-9A-Za-z_-]")]
READY_TIMEOUT_S = 2.0
# Tokens are single-use and short-lived: neither the redirect nor the page may be cached.
NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


class Service:
    """What every request needs: settings, keys, the pool and what sits on it."""

    def __init__(self, settings: RedirectSettings, keyring: KeyRing, dsn: str) -> None:
        self.settings = settings
        self.keyring = keyring
        # prepare_threshold=0: every statement is prepared on first use on each pooled connection.
        self.pool = AsyncConnectionPool(dsn, min_size=1, max_size=max(1, settings.pool_size), open=False,
                                        kwargs={"autocommit": True, "prepare_threshold": 0},
                                        name="redirect")
        self.registry = AddressRegistry(self.pool, cache_ttl_s=settings.cache_ttl_s,
                                        cache_size=settings.cache_size)
        self.replay = AsyncReplayMemory(self.pool)

    async def ready(self) -> dict:
        checks = {"keys": bool(self.keyring.keys), "database": False}
        try:
            async with asyncio.timeout(READY_TIMEOUT_S), self.pool.connection() as conn:
                await conn.execute("select 1")
            checks["database"] = True
        except Exception:  # noqa: BLE001 - any failure means "not ready", reported as such
            pass
        return checks


def build_service(settings: RedirectSettings | None = None, keyring: KeyRing | None = None,
                  dsn: str | None = None) -> Service:
    settings = settings or get_redirect_settings()
    keyring = keyring or load_keyring(settings)
    return Service(settings, keyring, dsn or resolve_dsn().dsn)


def with_middleware(app: FastAPI, settings: RedirectSettings):
    """Wrap an app in the limits, the rate limit and (when on) the access log."""
    wrapped = RateLimit(app, rate=settings.rate_limit, burst=settings.rate_burst)
    wrapped = RequestLimits(wrapped)
    return AccessLog(wrapped) if settings.access_log else wrapped


def _join_query(url: str, query: dict) -> str:
    return f"{url}{'&' if '?' in url else '?'}{urlencode(query)}"


def create_fastapi(service: Service) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        await service.pool.open(wait=False)
        try:
            yield
        finally:
            await service.pool.close()

    app = FastAPI(title="dz-hub 四川e码跳转服务", version="1", lifespan=lifespan,
                  description="达州市二维码数字门牌：四川e码扫码后跳转至门牌系统（SM4 令牌）")
    app.state.service = service

    @app.get("/ecode/resolve/{dzbm:path}", summary="查询标准地址")
    async def resolve(dzbm: DzbmPath):
        found = await service.registry.lookup(dzbm)
        if found is None:
            return JSONResponse({"dzbm": dzbm, "reason": "unknown"}, status_code=404)
        return found.as_json()

    @app.get("/ecode/r/{dzbm:path}", status_code=302, response_class=Response, summary="跳转至门牌系统",
             responses={302: {"description": "跳转（门牌页带令牌，或兜底页带原因）"},
                        404: {"description": "未知或非达州地址"}, 410: {"description": "地址已停用或注销"}})
    async def redirect(dzbm: DzbmPath):
        found = await service.registry.lookup(dzbm)
        reason = "unknown" if found is None else found.why_no_token()
        if reason is None:
            token = issue_token(found.as_json(), service.keyring)
            return RedirectResponse(_join_query(service.settings.doorplate_url, {"d": token}), 302,
                                    headers=NO_STORE)
        if service.settings.fallback_url:
            return RedirectResponse(_join_query(service.settings.fallback_url, {"c": dzbm, "reason": reason}),
                                    302, headers=NO_STORE)
        status = 404 if reason in ("unknown", "outside") else 410
        return JSONResponse({"dzbm": dzbm, "reason": reason}, status_code=status)

    @app.get("/healthz", summary="存活检查")
    async def healthz():
        return {"status": "ok"}

    @app.get("/readyz", summary="就绪检查（数据库可达、密钥已加载）")
    async def readyz(request: Request):
        checks = await service.ready()
        ok = all(checks.values())
        return JSONResponse({"status": "ready" if ok else "not ready", **checks}, status_code=200 if ok else 503)

    if service.settings.mount_receiver:
        from redirect_api.receiver import router

        app.include_router(router)
    return app


def create_app(settings: RedirectSettings | None = None, keyring: KeyRing | None = None, dsn: str | None = None):
    """The ASGI app (uvicorn ``--factory redirect_api.app:create_app``)."""
    service = build_service(settings, keyring, dsn)
    return with_middleware(create_fastapi(service), service.settings)
