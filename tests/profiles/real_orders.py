"""Load the real UCI Online Retail day files into a warehouse's `orders` table, for the profile
stage's tests: the rows of `marketflow.ingest.sources.online_retail.read_history` (the same line
semantics as ingest, without its validation), so the profile stage can be tested fast and on its own.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, delete

from marketflow.ingest.derived import day_rows, refresh_order_tables
from marketflow.ingest.sources.online_retail import read_history
from marketflow.ingest.store import distinct_values
from marketflow.warehouse import schema

ORDER_COLUMNS = [column.name for column in schema.orders.columns]


def _ingest_records(days: list[dt.date]) -> list[dict]:
    """`ingest_days` rows as the ingest stage leaves them: both exports loaded on days with orders,
    the days between without orders recorded as closed."""
    first, last, trading = days[0], days[-1], set(days)
    rows = []
    for offset in range((last - first).days + 1):
        day = first + dt.timedelta(days=offset)
        status = "loaded" if day in trading else "no_trading"
        for kind in ("orders", "customers"):
            rows.append({"file_date": day, "file_kind": kind, "status": status, "rows_read": 0, "rows_loaded": 0,
                         "rows_quarantined": 0})
    return rows


def insert_orders(engine: Engine, frame: pd.DataFrame) -> int:
    """Replace the `orders` partitions present in `frame` with its rows (COPY on PostgreSQL), refresh
    the tables derived from them as ingest does (`derived.refresh_order_tables`: scoring reads who is a
    customer in `customers`, the profile build the products' descriptions in `product_day_descriptions`),
    and record the days from its first to its last as ingested (the later stages check that they are)."""
    days = sorted(set(frame["order_date"]))
    on_days = schema.orders.c.order_date.in_(days)
    with engine.begin() as conn:
        customers_before = distinct_values(conn, schema.orders.c.customer_id, on_days)
        codes_before = distinct_values(conn, schema.orders.c.stock_code, on_days)
        conn.execute(delete(schema.orders).where(on_days))
        ingest = schema.ingest_days.c
        conn.execute(delete(schema.ingest_days).where(ingest.file_date >= days[0], ingest.file_date <= days[-1]))
        conn.execute(schema.ingest_days.insert(), _ingest_records(days))
        if engine.dialect.name == "postgresql":
            buffer = io.StringIO()
            frame.to_csv(buffer, index=False, header=False, quoting=csv.QUOTE_MINIMAL)
            buffer.seek(0)
            cursor = conn.connection.dbapi_connection.cursor()
            cursor.copy_expert(f"COPY orders ({', '.join(ORDER_COLUMNS)}) FROM STDIN WITH (FORMAT csv)", buffer)
        else:
            columns = {
                **{name: frame[name].tolist() for name in ORDER_COLUMNS},
                "order_date": [day.isoformat() for day in frame["order_date"]],
                "invoice_ts": frame["invoice_ts"].dt.strftime("%Y-%m-%d %H:%M:%S.%f").tolist(),
                "is_return": frame["is_return"].astype(int).tolist(),
                "description": frame["description"].astype(object).where(frame["description"].notna(), None).tolist(),
                "customer_id": frame["customer_id"].astype(object).where(frame["customer_id"].notna(), None).tolist(),
            }
            rows = list(zip(*(columns[name] for name in ORDER_COLUMNS), strict=True))
            placeholders = ", ".join("?" for _ in ORDER_COLUMNS)
            conn.exec_driver_sql(f"INSERT INTO orders ({', '.join(ORDER_COLUMNS)}) VALUES ({placeholders})", rows)
        refresh_order_tables(
            conn,
            days,
            day_rows(frame),
            (codes_before, set(frame["stock_code"])),
            (customers_before, set(frame["customer_id"].dropna())),
        )
    return len(frame)


def load_history(engine: Engine, data_dir: Path, start: dt.date | None = None, end: dt.date | None = None) -> int:
    """Load the real history between `start` and `end` into `orders`; returns the number of lines."""
    return insert_orders(engine, read_history(data_dir, start, end))
