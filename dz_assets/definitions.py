"""The one Dagster ``Definitions`` of dz-hub, assembled from ``dz_assets/defs/``.

Workspace: ``workspace.yaml`` (``dzhub ui``) or ``dagster dev -m dz_assets.definitions``.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

os.environ.setdefault("DO_NOT_TRACK", "1")


@dg.definitions
def defs() -> dg.Definitions:
    return dg.load_from_defs_folder(path_within_project=Path(__file__).parent)
