#!/usr/bin/env bash
# `make ui`: the Airflow web UI on http://127.0.0.1:8080 over the demo's Airflow home (<repo>/.airflow),
# with the Campaigns screen in the menu. Logins: admin/admin and viewer/viewer (e-mails masked).
#   scripts/ui.sh               the api-server only: browse the demo's runs and results
#   scripts/ui.sh --standalone  scheduler, dag-processor and triggerer too (`airflow standalone`):
#                               unpaused DAGs then run on their schedules
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
source scripts/airflow_env.sh
export PATH=$PWD/.venv/bin:$PATH

airflow db migrate > "$AIRFLOW_HOME/db-migrate.log" 2>&1 || { tail -20 "$AIRFLOW_HOME/db-migrate.log"; exit 1; }
marketflow warehouse upgrade >/dev/null
echo "==> Airflow UI: http://$AIRFLOW__API__HOST:$AIRFLOW__API__PORT/plugin/campaigns (admin/admin, viewer/viewer)"
echo "    Airflow home: $AIRFLOW_HOME   stop with Ctrl-C"
if [ "${1:-}" = "--standalone" ]; then
  exec airflow standalone
fi
exec airflow api-server --host "$AIRFLOW__API__HOST" --port "$AIRFLOW__API__PORT" --workers 1
