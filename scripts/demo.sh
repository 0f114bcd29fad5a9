#!/usr/bin/env bash
# The demo command: set up .venv, start from a clean Airflow home (<repo>/.airflow: SQLite metadata,
# LocalExecutor, the embedded SQLite warehouse), then run the demo deployment: the shipped sample
# re-dated to end yesterday, its last week run by Airflow's scheduler (`marketflow demo`).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
repo_home=$PWD/.airflow
if [ "${AIRFLOW_HOME:-$repo_home}" = "$repo_home" ]; then
  rm -rf "$repo_home"  # the demo starts from scratch: its dates move with today's
fi
source scripts/airflow_env.sh
export PATH=$PWD/.venv/bin:$PATH
# A failing task fails the demo at once (production DAGs retry twice, with back-off).
export MARKETFLOW_TASK_RETRIES=0
echo "==> Airflow home: $AIRFLOW_HOME"
airflow db migrate > "$AIRFLOW_HOME/db-migrate.log" 2>&1 || { tail -20 "$AIRFLOW_HOME/db-migrate.log"; exit 1; }
marketflow warehouse upgrade
marketflow demo
