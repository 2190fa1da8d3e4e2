"""An embedded PostgreSQL for machines where none answers: the binaries of the ``pgserver`` package.

Started under the project's state folder, listening on 127.0.0.1 (the default port when it is
free, else a free one) and on a socket in the data directory. It outlives the command that
started it, so ``dzhub demo`` and then ``dzhub ui`` see the same database; ``dzhub db stop``
stops it.
"""

from __future__ import annotations

import logging
import os
import pwd
import socket
import stat
import subprocess
from pathlib import Path

PORT_FILE = "dzhub_port"
# pgserver logs every failed command at ERROR, including "no server running" from a status probe.
logging.getLogger("pgserver").setLevel(logging.CRITICAL)
# pgserver itself is imported where the embedded server is used, not here: every command imports
# this module through dz_assets.db, and importing pgserver probes the platform's runtime folders
# (warning where XDG_RUNTIME_DIR is unset) on machines that never need it.


def _port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as s:
        s.settimeout(0.3)
        return s.connect_ex((host, port)) != 0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_system_user() -> dict:
    """initdb refuses to run as root: run the server as the ``pgserver`` system user then."""
    if os.geteuid() != 0:
        return {}
    from pgserver._commands import POSTGRES_BIN_PATH
    from pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions, ensure_user_exists

    ensure_user_exists("pgserver")
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    perms = stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH
    ensure_folder_permissions(POSTGRES_BIN_PATH, perms)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", stat.S_IRGRP | stat.S_IROTH)
    return {"user": "pgserver"}


def start_embedded(pgdata: Path, preferred_port: int = 5432) -> str:
    """Start (or find running) the embedded server; return a ``postgresql://`` URL for it."""
    from pgserver import _commands as pg

    pgdata.mkdir(parents=True, exist_ok=True)
    run_as = _as_system_user()
    if run_as:
        from pgserver.utils import ensure_prefix_permissions

        ensure_prefix_permissions(pgdata)
        pw = pwd.getpwnam(run_as["user"])
        os.chown(pgdata, pw.pw_uid, pw.pw_gid)
    if not (pgdata / "PG_VERSION").exists():
        pg.initdb(["--auth=trust", "--encoding=utf8", "--locale=C.UTF-8", "-U", "postgres"],
                  pgdata=pgdata, **run_as)
    port_file = pgdata.parent / PORT_FILE
    if status_running(pgdata):
        port = int(port_file.read_text().strip())
        return f"postgresql://postgres@127.0.0.1:{port}/dzhub"
    port = preferred_port if _port_free(preferred_port) else _free_port()
    pg.pg_ctl(["-w", "-o", f"-h 127.0.0.1 -p {port} -k {pgdata}", "-l", str(pgdata / "server.log"), "start"],
              pgdata=pgdata, timeout=60, **run_as)
    port_file.write_text(str(port))
    return f"postgresql://postgres@127.0.0.1:{port}/dzhub"


def status_running(pgdata: Path) -> bool:
    try:
        if not (pgdata / "PG_VERSION").exists():
            return False
    except PermissionError:
        pass
    from pgserver import _commands as pg

    try:
        # pgdata is 0700 and owned by the server's user: ask as that user.
        pg.pg_ctl(["status"], pgdata=pgdata, **_as_system_user())
        return True
    except subprocess.CalledProcessError:
        return False


def stop_embedded(pgdata: Path) -> bool:
    if not status_running(pgdata):
        return False
    from pgserver import _commands as pg

    pg.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, timeout=60, **_as_system_user())
    return True
