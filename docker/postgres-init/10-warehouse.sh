#!/usr/bin/env bash
# First start of the postgres container only: the warehouse database and its own login, next to the
# Airflow metadata database (POSTGRES_DB). Values come from .env through docker-compose.yaml.
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v wh_user="$WAREHOUSE_USER" -v wh_password="$WAREHOUSE_PASSWORD" -v wh_db="$WAREHOUSE_DB" <<'SQL'
CREATE ROLE :"wh_user" LOGIN PASSWORD :'wh_password';
CREATE DATABASE :"wh_db" OWNER :"wh_user";
SQL
