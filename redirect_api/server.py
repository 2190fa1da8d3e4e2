"""Running the redirect app: under uvicorn in production, in a background thread for tests and demos."""

from __future__ import annotations

import os
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from dz_assets.settings import RedirectSettings, get_redirect_settings
from redirect_api.protocol import Config, ConnectionLimits, GuardedProtocol

# The request head (request line and headers) is refused with 431 beyond this; the URL alone is
# capped at 8 KiB (414, redirect_api/middleware.py).
MAX_HEAD_BYTES = 16 * 1024


def uvicorn_settings(settings: RedirectSettings) -> dict:
    """uvicorn's settings for the service, the test server and the benchmark's bare baseline alike."""
    return {
        # Never uvicorn's own ("auto" picks httptools, which enforces no head limit at all):
        # httptools or h11 behind the guard of redirect_api/protocol.py.
        "http": GuardedProtocol,
        "ws": "none",  # no WebSocket route: an Upgrade is answered as plain HTTP
        # uvicorn's access log prints query strings, i.e. tokens; ours does not.
        "access_log": False,
        "server_header": False,
        "proxy_headers": False,  # the client address is the peer's; set True behind a trusted proxy
        "timeout_keep_alive": settings.keep_alive_s,
        # uvicorn answers 503 once its connections reach this. The guard keeps the connections at
        # max_connections by closing idle ones, so 503 means every connection has a request in
        # progress, not that idle ones have filled the server.
        "limit_concurrency": settings.max_connections + 1,
        "h11_max_incomplete_event_size": MAX_HEAD_BYTES,
    }


# prometheus_client's switch to its multiprocess mode (read by each worker as it imports it).
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def run(host: str, port: int, *, workers: int = 1, log_level: str = "info") -> None:
    """Serve ``create_app()`` (each worker builds its own pool, keys and limits from the environment).

    Several workers share one socket, so a scrape of ``/metrics`` reaches any one of them: they
    count in prometheus_client's multiprocess mode, in a directory made fresh for this run (figures
    of an earlier run would otherwise be summed in) and removed after it (redirect_api/metrics.py).
    """
    metrics_dir = None
    if workers > 1:
        metrics_dir = tempfile.mkdtemp(prefix="dzhub-redirect-metrics-")
        os.environ[MULTIPROC_ENV] = metrics_dir  # inherited by the spawned workers
    try:
        uvicorn.run("redirect_api.app:create_app", factory=True, host=host, port=port, workers=workers,
                    log_level=log_level, **uvicorn_settings(get_redirect_settings()))
    finally:
        if metrics_dir is not None:
            os.environ.pop(MULTIPROC_ENV, None)
            shutil.rmtree(metrics_dir, ignore_errors=True)


def server_config(app, settings: RedirectSettings | None = None, **kwargs) -> Config:
    """A uvicorn Config of the service's settings (for ``uvicorn.Server``), limits included."""
    settings = settings or get_redirect_settings()
    return Config(app, connection_limits=ConnectionLimits.from_settings(settings),
                  **{**uvicorn_settings(settings), **kwargs})


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@contextmanager
def serve_in_thread(app, host: str = "127.0.0.1", port: int | None = None, timeout_s: float = 20.0,
                    settings: RedirectSettings | None = None, **config) -> Iterator[str]:
    """Run an ASGI app on a loopback port in this process, under the service's uvicorn settings
    (``settings``, else the environment's; ``config`` overrides uvicorn's); yields its base URL."""
    port = port or free_port(host)
    with run_in_thread(server_config(app, settings, host=host, port=port, log_level="warning", **config),
                       timeout_s) as url:
        yield url


@contextmanager
def run_in_thread(config: Config, timeout_s: float = 20.0) -> Iterator[str]:
    """Serve a uvicorn ``config`` in a daemon thread of this process until the block ends; yields
    its base URL once the server accepts connections (the console's tests use it too)."""
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{config.port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start on {config.host}:{config.port}")
        time.sleep(0.02)
    try:
        yield f"http://{config.host}:{config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
