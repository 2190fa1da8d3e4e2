"""The console's request plumbing: who is signed in, running as that login, forms, rendering."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit
from zoneinfo import ZoneInfo

import psycopg
from fastapi import Request
from fastapi.templating import Jinja2Templates
from psycopg import sql
from psycopg_pool import ConnectionPool
from starlette.responses import HTMLResponse, RedirectResponse, Response

from dz_console.acting import STATEMENT_TIMEOUT
from dz_console.auth import COOKIE, SignedIn, session_of

BEIJING = ZoneInfo("Asia/Shanghai")
HERE = Path(__file__).resolve().parent

NAV = (("batches", "/batches", "批次登记"), ("monitoring", "/monitoring", "数据监控"), ("cdc", "/cdc", "增量同步"),
       ("recon", "/recon", "数据对账"), ("alerts", "/alerts", "告警"), ("findings", "/findings", "模型预警"),
       ("addresses", "/addresses", "地址变更"), ("sources", "/sources", "数据源"), ("audit", "/audit", "审计"))


def _when(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, datetime):
        if v.tzinfo is not None:
            v = v.astimezone(BEIJING)
        return v.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(v, date):
        return v.isoformat()
    return str(v)


def _num(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:,.2f}"
    return f"{v:,}"


def _seconds(v) -> str:
    if v is None:
        return "—"
    if v < 1:
        return f"{v * 1000:.0f} 毫秒"
    if v < 120:
        return f"{v:.1f} 秒"
    if v < 7200:
        return f"{v / 60:.1f} 分钟"
    return f"{v / 3600:.1f} 小时"


def _bytes(v) -> str:
    if v is None:
        return "—"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if v < 1024:
            return f"{v:.0f} {unit}" if unit == "B" else f"{v:.1f} {unit}"
        v /= 1024
    return f"{v:.1f} TiB"


templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.filters.update(when=_when, num=_num, seconds=_seconds, size=_bytes)
templates.env.globals["NAV"] = NAV


class NotSignedIn(Exception):
    """The request has no live session: the sign-in page, no data."""


def render(request: Request, template: str, who: SignedIn | None, status_code: int = 200, **context) -> HTMLResponse:
    return templates.TemplateResponse(request, template, {"who": who, **context}, status_code=status_code,
                                      headers={"Cache-Control": "no-store"})


def signin_redirect(request: Request) -> Response:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/signin?next={quote(target, safe='')}", status_code=303)


def session_token(request: Request) -> str | None:
    return request.cookies.get(COOKIE)


def who_is(pool: ConnectionPool, request: Request) -> SignedIn | None:
    with pool.connection() as conn:
        return session_of(conn, session_token(request))


@contextmanager
def signed_in(pool: ConnectionPool, request: Request) -> Iterator[tuple[SignedIn, psycopg.Connection]]:
    """The request's login and a connection in a transaction acting as it: the session is looked up
    as the owner, then ``SET LOCAL ROLE`` for everything the page reads."""
    with pool.connection() as conn, conn.transaction():
        who = session_of(conn, session_token(request))
        if who is None:
            raise NotSignedIn
        conn.execute(sql.SQL("set local role {}").format(sql.Identifier(who.login)))
        conn.execute(f"set local statement_timeout = '{STATEMENT_TIMEOUT}'")
        yield who, conn


def same_origin(request: Request) -> bool:
    """A form post must come from the console's own pages (the session cookie is SameSite=Strict
    as well; this refuses a post from another site on older browsers too)."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin:
        return False
    parts = urlsplit(origin)
    return f"{parts.scheme}://{parts.netloc}" == f"{request.url.scheme}://{request.url.netloc}"


async def form(request: Request) -> dict[str, str]:
    """An urlencoded form's fields (first value of each), limited to 64 KiB."""
    body = await request.body()
    if len(body) > 65536:
        return {}
    return {k: v[0] for k, v in parse_qs(body.decode("utf-8", errors="replace"), keep_blank_values=True).items()}


def safe_next(target: str | None) -> str:
    """Only a path of this console after sign-in (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/batches"
    return target


def opt(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def opt_int(value: str | None) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except ValueError:
        return None
