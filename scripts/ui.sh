#!/usr/bin/env bash
# `make ui`: the local deployment over the demo's Airflow home (<repo>/.airflow): api-server (the UI,
# with the Campaigns screen in the menu), scheduler, dag-processor, triggerer and a task-log server,
# all on 127.0.0.1, plus the demo's SMTP sink. Unpaused DAGs run on their schedules; Ctrl-C stops
# every process this started. Logins: admin/admin and viewer/viewer (e-mails masked).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source scripts/airflow_env.sh
export PATH=$PWD/.venv/bin:$PATH

airflow db migrate > "$AIRFLOW_HOME/db-migrate.log" 2>&1 || { tail -20 "$AIRFLOW_HOME/db-migrate.log"; exit 1; }
marketflow warehouse upgrade >/dev/null
echo "==> Airflow UI: http://$AIRFLOW__API__HOST:$AIRFLOW__API__PORT/plugin/campaigns (admin/admin, viewer/viewer)"
echo "    Airflow home: $AIRFLOW_HOME   stop with Ctrl-C"
exec marketflow stack
