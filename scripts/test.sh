#!/usr/bin/env bash
# Set everything up (scripts/setup.sh), start PostgreSQL for the store tests, run the checks.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ -f scripts/postgres.sh ]; then
  # postgres.sh prints `export BERTH_TEST_POSTGRES_URL=...` on its last line.
  eval "$(bash scripts/postgres.sh | tail -n 1)"
fi
.venv/bin/ruff check .
exec .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
