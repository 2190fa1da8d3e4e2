#!/usr/bin/env bash
# README test command: from nothing to the whole test suite (lint, dbt parse, pytest) against the
# real PostgreSQL and RabbitMQ. CI runs it with DZ_REQUIRE_SERVICES=1 so a missing service fails.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bootstrap.sh test
if ! bash scripts/services.sh; then
  [ "${DZ_REQUIRE_SERVICES:-0}" = 1 ] && { echo "required services are missing (see above)" >&2; exit 1; }
fi
.venv/bin/ruff check .
.venv/bin/dzhub dbt sources --check
.venv/bin/python -m pytest -q "$@"
