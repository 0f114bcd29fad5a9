"""Small SQL helpers the campaign stages share, portable across SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from typing import Any

from sqlalchemy import JSON, Boolean, Connection, Date, Table

#: Rows per `IN (...)` list: SQLite (3.32 and later) allows 32,766 bound parameters a statement; fewer,
#: longer lists cut the per-statement cost of selecting and rendering for 100,000 members.
CHUNK = 5000


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


def _plain(column_type: object, dialect: str) -> Callable[[Any], Any] | None:
    """How a value of `column_type` goes to the driver as SQLAlchemy would send it (None: as it is)."""
    if isinstance(column_type, JSON):
        return lambda value: None if value is None else json.dumps(value)
    if dialect == "sqlite" and isinstance(column_type, Date):
        return lambda value: None if value is None else value.isoformat()
    if dialect == "sqlite" and isinstance(column_type, Boolean):
        return lambda value: None if value is None else int(value)
    return None


def _csv_field(value: Any) -> str:
    """A COPY (FORMAT csv) field: NULL unquoted and empty, every text quoted (so '' stays '')."""
    if value is None:
        return ""
    if isinstance(value, str):
        return '"' + value.replace('"', '""') + '"'
    return str(value)


def _batches(rows: Iterable[Sequence[Any]], size: int) -> Iterator[list[Sequence[Any]]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch


def bulk_insert(
    conn: Connection, table: Table, names: Sequence[str], rows: Iterable[Sequence[Any]], size: int = CHUNK
) -> int:
    """Insert `rows` (values in `names` order) as plain tuples, `size` a statement: COPY on PostgreSQL,
    the driver's executemany on SQLite. At 100,000 members or e-mails a run, SQLAlchemy's per-row
    parameter processing of `insert()` cost more than the rows themselves; batches keep one COPY
    buffer of e-mails from doubling the task's memory. Returns the rows inserted."""
    dialect = conn.dialect.name
    plain = [_plain(table.c[name].type, dialect) for name in names]
    columns = ", ".join(names)
    inserted = 0
    for batch in _batches(rows, size):
        converted = [tuple(v if to is None else to(v) for v, to in zip(row, plain, strict=True)) for row in batch]
        if dialect == "postgresql":
            buffer = io.StringIO()
            buffer.writelines(",".join(_csv_field(value) for value in row) + "\n" for row in converted)
            buffer.seek(0)
            cursor = conn.connection.dbapi_connection.cursor()
            cursor.copy_expert(f"COPY {table.name} ({columns}) FROM STDIN WITH (FORMAT csv)", buffer)
        else:
            placeholders = ", ".join("?" for _ in names)
            conn.exec_driver_sql(f"INSERT INTO {table.name} ({columns}) VALUES ({placeholders})", converted)
        inserted += len(converted)
    return inserted
