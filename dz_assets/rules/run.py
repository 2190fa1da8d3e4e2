"""Evaluating the fourteen rule models for one day: a dbt run of the model layer (and the staging
views it reads) with ``as_of`` and any threshold overrides as dbt vars; the day's findings replace
that day's earlier ones (dbt_project/macros/model/findings.sql)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import date

from dz_assets.db import connect
from dz_assets.db.named_sql import NamedSql
from dz_assets.transform import run_dbt

query = NamedSql(__file__)

MODEL_SELECTION = "+path:models/model"  # the rule layer and the staging views under it


@dataclass(frozen=True)
class ModelsRun:
    as_of: date
    findings: dict[str, int]  # model code -> findings of the day (zero included)
    duration_s: float

    def as_json(self) -> dict:
        return {"as_of": self.as_of.isoformat(), "findings": self.findings, "duration_s": round(self.duration_s, 3)}


class ModelsRunFailed(RuntimeError):
    pass


def dbt_vars(as_of: date, overrides: dict | None = None) -> str:
    """The ``--vars`` argument of a run for ``as_of`` (overrides: threshold vars)."""
    return json.dumps({**(overrides or {}), "as_of": as_of.isoformat()}, sort_keys=True)


def run_models(dsn: str, as_of: date, overrides: dict | None = None) -> ModelsRun:
    """Evaluate every rule model for ``as_of`` on the warehouse ``dsn`` and replace that day's findings."""
    started = time.monotonic()
    result = run_dbt(["run", "--quiet", "--select", MODEL_SELECTION, "--vars", dbt_vars(as_of, overrides)],
                     dsn, check=False)
    if result.returncode != 0:
        raise ModelsRunFailed(f"dbt run of the rule models for {as_of} failed (exit {result.returncode}; log above)")
    return ModelsRun(as_of, day_counts(dsn, as_of), time.monotonic() - started)


def day_counts(dsn: str, as_of: date) -> dict[str, int]:
    """Findings per model code of an evaluated day (every model that ran, zero included)."""
    with connect(dsn) as conn:
        return {code: int(n) for code, n in conn.execute(query("run", "day_counts"), (as_of,)).fetchall()}
