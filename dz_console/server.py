"""Running the console: uvicorn on loopback by default, and the Dagster webserver it proxies."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import uvicorn

from dz_assets.settings import PROJECT_ROOT, get_console_settings


def run(host: str, port: int, *, log_level: str = "info") -> None:
    uvicorn.run("dz_console.app:create_app", factory=True, host=host, port=port, log_level=log_level,
                access_log=False, server_header=False, proxy_headers=False)


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
