"""Declarative multi-source ingestion (spec/source-config.md): YAML files compiled onto dlt's
readers, written to ``raw_src.<id>`` by our own COPY and merge in one transaction."""

from __future__ import annotations

import os

from dz_assets.settings import get_settings


def dlt_env() -> None:
    """dlt's data, state and working folders under the state folder, never the home directory;
    no telemetry. Called before dlt is imported or used."""
    base = get_settings().state_dir / "dlt"
    os.environ.setdefault("DLT_DATA_DIR", str(base / "data"))
    os.environ.setdefault("DLT_PROJECT_DIR", str(base / "project"))
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    os.environ.setdefault("DLT_TELEMETRY_DISABLED", "1")
