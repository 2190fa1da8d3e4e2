"""``dzhub console serve``: the operations console (运维控制台) and the Dagster UI behind it."""

from __future__ import annotations

import click

from dz_assets.cli.output import notice


@click.group("console")
def command() -> None:
    """运维控制台：批次、监控、同步、对账、告警、模型预警、地址变更、数据源、审计 (the bureau's web console)."""


@command.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8090, show_default=True, type=int)
@click.option("--dagster/--no-dagster", default=True, show_default=True,
              help="Also start the Dagster webserver on loopback (DZ_CONSOLE_DAGSTER_URL), proxied under /dagster/.")
def serve(host: str, port: int, dagster: bool) -> None:
    """Serve the console; sign in with a login made by `dzhub users add NAME --role … --password-stdin`."""
    from dz_assets.db import resolve_dsn
    from dz_console.server import run, start_dagster

    r = resolve_dsn(allow_embedded=True)
    notice(r.describe())
    child = start_dagster(r.dsn) if dagster else None
    notice(f"console: http://{host}:{port}/  (metrics: /metrics; Dagster for engineers: /dagster/)")
    try:
        run(host, port)
    finally:
        if child is not None:
            child.terminate()
            try:
                child.wait(timeout=20)
            except Exception:
                child.kill()
