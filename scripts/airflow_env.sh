#!/usr/bin/env bash
# Source me: the local Airflow environment shared by `make demo` and `make ui`.
# Airflow home, metadata DB (SQLite) and the embedded warehouse live in <repo>/.airflow.
_repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export AIRFLOW_HOME=${AIRFLOW_HOME:-$_repo/.airflow}
mkdir -p "$AIRFLOW_HOME"
export AIRFLOW__CORE__DAGS_FOLDER=$_repo/dags
export AIRFLOW__CORE__PLUGINS_FOLDER=$_repo/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__EXECUTOR=LocalExecutor
export AIRFLOW__CORE__PARALLELISM=4
export AIRFLOW__API__HOST=127.0.0.1
export AIRFLOW__API__PORT=${AIRFLOW__API__PORT:-8080}
export PYTHONWARNINGS=ignore::UserWarning
# One JWT secret for every Airflow component, generated once per Airflow home.
if [ ! -s "$AIRFLOW_HOME/jwt_secret" ]; then
  head -c 48 /dev/urandom | base64 | tr -d '\n' > "$AIRFLOW_HOME/jwt_secret"
  chmod 600 "$AIRFLOW_HOME/jwt_secret"
fi
AIRFLOW__API_AUTH__JWT_SECRET=$(cat "$AIRFLOW_HOME/jwt_secret")
export AIRFLOW__API_AUTH__JWT_SECRET
# Local logins (documented in README): admin/admin and a read-only viewer/viewer.
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin,viewer:viewer"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE=$AIRFLOW_HOME/simple_auth_manager_passwords.json
[ -s "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE" ] ||
  echo '{"admin": "admin", "viewer": "viewer"}' > "$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"
# Airflow's SQLite metadata database waits up to 120 s for a lock (SQLite's default, 5 s, fails
# requests while the scheduler and tasks are busy on a small machine; 30 s failed an API request
# once in the test suite's live deployment on 2 busy cores).
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN=${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-sqlite:///$AIRFLOW_HOME/airflow.db?timeout=120}
export AIRFLOW_CONN_MARKETFLOW_WAREHOUSE=${AIRFLOW_CONN_MARKETFLOW_WAREHOUSE:-sqlite:///$AIRFLOW_HOME/marketflow_warehouse.db}
export MARKETFLOW_LANDING_URL=${MARKETFLOW_LANDING_URL:-$AIRFLOW_HOME/landing}
# After `make demo`: the demo deployment's settings (first day, trading calendar, SMTP sink).
if [ -f "$AIRFLOW_HOME/marketflow.env" ]; then
  set -a
  source "$AIRFLOW_HOME/marketflow.env"
  set +a
fi
unset _repo
