#!/usr/bin/env bash
# README demo command: from nothing to a loaded demo city (`dzhub demo`), PostgreSQL found or
# started embedded. Extra arguments go to `dzhub demo` (e.g. --persons 50000).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh
exec .venv/bin/dzhub demo "$@"
