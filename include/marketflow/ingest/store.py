"""Write days of one export to the warehouse, replacing each day exactly, all in one transaction.

Rows go in with PostgreSQL `COPY` (on the transaction's own connection) or SQLite `executemany` of
values converted column by column to SQLAlchemy's SQLite storage format (no per-row ORM or type
processing). The same transaction replaces the days' quarantine and `ingest_days` rows and
recomputes the derived tables once for the keys the days touched, old and new.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select

from marketflow.ingest import derived
from marketflow.ingest.bulk import bulk_insert
from marketflow.ingest.landing import FileKind
from marketflow.ingest.report import IngestReport
from marketflow.warehouse import schema

ORDER_COLUMNS = tuple(column.name for column in schema.orders.columns)
CONSENT_COLUMNS = tuple(column.name for column in schema.consent_events.columns)
#: export kind -> (day table, its date column, its columns)
_DAY_TABLES = {
    FileKind.ORDERS: (schema.orders, "order_date", ORDER_COLUMNS),
    FileKind.CUSTOMERS: (schema.consent_events, "effective_date", CONSENT_COLUMNS),
}
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


def _replace_log(conn: Connection, reports: list[IngestReport], quarantined: list[dict]) -> None:
    """The days' `ingest_days` rows and quarantined lines: they describe the latest attempt."""
    kind, days = reports[0].file_kind, [report.file_date for report in reports]
    q, log = schema.quarantine, schema.ingest_days
    conn.execute(delete(q).where(q.c.file_date.in_(days), q.c.file_kind == kind))
    if quarantined:
        conn.execute(insert(q), quarantined)
    conn.execute(delete(log).where(log.c.file_date.in_(days), log.c.file_kind == kind))
    conn.execute(insert(log), [report.ingest_days_row() for report in reports])


def record_attempt(engine: Engine, report: IngestReport, quarantined: list[dict]) -> None:
    """Log a refused attempt at a day; its published rows stay as they were."""
    with engine.begin() as conn:
        _replace_log(conn, [report], quarantined)


def distinct_values(conn: Connection, column: Any, *where: Any) -> set[str]:
    """The non-NULL values of `column` in the rows passing `where` (the keys a replaced day had)."""
    values = conn.execute(select(column).where(*where).distinct()).scalars()
    return {value for value in values if value is not None}


def replace_days(engine: Engine, kind: FileKind, loads: list[tuple[IngestReport, Any, list[dict]]]) -> None:
    """Replace each report's day of the `kind` export with its rows (parsed columns with `file_date`,
    or table columns) and quarantined lines, then refresh the derived tables, in one transaction."""
    import pandas as pd

    reports = [report for report, _, _ in loads]
    days = [report.file_date for report in reports]
    quarantined = [row for _, _, lines in loads for row in lines]
    table, date_column, columns = _DAY_TABLES[kind]
    rows = pd.concat([frame for _, frame, _ in loads], ignore_index=True)
    rows = rows.rename(columns={"file_date": date_column})
    on_days = table.c[date_column].in_(days)
    with engine.begin() as conn, ThreadPoolExecutor(1) as pool:
        # the product tables' rows are computed while the server takes the orders' COPY (the history:
        # 0.6 s of pandas work, hidden on PostgreSQL); the thread reads its own view of the frame
        day_rows = pool.submit(derived.day_rows, rows.copy(deep=False)) if kind is FileKind.ORDERS else None
        customers_before = distinct_values(conn, table.c.customer_id, on_days)
        codes_before = distinct_values(conn, table.c.stock_code, on_days) if kind is FileKind.ORDERS else set()
        conn.execute(delete(table).where(on_days))
        bulk_insert(conn, table.name, columns, rows)
        _replace_log(conn, reports, quarantined)
        customers_after = set(rows["customer_id"].dropna().unique().tolist())
        if kind is FileKind.ORDERS:
            codes_after = set(rows["stock_code"].unique().tolist())
            if codes_before or codes_after:  # else nothing was or is on the days: nothing to refresh
                derived.refresh_order_tables(
                    conn, days, day_rows.result(), (codes_before, codes_after), (customers_before, customers_after)
                )
        elif customers_before or customers_after:
            derived.refresh_contacts(conn, days, customers_before, customers_after)
