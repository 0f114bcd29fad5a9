"""Write one day of one export to the warehouse, replacing that day exactly, in one transaction.

Rows go in with PostgreSQL `COPY` (on the transaction's own connection) or SQLite `executemany` of
values converted column by column to SQLAlchemy's SQLite storage format (no per-row ORM or type
processing). The same transaction replaces the day's quarantine and `ingest_days` rows and
recomputes the derived tables for the keys the day touched, old and new.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select

from marketflow.ingest import derived
from marketflow.ingest.report import IngestReport
from marketflow.warehouse import schema

ORDER_COLUMNS = tuple(column.name for column in schema.orders.columns)
CONSENT_COLUMNS = tuple(column.name for column in schema.consent_events.columns)
_REASON_LIMIT = schema.quarantine.c.reason.type.length


def quarantine_row(
    day: dt.date, kind: str, source_file: str, line_no: int, reasons: list[str], raw: str
) -> dict:
    """A `quarantine` row; several reasons are joined and cut to the column's width."""
    reason = "; ".join(reasons)
    if len(reason) > _REASON_LIMIT:
        reason = reason[: _REASON_LIMIT - 3] + "..."
    return {
        "file_date": day,
        "file_kind": kind,
        "source_line": line_no,
        "source_file": source_file,
        "reason": reason,
        "raw_line": raw,
    }


def _replace_log(conn: Connection, report: IngestReport, quarantined: list[dict]) -> None:
    """The day's `ingest_days` row and quarantined lines: they describe the latest attempt."""
    day, kind = report.file_date, report.file_kind
    q, days = schema.quarantine, schema.ingest_days
    conn.execute(delete(q).where(q.c.file_date == day, q.c.file_kind == kind))
    if quarantined:
        conn.execute(insert(q), quarantined)
    conn.execute(delete(days).where(days.c.file_date == day, days.c.file_kind == kind))
    conn.execute(insert(days), [report.ingest_days_row()])


def record_attempt(engine: Engine, report: IngestReport, quarantined: list[dict]) -> None:
    """Log a refused attempt at a day; its published rows stay as they were."""
    with engine.begin() as conn:
        _replace_log(conn, report, quarantined)


def _copy(conn: Connection, table: str, columns: tuple[str, ...], frame: Any) -> None:
    buffer = io.StringIO()
    frame.to_csv(
        buffer, header=False, index=False, quoting=csv.QUOTE_MINIMAL, date_format="%Y-%m-%d %H:%M:%S"
    )
    buffer.seek(0)
    cursor = conn.connection.dbapi_connection.cursor()
    try:
        cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv)", buffer)
    finally:
        cursor.close()


def _sqlite_rows(frame: Any) -> list[tuple]:
    """Rows as tuples in SQLAlchemy's SQLite storage format (dates as ISO text, booleans as 0/1)."""
    values = []
    for name in frame.columns:
        column = frame[name]
        kind = column.dtype.kind
        if kind == "M":
            values.append(column.dt.strftime("%Y-%m-%d %H:%M:%S.%f").tolist())
        elif kind in "biu":  # bool, Int64 and int64 alike: plain Python ints (no NULLs in loaded rows)
            values.append(column.astype("int64").tolist())
        elif kind == "f":
            values.append(column.tolist())
        else:
            values.append(column.where(column.notna(), None).tolist())
    return list(zip(*values))


def _bulk_insert(conn: Connection, table: str, columns: tuple[str, ...], frame: Any) -> None:
    if frame.empty:
        return
    frame = frame[list(columns)]
    if conn.dialect.name == "postgresql":
        _copy(conn, table, columns, frame)
    else:
        placeholders = ", ".join("?" for _ in columns)
        statement = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})"
        conn.exec_driver_sql(statement, _sqlite_rows(frame))


def _distinct(conn: Connection, column: Any, *where: Any) -> set[str]:
    values = conn.execute(select(column).where(*where).distinct()).scalars()
    return {value for value in values if value is not None}


def replace_orders_day(engine: Engine, report: IngestReport, rows: Any, quarantined: list[dict]) -> None:
    """Replace `orders` for the report's day with `rows` (columns named as the table) and refresh
    `products` and `customers` for every code and customer the old or new day mentions."""
    orders, day = schema.orders, report.file_date
    with engine.begin() as conn:
        codes_before = _distinct(conn, orders.c.stock_code, orders.c.order_date == day)
        customers_before = _distinct(conn, orders.c.customer_id, orders.c.order_date == day)
        conn.execute(delete(orders).where(orders.c.order_date == day))
        _bulk_insert(conn, "orders", ORDER_COLUMNS, rows)
        _replace_log(conn, report, quarantined)
        derived.refresh_products(conn, day, codes_before, set(rows["stock_code"].tolist()))
        derived.refresh_customers(conn, day, customers_before, set(rows["customer_id"].dropna().tolist()))


def replace_customers_day(engine: Engine, report: IngestReport, rows: Any, quarantined: list[dict]) -> None:
    """Replace the CRM records (`consent_events`) dated the report's day and refresh the contacts of
    every customer the old or new day mentions."""
    events, day = schema.consent_events, report.file_date
    with engine.begin() as conn:
        before = _distinct(conn, events.c.customer_id, events.c.effective_date == day)
        conn.execute(delete(events).where(events.c.effective_date == day))
        _bulk_insert(conn, "consent_events", CONSENT_COLUMNS, rows)
        _replace_log(conn, report, quarantined)
        derived.refresh_contacts(conn, day, before, set(rows["customer_id"].tolist()))
