"""The Dagster UI under /dagster/, for signed-in engineers only.

Open-source Dagster has no sign-in of its own, so its webserver listens on loopback only (started
with ``--path-prefix /dagster``, see ``dzhub console serve``) and is reached through here: each
HTTP request and each websocket (its GraphQL subscriptions) is checked against the console
session first. The console's cookie is not passed on.
"""

from __future__ import annotations

import asyncio
import contextlib

import httpx
import websockets
from fastapi import FastAPI, Request, WebSocket
from psycopg_pool import ConnectionPool
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse
from starlette.websockets import WebSocketDisconnect

from dz_assets.settings import ConsoleSettings
from dz_console.auth import COOKIE, session_of
from dz_console.web import render, signin_redirect

PREFIX = "/dagster"
# Hop-by-hop headers (RFC 9110 7.6.1) and what must not cross the proxy.
_DROP_REQUEST = {"host", "cookie", "connection", "keep-alive", "proxy-authorization", "te", "trailer",
                 "transfer-encoding", "upgrade", "content-length"}
_DROP_RESPONSE = {"connection", "keep-alive", "transfer-encoding", "trailer", "upgrade", "set-cookie"}


def mount_dagster(app: FastAPI, pool: ConnectionPool, settings: ConsoleSettings) -> None:
    upstream = settings.dagster_url
    client = httpx.AsyncClient(base_url=upstream, timeout=httpx.Timeout(60.0, connect=5.0))

    def engineer(token: str | None):
        with pool.connection() as conn:
            who = session_of(conn, token)
        return who, bool(who and who.engineer)

    @app.api_route(PREFIX + "/{path:path}", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
                   include_in_schema=False)
    async def dagster_http(request: Request, path: str):
        who, ok = await run_in_threadpool(engineer, request.cookies.get(COOKIE))
        if who is None:
            return signin_redirect(request) if request.method == "GET" else Response(status_code=401)
        if not ok:
            return render(request, "message.html", who, status_code=403, title="无权访问",
                          message="Dagster 界面仅向数据工程师开放。")
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _DROP_REQUEST]
        body = await request.body()
        req = client.build_request(request.method, request.url.path, params=request.url.query.encode() or None,
                                   headers=headers, content=body)
        try:
            resp = await client.send(req, stream=True)
        except httpx.HTTPError:
            return render(request, "message.html", who, status_code=502, title="Dagster 未启动",
                          message=f"Dagster 界面（{upstream}）没有响应：请用 dzhub console serve 启动。")
        out = [(k, v) for k, v in resp.headers.multi_items() if k.lower() not in _DROP_RESPONSE]
        return _streamed(resp, out)

    @app.websocket(PREFIX + "/{path:path}")
    async def dagster_ws(ws: WebSocket, path: str):
        who, ok = await run_in_threadpool(engineer, ws.cookies.get(COOKIE))
        if not ok:
            await ws.close(code=1008)  # policy violation: not signed in as an engineer
            return
        offered = [p.strip() for p in ws.headers.get("sec-websocket-protocol", "").split(",") if p.strip()]
        target = upstream.replace("http", "ws", 1) + ws.url.path + (f"?{ws.url.query}" if ws.url.query else "")
        try:
            up = await websockets.connect(target, subprotocols=offered or None, max_size=None,
                                          open_timeout=5)
        except (OSError, websockets.exceptions.WebSocketException):
            await ws.close(code=1011)
            return
        await ws.accept(subprotocol=up.subprotocol)

        async def client_to_upstream():
            try:
                while True:
                    msg = await ws.receive()
                    if msg["type"] == "websocket.disconnect":
                        break
                    await up.send(msg["text"] if msg.get("text") is not None else msg["bytes"])
            except WebSocketDisconnect:
                pass

        async def upstream_to_client():
            with contextlib.suppress(websockets.exceptions.ConnectionClosed):
                async for msg in up:
                    await (ws.send_text(msg) if isinstance(msg, str) else ws.send_bytes(msg))

        tasks = [asyncio.create_task(client_to_upstream()), asyncio.create_task(upstream_to_client())]
        _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for t in pending:
            t.cancel()
        await up.close()
        with contextlib.suppress(RuntimeError):
            await ws.close()

    app.state.dagster_client = client  # closed by the app's lifespan


def _streamed(resp: httpx.Response, headers: list[tuple[str, str]]) -> Response:
    out = StreamingResponse(resp.aiter_raw(), status_code=resp.status_code, background=BackgroundTask(resp.aclose))
    out.raw_headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers]
    return out
