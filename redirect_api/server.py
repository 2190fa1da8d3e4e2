"""Running the redirect app: under uvicorn in production, in a background thread for tests and demos."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

# Same settings for the service and for the benchmark's bare baseline (bench/redirect_bench.py).
# access_log=False: uvicorn's access log prints query strings, i.e. tokens; ours does not.
UVICORN_SETTINGS = {
    "access_log": False,
    "server_header": False,
    "proxy_headers": False,  # the client address is the peer's; set True behind a trusted proxy
    "timeout_keep_alive": 5,
    "limit_concurrency": 2000,  # beyond this uvicorn answers 503 instead of queueing unboundedly
    "h11_max_incomplete_event_size": 16 * 1024,  # request head limit (URL is capped at 8 KiB)
}


def run(host: str, port: int, *, workers: int = 1, log_level: str = "info") -> None:
    """Serve ``create_app()`` (each worker builds its own pool, keys from the environment)."""
    uvicorn.run("redirect_api.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_level=log_level, **UVICORN_SETTINGS)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


@contextmanager
def serve_in_thread(app, host: str = "127.0.0.1", port: int | None = None, timeout_s: float = 20.0) -> Iterator[str]:
    """Run an ASGI app on a loopback port in this process; yields its base URL."""
    port = port or free_port(host)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", **UVICORN_SETTINGS))
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + timeout_s
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"uvicorn did not start on {host}:{port}")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
