#!/usr/bin/env bash
# The stack's one-shot init job: Airflow metadata migrations, the warehouse schema, the connections
# the pipeline uses, and the UI logins. Safe to run again (every step replaces what it writes).
set -euo pipefail
: "${WAREHOUSE_PASSWORD:?set WAREHOUSE_PASSWORD in .env}"
: "${AIRFLOW_ADMIN_PASSWORD:?set AIRFLOW_ADMIN_PASSWORD in .env}"
: "${AIRFLOW_VIEWER_PASSWORD:?set AIRFLOW_VIEWER_PASSWORD in .env}"
if env | grep -q 'change-me'; then
  echo "refusing to start: .env still has change-me values (see .env.example for how to generate them)" >&2
  exit 1
fi

echo "==> Airflow metadata database"
airflow db migrate

echo "==> connections"
airflow connections delete marketflow_warehouse >/dev/null 2>&1 || true
airflow connections add marketflow_warehouse --conn-type postgres --conn-host postgres --conn-port 5432 \
  --conn-login "$WAREHOUSE_USER" --conn-password "$WAREHOUSE_PASSWORD" --conn-schema "$WAREHOUSE_DB"
airflow connections delete smtp_default >/dev/null 2>&1 || true
airflow connections add smtp_default --conn-type smtp --conn-host mailpit --conn-port 1025 \
  --conn-extra "{\"from_email\": \"${MARKETFLOW_MAIL_FROM}\", \"disable_tls\": true, \"disable_ssl\": true}"

echo "==> warehouse schema"
# A CLI process reads connections from the environment only (not the metadata DB): hand it the same one.
AIRFLOW_CONN_MARKETFLOW_WAREHOUSE=$(python -c 'import json, os; print(json.dumps({"conn_type": "postgres",
  "host": "postgres", "port": 5432, "login": os.environ["WAREHOUSE_USER"],
  "password": os.environ["WAREHOUSE_PASSWORD"], "schema": os.environ["WAREHOUSE_DB"]}))') \
  marketflow warehouse upgrade

echo "==> UI logins (simple auth manager)"
python - <<'PY'
import json, os
path = os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
passwords = {"admin": os.environ["AIRFLOW_ADMIN_PASSWORD"], "viewer": os.environ["AIRFLOW_VIEWER_PASSWORD"]}
with open(path, "w") as handle:
    json.dump(passwords, handle)
os.chmod(path, 0o600)
PY
echo "==> init done"
