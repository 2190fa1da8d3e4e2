"""Evaluating the fourteen rule models for one day: a dbt run of the model layer (and the staging
views it reads) with ``as_of`` and any threshold overrides as dbt vars; the day's findings replace
that day's earlier ones (dbt_project/macros/model/findings.sql). The run records the fingerprint
of its inputs (dz_assets/rules/fingerprint.py) in mdl_rule_runs; running the same day again with
the same fingerprint keeps the findings it would rebuild."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import date

from dz_assets.db import connect
from dz_assets.db.named_sql import NamedSql
from dz_assets.rules.fingerprint import inputs_fingerprint, last_run_matches
from dz_assets.transform import run_dbt

query = NamedSql(__file__)

MODEL_SELECTION = "+path:models/model"  # the rule layer and the staging views under it


@dataclass(frozen=True)
class ModelsRun:
    as_of: date
    findings: dict[str, int]  # model code -> findings of the day (zero included)
    duration_s: float
    reused: bool = False  # the day's findings were kept: nothing they depend on had changed

    def as_json(self) -> dict:
        return {"as_of": self.as_of.isoformat(), "findings": self.findings, "duration_s": round(self.duration_s, 3)}


class ModelsRunFailed(RuntimeError):
    pass


def dbt_vars(as_of: date, overrides: dict | None = None, fingerprint: str | None = None) -> str:
    """The ``--vars`` argument of a run for ``as_of`` (overrides: threshold vars; fingerprint: of
    the run's inputs, recorded in mdl_rule_runs, read by no rule)."""
    extra = {"inputs_fingerprint": fingerprint} if fingerprint else {}
    return json.dumps({**(overrides or {}), **extra, "as_of": as_of.isoformat()}, sort_keys=True)


def run_models(dsn: str, as_of: date, overrides: dict | None = None, *, reuse: bool = True) -> ModelsRun:
    """Evaluate every rule model for ``as_of`` on the warehouse ``dsn`` and replace that day's findings;
    with ``reuse``, keep them when the warehouse last evaluated this day from the same inputs."""
    started = time.monotonic()
    with connect(dsn) as conn:
        fingerprint = inputs_fingerprint(conn, as_of, overrides)
        if reuse and last_run_matches(conn, as_of, fingerprint):
            conn.commit()
            return ModelsRun(as_of, day_counts(dsn, as_of), time.monotonic() - started, reused=True)
    result = run_dbt(["run", "--quiet", "--select", MODEL_SELECTION, "--vars",
                      dbt_vars(as_of, overrides, fingerprint)], dsn, check=False)
    if result.returncode != 0:
        raise ModelsRunFailed(f"dbt run of the rule models for {as_of} failed (exit {result.returncode}; log above)")
    return ModelsRun(as_of, day_counts(dsn, as_of), time.monotonic() - started)


def day_counts(dsn: str, as_of: date) -> dict[str, int]:
    """Findings per model code of an evaluated day (every model that ran, zero included)."""
    with connect(dsn) as conn:
        return {code: int(n) for code, n in conn.execute(query("run", "day_counts"), (as_of,)).fetchall()}
