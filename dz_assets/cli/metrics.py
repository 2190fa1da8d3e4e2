"""``dzhub metrics serve``: the pipeline's Prometheus metrics over HTTP, read without signing in."""

from __future__ import annotations

import signal
import threading

import click

from dz_assets.cli.output import notice


@click.group("metrics")
def command() -> None:
    """指标：Prometheus 格式的流水线指标 (pipeline metrics for Prometheus)."""


@command.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=9108, show_default=True, help="Port (0: any free one, printed).")
def serve(host: str, port: int) -> None:
    """Serve /metrics (Prometheus text format), each scrape read from the warehouse.

    No sign-in, as scrapers expect: the figures carry no personal data (counts by source, kind,
    status and reason only). Stops on SIGTERM or Ctrl-C."""
    from prometheus_client import start_http_server

    from dz_assets.db import pg_dsn
    from dz_assets.ops.metrics import pipeline_registry

    server, thread = start_http_server(port, addr=host, registry=pipeline_registry(pg_dsn))
    notice(f"metrics on http://{host}:{server.server_port}/metrics")
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass
    server.shutdown()
    server.server_close()
    thread.join(5)
