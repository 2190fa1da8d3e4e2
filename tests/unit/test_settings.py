"""One place for each setting: .env.example lists exactly settings.DEFAULTS, and the code reads no
DZ_* variable that is not in it (besides the few derived ones named below)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from dz_assets.settings import DEFAULTS, PROJECT_ROOT

# Set by dz-hub itself for its tools (dbt's profile, Dagster's instance) or by the tests.
DERIVED = {"DZ_PG_HOST", "DZ_PG_PORT", "DZ_PG_USER", "DZ_PG_PASSWORD", "DZ_PG_DATABASE",
           "DZ_DAGSTER_PG_URL", "DZ_DAGSTER_COMPUTE_LOGS", "DZ_TEST_PG_DSN"}


def env_example() -> dict[str, str]:
    out = {}
    for line in (PROJECT_ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            assert name not in out, f".env.example lists {name} twice"
            out[name] = value
    return out


def test_env_example_equals_the_defaults():
    assert env_example() == DEFAULTS


def test_the_code_reads_only_listed_variables():
    files = subprocess.run(["git", "-C", str(PROJECT_ROOT), "ls-files", "dz_assets", "redirect_api", "dbt_project",
                            "dagster.yaml", "scripts"], capture_output=True, text=True, check=True).stdout.split()
    seen = set()
    for f in files:
        if f.endswith((".py", ".yml", ".yaml", ".sh")):
            seen |= set(re.findall(r"\bDZ_[A-Z0-9_]*[A-Z0-9]\b", Path(PROJECT_ROOT, f).read_text(encoding="utf-8")))
    assert not (seen - set(DEFAULTS) - DERIVED)
