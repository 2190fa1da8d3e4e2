"""``dzhub alerts``: list alerts, acknowledge one, silence a kind (and subject) until a time."""

from __future__ import annotations

import dataclasses
import getpass
import sys
from datetime import UTC, datetime, timedelta, timezone

import click

from dz_assets.cli.output import emit_json, json_option, notice


@click.group("alerts", invoke_without_command=True)
@click.option("--open", "open_only", is_flag=True, help="Only alerts not resolved yet.")
@click.option("--limit", type=int, default=200, show_default=True)
@json_option
@click.pass_context
def command(ctx: click.Context, open_only: bool, limit: int, as_json: bool) -> None:
    """告警：列出、确认、屏蔽 (alerts: list, acknowledge, silence).

    Alone it lists the newest alerts; ``ack``, ``silence`` and ``deliver`` are its subcommands."""
    if ctx.invoked_subcommand is not None:
        return
    from dz_assets.db import connect
    from dz_assets.ops.alerts import list_alerts

    with connect() as conn:
        alerts = list_alerts(conn, open_only=open_only, limit=limit)
    if as_json:
        emit_json({"alerts": [dataclasses.asdict(a) for a in alerts]})
        return
    for a in alerts:
        state = "resolved" if a.resolved_at else ("acked" if a.acked_at else "open")
        click.echo(f"{a.alert_id}\t{state}\t{a.severity}\t{a.code}\t{a.subject or '-'}\t×{a.count}\t"
                   f"{a.last_seen:%Y-%m-%d %H:%M:%S}\t{a.message}")
    notice(f"{len(alerts)} alert(s)" + (" open" if open_only else ""))


@command.command("ack")
@click.argument("alert_id", type=int)
@click.option("--by", default=None, help="Who acknowledges (default: the login name).")
@click.option("--resolve", is_flag=True, help="Also resolve it (a fault nothing else clears, e.g. poison messages).")
@json_option
def ack(alert_id: int, by: str | None, resolve: bool, as_json: bool) -> None:
    """确认告警 (acknowledge an alert)."""
    from dz_assets.db import connect
    from dz_assets.ops.alerts import ack_alert

    by = by or getpass.getuser()
    with connect() as conn:
        found = ack_alert(conn, alert_id, by, resolve=resolve)
        conn.commit()
    if as_json:
        emit_json({"alert_id": alert_id, "acked": found, "by": by, "resolved": found and resolve})
    else:
        notice(f"alert {alert_id} acknowledged by {by}" if found else f"no alert {alert_id}")
    if not found:
        sys.exit(1)


def _until(value: str) -> datetime:
    """``2h``, ``30m``, ``1d`` from now, or an ISO time (Beijing time when it has no zone)."""
    units = {"m": 60, "h": 3600, "d": 86400}
    if value[-1:] in units and value[:-1].replace(".", "", 1).isdigit():
        return datetime.now(UTC) + timedelta(seconds=float(value[:-1]) * units[value[-1]])
    t = datetime.fromisoformat(value)
    return t if t.tzinfo else t.replace(tzinfo=timezone(timedelta(hours=8)))


@command.command("silence")
@click.argument("kind")
@click.option("--subject", default=None, help="Only this subject (batch, job, table, disk …); default: all.")
@click.option("--until", "until", required=True, help="2h, 30m, 1d, or an ISO time (Beijing when no zone).")
@click.option("--reason", required=True, help="Why: kept with the silence.")
@click.option("--by", default=None, help="Who silences (default: the login name).")
@json_option
def silence(kind: str, subject: str | None, until: str, reason: str, by: str | None, as_json: bool) -> None:
    """屏蔽告警：某类（* 为全部）告警在截止时间前不推送，仍记录计数 (silence a kind until a time)."""
    from dz_assets.db import connect
    from dz_assets.ops.alerts import add_silence

    try:
        end = _until(until)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--until") from exc
    by = by or getpass.getuser()
    with connect() as conn:
        sid = add_silence(conn, code=kind, subject=subject, until=end, reason=reason, by=by)
        conn.commit()
    if as_json:
        emit_json({"silence_id": sid, "kind": kind, "subject": subject, "until": end, "reason": reason, "by": by})
    else:
        notice(f"silence {sid}: {kind} {subject or '(all subjects)'} until {end.isoformat()} ({reason})")


@command.command("deliver")
@json_option
def deliver(as_json: bool) -> None:
    """推送未送达的告警到 Webhook (post undelivered alerts now)."""
    from dz_assets.db import connect
    from dz_assets.ops.alerts import deliver_pending

    with connect(autocommit=True) as conn:
        ok, bad = deliver_pending(conn)
    if as_json:
        emit_json({"delivered": ok, "failed": bad})
    else:
        notice(f"{ok} delivered, {bad} failed (retried with backoff)")
