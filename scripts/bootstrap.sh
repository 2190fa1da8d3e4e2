#!/usr/bin/env bash
# Shared set-up of the two README commands: the project's own virtual environment (.venv at the
# repository root) with dz-hub installed, and the dbt manifest the Dagster definitions read.
# Usage: source scripts/bootstrap.sh [extras]   (extras: "test" for the test tools)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export DO_NOT_TRACK=1 DAGSTER_DISABLE_TELEMETRY=1 PIP_DISABLE_PIP_VERSION_CHECK=1

pick_python() {
  for py in "${PYTHON:-}" python3.11 python3; do
    [ -n "$py" ] || continue
    if command -v "$py" >/dev/null 2>&1 && "$py" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
      echo "$py"; return 0
    fi
  done
  echo "dz-hub needs Python 3.11 (set PYTHON=/path/to/python3.11)" >&2
  return 1
}

extras="${1:-}"
if [ ! -x .venv/bin/python ]; then
  py="$(pick_python)"
  echo "creating .venv with $py" >&2
  "$py" -m venv .venv
fi
spec="."
[ -n "$extras" ] && spec=".[$extras]"
# Quiet unless something changed; editable so the CLI runs the checkout's code.
.venv/bin/python -m pip install -q --upgrade pip >&2
.venv/bin/python -m pip install -q -e "$spec" >&2
.venv/bin/dzhub dbt parse >&2
