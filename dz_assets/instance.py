"""The Dagster instance the CLI uses: DAGSTER_HOME under the state folder, storage in PostgreSQL.

``dagster.yaml`` at the repository root is the instance configuration; it is copied into
``$DAGSTER_HOME`` and reads ``DZ_DAGSTER_PG_URL`` (database ``<warehouse>_dagster`` on the same
server) and ``DZ_DAGSTER_COMPUTE_LOGS``, which :func:`prepare_dagster_home` exports.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from dz_assets.db import database_name, ensure_database, sqlalchemy_url, with_database
from dz_assets.settings import PROJECT_ROOT, get_settings


def dagster_database_url(dsn: str) -> str:
    return with_database(dsn, database_name(dsn) + "_dagster")


def prepare_dagster_home(dsn: str) -> Path:
    """Create the Dagster storage database and home; export the variables dagster.yaml reads."""
    settings = get_settings()
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    url = dagster_database_url(dsn)
    ensure_database(url)
    os.environ["DAGSTER_HOME"] = str(home)
    os.environ["DZ_DAGSTER_PG_URL"] = sqlalchemy_url(url)
    os.environ["DZ_DAGSTER_COMPUTE_LOGS"] = str(home / "compute_logs")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    # Dagster's run workers re-resolve the warehouse: pin it so they find the same one.
    os.environ.setdefault("DZ_PG_DSN", dsn)
    return home
