"""The doorplate system's landing page: ``GET /doorplate?d=<token>`` (spec/ecode-redirect.md).

It decrypts the token, refuses an expired (401), replayed (409) or malformed/tampered/unknown-key
(400) one, and renders the address card as small server-side HTML for a phone. Mounted in the
redirect app by default; :func:`create_receiver_app` runs it on its own for deployment.
"""

from __future__ import annotations

from dataclasses import replace
from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from redirect_api.metrics import token_check
from redirect_api.middleware import HEAD_SCOPE_KEY
from redirect_api.pages import render_page, template
from redirect_api.service import (
    LIMIT_RESPONSES,
    NO_STORE,
    RATE_LIMITED,
    REGISTRY_DOWN,
    add_health_routes,
    build_service,
    create_api,
    install_unavailable_handler,
    lifespan,
    with_middleware,
)
from redirect_api.tokens import MalformedToken, ReplayedToken, TokenError, read_token

router = APIRouter()
# Names of Dazhou's seven county-level divisions, for the card when the token has only the code.
DAZHOU_COUNTIES = {"511702": "通川区", "511703": "达川区", "511722": "宣汉县", "511723": "开江县",
                   "511724": "大竹县", "511725": "渠县", "511781": "万源市"}
ERROR_TEXT = {
    "malformed": ("链接无效", "二维码链接不完整或已损坏，请重新扫描门牌上的二维码。"),
    "tampered": ("链接无效", "二维码链接校验失败，可能已被篡改，请重新扫描门牌上的二维码。"),
    "unknown_key": ("链接无效", "二维码链接所用密钥已失效，请重新扫描门牌上的二维码。"),
    "expired": ("链接已过期", "二维码链接已超过有效期，请重新扫描门牌上的二维码。"),
    "replayed": ("链接已使用", "该链接已被打开过，为保护地址信息，请重新扫描门牌上的二维码。"),
}


def render_card(claims: dict) -> str:
    xzqh = claims.get("xzqh") or ""
    body = template("card.html").substitute(
        dzmc=escape(str(claims.get("dzmc") or "（无地址名称）")),
        dzbm=escape(str(claims.get("dzbm") or "")),
        xzqh=escape(xzqh),
        xzqhmc=escape(DAZHOU_COUNTIES.get(xzqh, "")),
        gajg=escape(str(claims.get("gajg") or "")),
        gajgmc=escape(str(claims.get("gajgmc") or "—")),
    )
    return render_page("达州市数字门牌", body)


def render_error(error: TokenError) -> str:
    title, text = ERROR_TEXT.get(error.reason, ("链接无效", "请重新扫描门牌上的二维码。"))
    body = template("error.html").substitute(title=escape(title), text=escape(text),
                                              reason=escape(error.reason), status=error.status)
    return render_page(title, body)


_HTML = {"text/html": {"schema": {"type": "string"}}}
DOORPLATE_RESPONSES: dict[int | str, dict] = {
    200: {"description": "地址卡片（HTML）", "content": _HTML},
    400: {"description": "令牌缺失、格式错误、被篡改或密钥未知（HTML 错误页）", "content": _HTML},
    401: {"description": "令牌已过期（HTML 错误页）", "content": _HTML},
    409: {"description": "令牌已使用（重放，HTML 错误页）", "content": _HTML},
    **REGISTRY_DOWN, **RATE_LIMITED, **LIMIT_RESPONSES,
}
# The parameter is read by hand (a missing token is a malformed link: 400 with the error page, as
# the contract says, not FastAPI's 422), so the document declares it here: required.
TOKEN_PARAMETER = {"name": "d", "in": "query", "required": True,
                   "description": "令牌（base64url，见 spec/ecode-redirect.md）",
                   "schema": {"type": "string", "minLength": 1}}


@router.get("/doorplate", response_class=HTMLResponse, summary="门牌页（解密令牌并展示地址）",
            responses=DOORPLATE_RESPONSES, openapi_extra={"parameters": [TOKEN_PARAMETER]})
async def doorplate(request: Request):
    service = request.app.state.service
    d = request.query_params.get("d")
    try:
        if not d:
            raise MalformedToken("no token")
        claims = read_token(d, service.keyring, lifetime_s=service.settings.token_lifetime_s)
        # HEAD (a link preview, a probe) tells what GET would answer without using the token up.
        if request.scope.get(HEAD_SCOPE_KEY):
            fresh = not await service.replay.seen(claims["jti"])
        else:
            fresh = await service.replay.claim(claims["jti"], claims["iat"] + service.settings.token_lifetime_s)
        if not fresh:
            raise ReplayedToken("jti already used")
    except TokenError as exc:
        token_check(exc.reason)
        return HTMLResponse(render_error(exc), status_code=exc.status, headers=NO_STORE)
    token_check("ok")
    return HTMLResponse(render_card(claims), headers=NO_STORE)


def create_receiver_app(settings=None, keyring=None, dsn=None):
    """The landing page alone (with /healthz and /readyz), for a separate deployment."""
    service = build_service(settings, keyring, dsn)
    service.settings = replace(service.settings, mount_receiver=False)
    app = create_api(title="达州市数字门牌 接收端", lifespan=lifespan(service))
    app.state.service = service
    app.include_router(router)
    install_unavailable_handler(app)
    add_health_routes(app, service)
    return with_middleware(app, service.settings)
