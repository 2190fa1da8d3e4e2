"""Running the console: uvicorn on loopback by default, and the Dagster webserver it proxies."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import uvicorn

from dz_assets.settings import PROJECT_ROOT, get_console_settings

# uvicorn's settings for the console: websockets for the Dagster UI's subscriptions; no access log
# (query strings carry search terms); the client address is the peer's.
UVICORN = {"ws": "websockets-sansio", "access_log": False, "server_header": False, "proxy_headers": False}


def run(host: str, port: int, *, log_level: str = "info") -> None:
    uvicorn.run("dz_console.app:create_app", factory=True, host=host, port=port, log_level=log_level, **UVICORN)


@contextmanager
def serve_in_thread(app, host: str = "127.0.0.1", timeout_s: float = 20.0) -> Iterator[str]:
    """The console on a free loopback port in this process (tests, benchmark); yields its URL."""
    from redirect_api.server import free_port, run_in_thread

    config = uvicorn.Config(app, host=host, port=free_port(host), log_level="warning", **UVICORN)
    with run_in_thread(config, timeout_s) as url:
        yield url


def start_dagster(dsn: str) -> subprocess.Popen:
    """The Dagster webserver on the loopback address of DZ_CONSOLE_DAGSTER_URL, under the /dagster
    prefix the console proxies (never on a public address: it has no sign-in of its own)."""
    from dz_assets.instance import prepare_dagster_home
    from dz_assets.transform import apply_dbt_env

    url = urlsplit(get_console_settings().dagster_url)
    if url.hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit(f"DZ_CONSOLE_DAGSTER_URL must be a loopback address, not {url.hostname}")
    prepare_dagster_home(dsn)
    apply_dbt_env(dsn)
    exe = Path(sys.executable).parent / "dagster-webserver"
    return subprocess.Popen([str(exe), "-h", url.hostname, "-p", str(url.port or 3070), "--path-prefix", "/dagster",
                             "-w", str(PROJECT_ROOT / "workspace.yaml")], cwd=PROJECT_ROOT)
