"""Running dbt against the warehouse in use: one place that turns the resolved DSN into the
environment ``dbt_project/profiles.yml`` reads, for the CLI, the Dagster resource and the tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urlsplit

from psycopg import sql

from dz_assets.db import connect
from dz_assets.settings import PROJECT_ROOT

DBT_PROJECT_DIR = PROJECT_ROOT / "dbt_project"


def dbt_env(dsn: str) -> dict[str, str]:
    """The profile variables for ``dsn`` (DZ_PG_HOST, DZ_PG_PORT, DZ_PG_USER, …)."""
    p = urlsplit(dsn)
    return {
        "DZ_PG_HOST": p.hostname or "127.0.0.1",
        "DZ_PG_PORT": str(p.port or 5432),
        "DZ_PG_USER": unquote(p.username or "postgres"),
        "DZ_PG_PASSWORD": unquote(p.password or ""),
        "DZ_PG_DATABASE": p.path.lstrip("/") or "dzhub",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DO_NOT_TRACK": "1",
    }


def apply_dbt_env(dsn: str) -> None:
    """Export the profile variables into this process (the Dagster dbt resource inherits them)."""
    os.environ.update(dbt_env(dsn))


def dbt_executable() -> str:
    """The dbt of this environment (beside the running Python), else whatever is on PATH."""
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def run_dbt(args: list[str], dsn: str | None = None, *, check: bool = True) -> subprocess.CompletedProcess:
    """Run ``dbt <args>`` in the project; stdout/stderr pass through to the caller's stderr."""
    env = dict(os.environ)
    if dsn:
        env.update(dbt_env(dsn))
    else:
        env.setdefault("DO_NOT_TRACK", "1")
    cmd = [dbt_executable(), *args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(DBT_PROJECT_DIR)]
    return subprocess.run(cmd, env=env, check=check, stdout=sys.stderr, stderr=sys.stderr)


def row_count(dsn: str, schema: str, relation: str) -> int:
    """``count(*)`` of ``schema.relation`` in the database of ``dsn``.

    Named by schema and relation only: the database is the connection's. The dbt manifest names
    relations with the database it was parsed against (``"dzhub"."core"…``), which is not the one
    a run builds in whenever the warehouse is another database (a test's, a second demo's), and
    PostgreSQL refuses a cross-database reference."""
    with connect(dsn) as conn:
        query = sql.SQL("select count(*) from {}.{}").format(sql.Identifier(schema), sql.Identifier(relation))
        return conn.execute(query).fetchone()[0]
