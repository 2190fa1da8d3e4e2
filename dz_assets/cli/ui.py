"""``dzhub ui``: the Dagster webserver and daemon on loopback, against the project's instance."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import click

from dz_assets.cli.output import notice


@click.command("ui")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=3000, show_default=True, type=int)
@click.option("--no-daemon", is_flag=True, help="Webserver only (sensors and schedules will not tick).")
def command(host: str, port: int, no_daemon: bool) -> None:
    """启动 Dagster 界面与守护进程 (Dagster UI + daemon on loopback)."""
    from dz_assets.db import resolve_dsn
    from dz_assets.instance import prepare_dagster_home
    from dz_assets.settings import PROJECT_ROOT
    from dz_assets.transform import apply_dbt_env

    r = resolve_dsn(allow_embedded=True)
    notice(r.describe())
    home = prepare_dagster_home(r.dsn)
    apply_dbt_env(r.dsn)
    bindir = Path(sys.executable).parent
    workspace = str(PROJECT_ROOT / "workspace.yaml")
    procs = [subprocess.Popen([str(bindir / "dagster-webserver"), "-h", host, "-p", str(port), "-w", workspace],
                              cwd=PROJECT_ROOT)]
    if not no_daemon:
        procs.append(subprocess.Popen([str(bindir / "dagster-daemon"), "run", "-w", workspace], cwd=PROJECT_ROOT))
    notice(f"Dagster UI: http://{host}:{port}  (DAGSTER_HOME={home}); Ctrl-C stops it")

    def stop(*_: object) -> None:
        for p in procs:
            p.terminate()

    signal.signal(signal.SIGTERM, stop)
    try:
        while all(p.poll() is None for p in procs):
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        stop()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
    codes = [p.returncode for p in procs]
    if any(c not in (0, None, -signal.SIGTERM) for c in codes):
        raise SystemExit(1)
