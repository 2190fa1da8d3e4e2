"""The console's web application (FastAPI, pages rendered on the server with Jinja2, in Chinese).

``create_app()`` builds it from the environment: a pool of the warehouse owner's connections, each
request acting as its signed-in login. Pages: 批次登记 /batches, 数据监控 /monitoring, 增量同步 /cdc,
数据对账 /recon, 告警 /alerts, 模型预警 /findings, 地址变更 /addresses, 数据源 /sources, 审计 /audit;
/metrics without sign-in; the Dagster UI under /dagster/ for engineers (``proxy.py``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import psycopg
from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from psycopg_pool import ConnectionPool
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response, StreamingResponse

from dz_assets.ops.alerts import ack_alert, active_silences, add_silence, list_alerts
from dz_assets.ops.metrics import pipeline_registry
from dz_assets.province.delivery.rejects import COLUMNS as REJECT_COLUMNS
from dz_assets.province.delivery.rejects import raw_text
from dz_assets.rules.review import VERDICTS
from dz_assets.rules.review import query as review_sql
from dz_assets.settings import ConsoleSettings, get_console_settings, get_settings
from dz_console import charts, pages
from dz_console.acting import may, part
from dz_console.auth import COOKIE, audit_as, sign_in, sign_out
from dz_console.proxy import mount_dagster
from dz_console.web import (
    BEIJING,
    HERE,
    NotSignedIn,
    form,
    opt,
    opt_int,
    render,
    safe_next,
    same_origin,
    session_token,
    signed_in,
    signin_redirect,
)

MAX_DAYS = 90


def create_app(dsn: str | None = None, settings: ConsoleSettings | None = None,
               outbox: Path | None = None) -> FastAPI:
    from dz_assets.db import pg_dsn

    settings = settings or get_console_settings()
    dsn = dsn or pg_dsn()
    outbox = (outbox or get_settings().outbox).resolve()
    pool = ConnectionPool(dsn, min_size=1, max_size=settings.pool_size, kwargs={"autocommit": True}, open=False,
                          name="dz-console")

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        await run_in_threadpool(pool.open, True, 30)
        try:
            yield
        finally:
            await app.state.dagster_client.aclose()
            await run_in_threadpool(pool.close)

    app = FastAPI(title="dz-hub 运维控制台", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    app.state.pool = pool
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    registry = pipeline_registry(dsn)

    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, exc: NotSignedIn):
        if request.method in ("GET", "HEAD"):
            return signin_redirect(request)
        return render(request, "signin.html", None, status_code=401, next="/batches", error="请先登录")

    @app.exception_handler(psycopg.errors.InsufficientPrivilege)
    async def refused(request: Request, exc: psycopg.errors.InsufficientPrivilege):
        return render(request, "message.html", None, status_code=403, title="无权操作",
                      message="当前账号无权执行此操作（数据库拒绝）。")

    def page(request: Request, template: str, read, **context) -> HTMLResponse:
        """Render ``template`` with what ``read(who, conn)`` returns, read as the signed-in login."""
        with signed_in(pool, request) as (who, conn):
            data = read(who, conn)
        return render(request, template, who, **context, **data)

    # --- sign-in -------------------------------------------------------------------------------

    @app.get("/signin", response_class=HTMLResponse)
    def signin_page(request: Request, next: str | None = None):
        return render(request, "signin.html", None, next=safe_next(next), error=None)

    @app.post("/signin")
    async def signin_post(request: Request):
        fields = await form(request)
        target = safe_next(fields.get("next"))
        if not same_origin(request):
            return render(request, "signin.html", None, status_code=403, next=target, error="请求来源无效")
        client = request.client.host if request.client else None

        def attempt() -> str | None:
            with pool.connection() as conn:
                return sign_in(conn, fields.get("login", ""), fields.get("password", ""),
                               ttl_s=settings.session_ttl_s, client=client)

        token = await run_in_threadpool(attempt)
        if token is None:
            return render(request, "signin.html", None, status_code=401, next=target, error="账号或口令错误")
        resp = RedirectResponse(target, status_code=303)
        resp.set_cookie(COOKIE, token, max_age=settings.session_ttl_s, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https", path="/")
        return resp

    @app.post("/signout")
    async def signout(request: Request):
        if same_origin(request):
            def out() -> None:
                with pool.connection() as conn:
                    sign_out(conn, session_token(request))
            await run_in_threadpool(out)
        resp = RedirectResponse("/signin", status_code=303)
        resp.delete_cookie(COOKIE, path="/")
        return resp

    @app.get("/")
    def home():
        return RedirectResponse("/batches", status_code=303)

    @app.get("/metrics")
    def metrics():
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    # --- 批次登记 ------------------------------------------------------------------------------

    @app.get("/batches", response_class=HTMLResponse)
    def batches_page(request: Request, q: str | None = None, source: str | None = None, status: str | None = None,
                     kind: str | None = None, before: str | None = None):
        filters = {"q": opt(q), "source": opt(source), "status": opt(status), "kind": opt(kind)}

        def read(who, conn):
            listing = part(conn, lambda c: pages.batches(c, before=opt_int(before), **filters))
            counts = part(conn, pages.batch_status)
            daily = part(conn, pages.batch_daily)
            chart = None
            if daily.ok and daily.value:
                chart = charts.stacked_bars("近 30 天每日接收批次", [d.day.strftime("%m-%d") for d in daily.value],
                                            {"批次数": [d.deliveries for d in daily.value]})
            return {"listing": listing, "counts": counts, "chart": chart}

        return page(request, "batches.html", read, active="batches", filters=filters)

    @app.get("/batches/{delivery_id}", response_class=HTMLResponse)
    def batch_page(request: Request, delivery_id: int, after: int = 0):
        def read(who, conn):
            found = part(conn, lambda c: pages.batch(c, delivery_id))
            return {"batch": found, "files": part(conn, lambda c: pages.batch_files(c, delivery_id)),
                    "flags": part(conn, lambda c: pages.batch_flags(c, delivery_id)),
                    "rejects": part(conn, lambda c: pages.rejects(c, delivery_id, after=max(after, 0))),
                    "raw": may(conn, "meta.reject", column="raw_line")}

        return page(request, "batch.html", read, active="batches", after=after)

    @app.get("/batches/{delivery_id}/rejects.csv")
    def rejects_csv(request: Request, delivery_id: int):
        """The delivery's rejects as CSV, UTF-8 with BOM (spreadsheets then read Chinese), streamed
        as read; the raw line only for logins granted it."""
        with signed_in(pool, request) as (who, conn):
            found = pages.batch(conn, delivery_id)
            raw = may(conn, "meta.reject", column="raw_line")
        if found is None:
            return render(request, "message.html", who, status_code=404, title="未找到", message="没有这个批次。")

        def audit() -> None:
            with pool.connection() as conn:
                audit_as(conn, who.login, "rejects.csv", found.batch_id, delivery_id=delivery_id, raw=raw)

        def stream() -> Iterator[bytes]:
            buf = io.StringIO()
            out = csv.writer(buf, lineterminator="\n")
            out.writerow(REJECT_COLUMNS if raw else REJECT_COLUMNS[:-2])
            yield "\ufeff".encode() + buf.getvalue().encode()
            buf.seek(0)
            buf.truncate()
            with signed_in(pool, request) as (_, conn), conn.cursor() as cur:
                conn.execute("set local statement_timeout = 0")  # a million rows stream for a while
                for n, (b, d, t, f, line, fld, reason, raw_line) in enumerate(
                        cur.stream(pages.rejects_csv_query(raw), {"delivery_id": delivery_id}, size=5000), 1):
                    row = [b, d, t, f, line, fld, reason]
                    if raw:
                        raw_bytes = bytes(raw_line)
                        row += [raw_text(raw_bytes), raw_bytes.hex()]
                    out.writerow(row)
                    if n % 2000 == 0:
                        yield buf.getvalue().encode()
                        buf.seek(0)
                        buf.truncate()
            yield buf.getvalue().encode()

        audit()
        name = f"{found.batch_id}.rejects.csv"
        return StreamingResponse(stream(), media_type="text/csv; charset=utf-8",
                                 headers={"Content-Disposition": f'attachment; filename="{name}"',
                                          "Cache-Control": "no-store"})

    # --- 数据监控 ------------------------------------------------------------------------------

    @app.get("/monitoring", response_class=HTMLResponse)
    def monitoring_page(request: Request, days: int = 30):
        days = min(max(days, 1), MAX_DAYS)

        def read(who, conn):
            daily = part(conn, lambda c: pages.monitoring(c, days))
            charts_ = []
            if daily.ok and daily.value:
                per_day: dict[date, list[float]] = {}
                for d in daily.value:
                    acc = per_day.setdefault(d.day, [0, 0, 0, 0, 0.0])
                    acc[0] += d.rows_loaded
                    acc[1] += d.rows_rejected
                    acc[2] += d.rows_flagged
                    acc[3] += d.objects
                    acc[4] = max(acc[4], d.avg_duration_s or 0)
                days_ = sorted(per_day)
                labels = [d.strftime("%m-%d") for d in days_]
                charts_.append(charts.stacked_bars("每日记录数：入库、拒收、标记", labels, {
                    "入库": [per_day[d][0] for d in days_], "拒收": [per_day[d][1] for d in days_],
                    "标记": [per_day[d][2] for d in days_]}))
                charts_.append(charts.lines("每日批次平均耗时（秒）与非结构化对象数", labels, {
                    "平均耗时": [per_day[d][4] for d in days_], "对象数": [per_day[d][3] for d in days_]}))
            return {"daily": daily, "charts": charts_, "interrupted": part(conn, pages.interrupted)}

        return page(request, "monitoring.html", read, active="monitoring", days=days)

    # --- 增量同步 ------------------------------------------------------------------------------

    @app.get("/cdc", response_class=HTMLResponse)
    def cdc_page(request: Request, hours: int = 24, before: str | None = None):
        hours = min(max(hours, 1), 24 * 7)

        def read(who, conn):
            hourly = part(conn, lambda c: pages.cdc_hourly(c, hours))
            charts_ = []
            if hourly.ok and hourly.value:
                per_hour: dict[datetime, list] = {}
                for h in hourly.value:
                    acc = per_hour.setdefault(h.hour, [0, 0, None])
                    acc[0] += h.changes
                    acc[1] += h.applied
                    if h.lag_max_s is not None:
                        acc[2] = max(acc[2] or 0, h.lag_max_s)
                hrs = sorted(per_hour)
                labels = [h.astimezone(BEIJING).strftime("%d日%H时") for h in hrs]
                charts_.append(charts.stacked_bars("每小时变更吞吐（条）", labels,
                                                   {"已接收": [per_hour[h][0] for h in hrs]}))
                charts_.append(charts.lines("每小时最大同步延迟（秒）", labels, {"延迟": [per_hour[h][2] for h in hrs]}))
            return {"tables": part(conn, pages.cdc_state), "hourly": hourly, "charts": charts_,
                    "poison": part(conn, lambda c: pages.poison(c, before=opt_int(before)))}

        return page(request, "cdc.html", read, active="cdc", hours=hours)

    # --- 数据对账 ------------------------------------------------------------------------------

    @app.get("/recon", response_class=HTMLResponse)
    def recon_page(request: Request, recon_id: int | None = None, before: str | None = None):
        def read(who, conn):
            runs = part(conn, lambda c: pages.recon_runs(c, before=opt_int(before)))
            picked = recon_id or (runs.value[0].recon_id if runs.ok and runs.value else None)
            detail = {}
            if picked is not None:
                detail = {"buckets": part(conn, lambda c: pages.recon_buckets(c, picked)),
                          "keys": part(conn, lambda c: pages.recon_keys(c, picked))}
            return {"runs": runs, "picked": picked, **detail}

        return page(request, "recon.html", read, active="recon")

    @app.get("/recon/{recon_id}/repair")
    def recon_repair(request: Request, recon_id: int):
        """The repair request of a reconciliation (a file in the outbox), for logins that may read
        the differing keys it lists."""
        with signed_in(pool, request) as (who, conn):
            if not may(conn, "meta.recon_key"):
                raise psycopg.errors.InsufficientPrivilege("recon keys")
            run = [r for r in pages.recon_runs(conn, before=recon_id + 1, limit=1) if r.recon_id == recon_id]
        return outbox_file(request, who, run[0].repair_path if run else None, "recon.repair", recon_id)

    def outbox_file(request: Request, who, path: str | None, action: str, obj) -> Response:
        """A file the warehouse names, served only from under DZ_OUTBOX (never any other path)."""
        target = Path(path).resolve() if path else None
        if target is None or not target.is_relative_to(outbox) or not target.is_file():
            return render(request, "message.html", who, status_code=404, title="文件不存在",
                          message="该文件不在输出目录中，或已被清理。")
        with pool.connection() as conn:
            audit_as(conn, who.login, action, str(obj), path=str(target))
        return FileResponse(target, filename=target.name, headers={"Cache-Control": "no-store"})

    # --- 告警 ----------------------------------------------------------------------------------

    @app.get("/alerts", response_class=HTMLResponse)
    def alerts_page(request: Request, all: int = 0):
        def read(who, conn):
            alerts = part(conn, lambda c: list_alerts(c, open_only=not all, limit=200))
            return {"alerts": alerts, "silences": part(conn, active_silences),
                    "may_ack": may(conn, "meta.alert", "update", column="acked_by"),
                    "may_silence": may(conn, "meta.alert_silence", "insert")}

        return page(request, "alerts.html", read, active="alerts", show_all=bool(all))

    @app.post("/alerts/{alert_id}/ack")
    async def alerts_ack(request: Request, alert_id: int):
        fields = await form(request)
        if not same_origin(request):
            return Response("forbidden", status_code=403)

        def act():
            with signed_in(pool, request) as (who, conn):
                ack_alert(conn, alert_id, who.login, resolve=fields.get("resolve") == "1")

        await run_in_threadpool(act)
        return RedirectResponse("/alerts", status_code=303)

    @app.post("/alerts/silence")
    async def alerts_silence(request: Request):
        fields = await form(request)
        if not same_origin(request):
            return Response("forbidden", status_code=403)
        hours = opt_int(fields.get("hours")) or 2
        reason = (fields.get("reason") or "").strip()

        def act():
            with signed_in(pool, request) as (who, conn):
                if not reason:
                    return render(request, "message.html", who, status_code=400, title="缺少原因",
                                  message="屏蔽告警须填写原因。")
                add_silence(conn, code=opt(fields.get("code")) or "*", subject=opt(fields.get("subject")),
                            until=datetime.now(UTC) + timedelta(hours=min(max(hours, 1), 24 * 30)),
                            reason=reason, by=who.login)
            return RedirectResponse("/alerts", status_code=303)

        return await run_in_threadpool(act)

    # --- 模型预警 ------------------------------------------------------------------------------

    @app.get("/findings", response_class=HTMLResponse)
    def findings_page(request: Request, as_of: str | None = None, station: str | None = None,
                      model: str | None = None, after: str = ""):
        def read(who, conn):
            days = part(conn, pages.finding_days)
            day = _day(as_of) or (days.value[0] if days.ok and days.value else None)
            if not days.ok or day is None:
                return {"days": days, "day": None}
            per_station = part(conn, lambda c: pages.findings_per_station(c, day))
            listing = part(conn, lambda c: pages.findings(c, day, after=after, station=opt(station),
                                                         model=opt(model)))
            chart, table, models = None, {}, []
            if per_station.ok and per_station.value:
                models = sorted({s.model_code for s in per_station.value})
                for s in per_station.value:
                    table.setdefault(s.gajgjgdm, {})[s.model_code] = s.n
                stations = sorted(table)
                chart = charts.stacked_bars(f"{day} 各派出所发现数", stations,
                                            {m: [table[s].get(m, 0) for s in stations] for m in models})
            return {"days": days, "day": day, "per_station": per_station, "listing": listing, "chart": chart,
                    "table": table, "models": models}

        return page(request, "findings.html", read, active="findings", station=opt(station), model=opt(model),
                    verdicts=VERDICTS, revealed=None)

    @app.post("/findings/{finding_id}/review")
    async def findings_review(request: Request, finding_id: str):
        """A verdict on a finding the login can see (the masked view decides), recorded with the
        subject's own keys by the owner connection and audited."""
        fields = await form(request)
        if not same_origin(request):
            return Response("forbidden", status_code=403)
        verdict = fields.get("verdict", "")

        def act():
            with signed_in(pool, request) as (who, conn):
                seen = verdict in VERDICTS and pages.finding_visible(conn, finding_id) is not None
                if seen:
                    conn.execute("reset role")
                    conn.execute(review_sql("review", "insert"), {"finding_id": finding_id, "verdict": verdict,
                                                                  "reviewer": who.login,
                                                                  "note": opt(fields.get("note"))})
                    audit_as(conn, who.login, "findings.review", finding_id, verdict=verdict)
            if not seen:
                return render(request, "message.html", who, status_code=404, title="无法复核",
                              message="该发现不存在、不在本辖区，或复核结论无效。")
            return RedirectResponse(safe_next(fields.get("back")) if fields.get("back") else "/findings",
                                    status_code=303)

        return await run_in_threadpool(act)

    @app.post("/findings/{finding_id}/reveal", response_class=HTMLResponse)
    async def findings_reveal(request: Request, finding_id: str):
        """An officer's audited look at a finding's subject, unmasked: the finding must be visible
        to the login, and meta.reveal_as checks the role and jurisdiction and writes the audit
        entry before reading."""
        fields = await form(request)
        if not same_origin(request):
            return Response("forbidden", status_code=403)
        reason = (fields.get("reason") or "").strip()

        def act():
            with signed_in(pool, request) as (who, conn):
                seen = pages.finding_visible(conn, finding_id)
                if not reason or seen is None or seen[1] is None:
                    return render(request, "message.html", who, status_code=400, title="无法查看",
                                  message="查看原文须填写事由，且该发现须有对象身份号码并在本辖区内。")
                conn.execute("reset role")
                values = dict(conn.execute(
                    "select column_name, value from meta.reveal_as(%s, 'model.mdl_findings', %s, %s, 'console')",
                    (who.login, seen[1], reason)).fetchall())
            return render(request, "reveal.html", who, active="findings", finding_id=finding_id, values=values,
                          reason=reason)

        return await run_in_threadpool(act)

    # --- 地址变更 ------------------------------------------------------------------------------

    @app.get("/addresses", response_class=HTMLResponse)
    def addresses_page(request: Request, days: int = 30):
        days = min(max(days, 1), MAX_DAYS)

        def read(who, conn):
            chart, table = None, {}
            changes = part(conn, lambda c: pages.address_changes(c, days))
            if changes.ok and changes.value:
                per_day: dict[date, dict[str, int]] = {}
                for r in changes.value:
                    per_day.setdefault(r.day, {}).setdefault(r.action, 0)
                    per_day[r.day][r.action] += r.n
                    table.setdefault((r.day, r.xzqhdm or "-"), {})[r.action] = r.n
                ds = sorted(per_day)
                chart = charts.stacked_bars("每日地址变更", [d.strftime("%m-%d") for d in ds],
                                            {a: [per_day[d].get(a, 0) for d in ds] for a in ACTIONS})
            qr = part(conn, pages.qr_batches)
            return {"changes": changes, "chart": chart, "table": table, "qr": qr, "actions": ACTIONS}

        return page(request, "addresses.html", read, active="addresses", days=days)

    @app.get("/addresses/qr/{batch_id}/download")
    def qr_download(request: Request, batch_id: int):
        with signed_in(pool, request) as (who, conn):
            path = pages.qr_batch_path(conn, batch_id)
        return outbox_file(request, who, path, "qr.download", batch_id)

    # --- 数据源 --------------------------------------------------------------------------------

    @app.get("/sources", response_class=HTMLResponse)
    def sources_page(request: Request, source: str | None = None, before: str | None = None):
        def read(who, conn):
            status = part(conn, pages.sources)
            rejects = part(conn, lambda c: pages.source_rejects(c, source=opt(source), before=opt(before)))
            return {"status": status, "rejects": rejects}

        return page(request, "sources.html", read, active="sources", source=opt(source))

    # --- 审计 ----------------------------------------------------------------------------------

    @app.get("/audit", response_class=HTMLResponse)
    def audit_page(request: Request, before: str | None = None, action: str | None = None, who: str | None = None):
        def read(me, conn):
            return {"entries": part(conn, lambda c: pages.audit(c, before=opt_int(before), action=opt(action),
                                                                who=opt(who)))}

        return page(request, "audit.html", read, active="audit", action=opt(action), login=opt(who))

    mount_dagster(app, pool, settings)
    return app


ACTIONS = ("登记", "停用", "注销", "更改")


def _day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None
