#!/usr/bin/env bash
# Start or stop a throwaway PostgreSQL server on 127.0.0.1 for the tests.
#   scripts/postgres.sh start DIR PORT   -> prints the SQLAlchemy URL of database "marketflow"
#   scripts/postgres.sh stop DIR
# Uses initdb/pg_ctl from PATH, else Debian's postgresql package (installed on demand).
set -euo pipefail
action=$1 dir=$2 port=${3:-55432}

find_bin() {
  if command -v initdb >/dev/null 2>&1; then dirname "$(command -v initdb)"; return; fi
  local found
  found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)
  if [ -z "$found" ]; then
    echo "==> installing Debian postgresql" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 && apt-get install -y -qq postgresql >&2
    found=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)
  fi
  echo "$found"
}

as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$action" in
  start)
    bin=$(find_bin)
    if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
      useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
    fi
    rm -rf "$dir" && mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$dir"
    chmod 700 "$dir"
    as_postgres "$bin/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 >/dev/null
    as_postgres "$bin/pg_ctl" -D "$dir" -l "$dir/server.log" -o "-h 127.0.0.1 -p $port -k $dir -F" -w start >/dev/null
    psql=$bin/psql; [ -x "$psql" ] || psql=$(command -v psql)
    as_postgres "$psql" -h 127.0.0.1 -p "$port" -U postgres -qc "CREATE DATABASE marketflow" >/dev/null
    echo "postgresql+psycopg2://postgres@127.0.0.1:$port/marketflow"
    ;;
  stop)
    bin=$(find_bin)
    [ -f "$dir/postmaster.pid" ] && as_postgres "$bin/pg_ctl" -D "$dir" -m fast -w stop >/dev/null || true
    ;;
  *) echo "usage: $0 start DIR PORT | stop DIR" >&2; exit 2 ;;
esac
