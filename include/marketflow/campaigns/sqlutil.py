"""Small SQL helpers the campaign stages share, portable across SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Date, Table
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement

#: Rows per `IN (...)` list: below SQLite's default limit of 999 bound parameters.
CHUNK = 900


def chunks(items: Sequence[str], size: int = CHUNK) -> Iterable[Sequence[str]]:
    """`items` in slices small enough for one `IN (...)` list."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def as_date(value: object) -> dt.date:
    """Dates from aggregates come back as text on SQLite and as dates on PostgreSQL."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def insert_ignoring_duplicates(conn: Connection, table: Table, rows: list[dict[str, Any]]) -> int:
    """Insert rows whose primary key is new; returns how many were inserted."""
    if not rows:
        return 0
    dialect = conn.dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    else:
        raise NotImplementedError(f"insert-or-ignore is not implemented for {dialect}")
    inserted = 0
    for start in range(0, len(rows), 500):
        result = conn.execute(insert(table).on_conflict_do_nothing(), rows[start : start + 500])
        inserted += max(result.rowcount, 0)
    return inserted


class add_days(FunctionElement[Any]):
    """`day + days` for two columns (each row its own number of days), compiled per dialect: SQLite
    keeps dates as ISO text, PostgreSQL as DATE."""

    type = Date()
    inherit_cache = True
    name = "add_days"


@compiles(add_days, "sqlite")
def _add_days_sqlite(element: add_days, compiler: Any, **kw: Any) -> str:
    day, days = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"date({day}, printf('%+d days', {days}))"


@compiles(add_days, "postgresql")
def _add_days_postgresql(element: add_days, compiler: Any, **kw: Any) -> str:
    day, days = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"(CAST({day} AS DATE) + {days})"
