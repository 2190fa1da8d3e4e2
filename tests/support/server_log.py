"""The PostgreSQL server's own log file, for tests that check what a failure wrote there."""

from __future__ import annotations

import os
from pathlib import Path

import psycopg

SERVER_LOG = Path("/var/log/postgresql/postgresql-15-main.log")


def server_log(dsn: str) -> Path | None:
    """The server's log file, when this machine's PostgreSQL writes one we can read."""
    with psycopg.connect(dsn) as conn:
        current = conn.execute("select pg_current_logfile()").fetchone()[0]
        data_dir = conn.execute("select current_setting('data_directory')").fetchone()[0]
    for p in ([Path(data_dir) / current] if current else []) + [SERVER_LOG]:
        if p.is_file() and os.access(p, os.R_OK):
            return p
    return None


def written_since(log: Path, start: int) -> str:
    with log.open("rb") as fh:
        fh.seek(start)
        return fh.read().decode("utf-8", "replace")
