"""Scratch PostgreSQL databases for tests and benches: created on the server, dropped after use.

No side effects at import (unlike `tests/conftest.py`), so the benches use it too.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def scratch_database(server_url: str, prefix: str = "t") -> Iterator[str]:
    """The URL of a new, empty database `<prefix>_<random>` on the server of `server_url`; on exit
    the cached warehouse engines are forgotten and the database dropped with its connections."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    from marketflow.warehouse.connection import forget_cached_engines

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        forget_cached_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
