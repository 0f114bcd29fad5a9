#!/usr/bin/env bash
# The test command: set up .venv, start what the tests need (PostgreSQL on 127.0.0.1),
# run pytest, and stop what was started. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

pgdir=${MARKETFLOW_TEST_PGDIR:-/tmp/marketflow-test-pg}
pgport=${MARKETFLOW_TEST_PGPORT:-55432}
trap 'scripts/postgres.sh stop "$pgdir"' EXIT
MARKETFLOW_TEST_PG_URL=$(scripts/postgres.sh start "$pgdir" "$pgport")
export MARKETFLOW_TEST_PG_URL
echo "==> PostgreSQL for the tests: $MARKETFLOW_TEST_PG_URL"

scripts/browser.sh  # headless Chromium for tests/ui/test_browser.py
.venv/bin/python -m pytest --durations=15 "$@"
