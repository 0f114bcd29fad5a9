"""Resolve the warehouse from the Airflow connection `marketflow_warehouse`.

The connection can come from `AIRFLOW_CONN_MARKETFLOW_WAREHOUSE`, a secrets backend or the UI;
when none is defined the embedded default is a SQLite file under the Airflow home.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

from marketflow.shards import SQL_FUNCTION, sqlite_shard

WAREHOUSE_CONN_ID = "marketflow_warehouse"

_POSTGRES_TYPES = {"postgres", "postgresql", "postgresql+psycopg2"}

#: libpq connection parameters a postgres connection's extra (or its URI's query) may set: TLS,
#: timeouts, keepalives, the server-side options. Anything else is refused, not dropped: an
#: `sslmode` misspelt or left out would otherwise connect without the checks the user asked for.
LIBPQ_PARAMETERS = frozenset({
    "application_name", "channel_binding", "client_encoding", "connect_timeout", "gssencmode",
    "gsslib", "keepalives", "keepalives_count", "keepalives_idle", "keepalives_interval",
    "krbsrvname", "load_balance_hosts", "options", "passfile", "require_auth", "requirepeer",
    "service", "ssl_max_protocol_version", "ssl_min_protocol_version", "sslcert", "sslcompression",
    "sslcrl", "sslcrldir", "sslkey", "sslmode", "sslpassword", "sslrootcert", "sslsni",
    "target_session_attrs", "tcp_user_timeout",
})


def default_sqlite_path() -> Path:
    """The embedded warehouse: `$AIRFLOW_HOME/marketflow_warehouse.db`."""
    airflow_home = Path(os.environ.get("AIRFLOW_HOME", Path.home() / "airflow"))
    return airflow_home / "marketflow_warehouse.db"


def url_from_connection(conn: Any) -> URL:
    """Turn an Airflow Connection (sqlite or postgres type) into a SQLAlchemy URL."""
    conn_type = (conn.conn_type or "").lower()
    if conn_type == "sqlite":
        # Airflow parses sqlite:////abs/path.db into schema="/abs/path.db" (host stays empty).
        path = conn.schema or conn.host
        if not path:
            raise ValueError(f"Connection {WAREHOUSE_CONN_ID!r} of type sqlite has no database path")
        return URL.create("sqlite", database=path)
    if conn_type in _POSTGRES_TYPES:
        return URL.create(
            "postgresql+psycopg2",
            username=conn.login or None,
            password=conn.password or None,
            host=conn.host or None,
            port=conn.port or None,
            database=conn.schema or None,
            query=_libpq_parameters(conn.extra_dejson or {}),
        )
    raise ValueError(
        f"Connection {WAREHOUSE_CONN_ID!r} has type {conn.conn_type!r}; "
        "the warehouse supports 'sqlite' and 'postgres'"
    )


def _libpq_parameters(extra: dict[str, Any]) -> dict[str, str]:
    """The connection's extra as libpq parameters (`sslmode`, `connect_timeout`, ...), each passed to
    the driver as given; an unknown key fails, naming it."""
    unknown = sorted(set(extra) - LIBPQ_PARAMETERS)
    if unknown:
        raise ValueError(
            f"Connection {WAREHOUSE_CONN_ID!r} has extra {', '.join(map(repr, unknown))}, which is not a "
            f"libpq connection parameter; the warehouse passes these to PostgreSQL: {', '.join(sorted(LIBPQ_PARAMETERS))}"
        )
    return {key: str(value) for key, value in sorted(extra.items())}


def warehouse_url() -> URL:
    """The warehouse URL from the Airflow connection, or the embedded SQLite default."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(WAREHOUSE_CONN_ID)
    except AirflowNotFoundException:
        path = default_sqlite_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        return URL.create("sqlite", database=str(path))
    return url_from_connection(conn)


def _configure_sqlite_connection(dbapi_conn: Any, _record: Any) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA cache_size=-65536")
    cursor.close()
    dbapi_conn.create_function(SQL_FUNCTION, 2, sqlite_shard, deterministic=True)


def create_warehouse_engine(url: URL | str) -> Engine:
    """An engine with the per-dialect settings the pipeline relies on."""
    url = make_url(url)
    if url.get_backend_name() == "sqlite":
        engine = create_engine(url)
        event.listen(engine, "connect", _configure_sqlite_connection)
        return engine
    return create_engine(url, pool_pre_ping=True)


@lru_cache(maxsize=8)
def _engine_for(url: str) -> Engine:
    return create_warehouse_engine(url)


def forget_cached_engines() -> None:
    """Drop the cached engines (their pools close when collected): for code that drops databases."""
    _engine_for.cache_clear()


def warehouse_engine(url: URL | str | None = None) -> Engine:
    """A cached engine for `url`, or for the `marketflow_warehouse` connection when omitted."""
    resolved = make_url(url) if url is not None else warehouse_url()
    return _engine_for(resolved.render_as_string(hide_password=False))
