"""What a changed threshold would do before it is switched on: the rule models compiled for day D
with the current vars and with the proposed ones, both evaluated on the warehouse as it is now,
and the subjects each adds and drops. Nothing is written: the compiled SQL goes to a temporary
dbt target folder, never the project's (whose manifest Dagster reads)."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from dz_assets.db import connect
from dz_assets.rules.fingerprint import per_run_tables_filled
from dz_assets.rules.run import ModelsRunFailed, dbt_vars
from dz_assets.transform import DBT_PROJECT_DIR, run_dbt

Subject = tuple[str | None, str | None]  # (subject_gmsfhm, subject_dzbm)


@dataclass
class ModelDiff:
    before: int = 0
    after: int = 0
    added: list[Subject] = field(default_factory=list)
    dropped: list[Subject] = field(default_factory=list)


def rule_model_names() -> dict[str, str]:
    """Rule model code -> dbt model name, from the parsed manifest."""
    manifest = json.loads((DBT_PROJECT_DIR / "target" / "manifest.json").read_text(encoding="utf-8"))
    out = {}
    for node in manifest["nodes"].values():
        rule = node.get("config", {}).get("meta", {}).get("rule") if node["resource_type"] == "model" else None
        if rule:
            out[rule["code"]] = node["name"]
    return dict(sorted(out.items()))


def _compiled(dsn: str, as_of: date, overrides: dict | None, names: list[str], target: Path) -> dict[str, str]:
    result = run_dbt(["compile", "--quiet", "--select", *names, "--vars", dbt_vars(as_of, overrides),
                      "--target-path", str(target)], dsn, check=False)
    if result.returncode != 0:
        raise ModelsRunFailed(f"dbt compile of the rule models for {as_of} failed (exit {result.returncode})")
    folder = target / "compiled" / "dz_hub" / "models" / "model" / "rules"
    return {n: (folder / f"{n}.sql").read_text(encoding="utf-8") for n in names}


def diff_models(dsn: str, as_of: date, overrides: dict) -> dict[str, ModelDiff]:
    """Per model code: the subjects ``overrides`` would add and drop on day ``as_of``."""
    names = rule_model_names()
    with tempfile.TemporaryDirectory(prefix="dzhub-diff-") as tmp:
        base = _compiled(dsn, as_of, None, list(names.values()), Path(tmp) / "base")
        proposed = _compiled(dsn, as_of, overrides, list(names.values()), Path(tmp) / "proposed")
    out: dict[str, ModelDiff] = {}
    with connect(dsn) as conn:
        if not per_run_tables_filled(conn):  # the rules read them
            raise ModelsRunFailed("the rule models' per-run tables are empty (never run, or emptied by the "
                                  "server's crash recovery): run `dzhub models run` first")
        conn.execute("set jit = off")
        for code, name in names.items():
            if base[name] == proposed[name]:
                continue  # the vars changed do not reach this model
            before = _subjects(conn, base[name])
            after = _subjects(conn, proposed[name])
            out[code] = ModelDiff(len(before), len(after), sorted(after - before, key=_key),
                                  sorted(before - after, key=_key))
    return out


def _subjects(conn, compiled: str) -> set[Subject]:
    rows = conn.execute(f"select subject_gmsfhm, subject_dzbm from ({compiled}) x").fetchall()  # noqa: S608 - dbt's own compiled SQL
    return {(a, b) for a, b in rows}


def _key(s: Subject) -> tuple[str, str]:
    return s[0] or "", s[1] or ""
