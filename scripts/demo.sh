#!/usr/bin/env bash
# The demo command: set up .venv, initialise Airflow (SQLite metadata, LocalExecutor) and the embedded
# SQLite warehouse in <repo>/.airflow, then run the pipeline's DAGs through Airflow on the shipped sample.
# Arguments go to `marketflow demo`: `scripts/demo.sh --weeks 11` runs over the sample's last 11 weeks only.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source scripts/airflow_env.sh
export PATH=$PWD/.venv/bin:$PATH
# A failing task fails the demo at once (production DAGs retry twice, with back-off).
export MARKETFLOW_TASK_RETRIES=0
echo "==> Airflow home: $AIRFLOW_HOME"
airflow db migrate > "$AIRFLOW_HOME/db-migrate.log" 2>&1 || { tail -20 "$AIRFLOW_HOME/db-migrate.log"; exit 1; }
marketflow warehouse upgrade
marketflow demo "$@"
