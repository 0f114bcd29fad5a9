"""The profile stage's thin warehouse layer: read orders and consent up to a date, write a day's
snapshot (customer_profiles, product_groups, product_stats) replacing that day in one transaction.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Connection,
    Date,
    Engine,
    Float,
    Integer,
    Table,
    cast,
    delete,
    func,
    select,
)

from marketflow.profiles.build import DaySnapshot, SnapshotBuilder
from marketflow.profiles.history import EPOCH, ORDER_COLUMNS, TEXT_COLUMNS, prepare_history
from marketflow.profiles.segments import SEGMENTS
from marketflow.profiles.settings import ProfileSettings
from marketflow.warehouse import schema

#: PostgreSQL COPY output above this size spills from memory to a temporary file.
_COPY_SPOOL_BYTES = 256 * 1024 * 1024


def read_orders(engine: Engine, through: dt.date) -> pd.DataFrame:
    """Order lines with `order_date <= through` (the columns the stage needs; text as categoricals)."""
    if engine.dialect.name == "postgresql":
        return _read_with_copy(engine, through)
    columns = [schema.orders.c[name] for name in ORDER_COLUMNS]
    with engine.connect() as conn:
        frame = pd.read_sql(select(*columns).where(schema.orders.c.order_date <= through), conn)
    frame = frame.astype({name: "category" for name in TEXT_COLUMNS})
    frame["order_date"] = pd.to_datetime(frame["order_date"], format="ISO8601")
    frame["invoice_ts"] = pd.to_datetime(frame["invoice_ts"], format="ISO8601")
    frame["is_return"] = frame["is_return"].astype(bool)
    return frame


def _read_with_copy(engine: Engine, through: dt.date) -> pd.DataFrame:
    """COPY (query) TO STDOUT as CSV: several times faster than fetching rows through the driver.
    Dates travel as numbers and text is parsed straight into categoricals, so millions of lines
    never become Python objects."""
    orders = schema.orders.c
    columns = [
        (orders.order_date - EPOCH).label("order_date"),  # days since 1970-01-01
        cast(func.extract("epoch", orders.invoice_ts) * 1_000_000, BigInteger).label("invoice_ts"),  # microseconds
        *(orders[name] for name in ORDER_COLUMNS if name not in {"order_date", "invoice_ts"}),
    ]
    query = select(*columns).where(orders.order_date <= through)
    sql = str(query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
    names = [column.name for column in query.selected_columns]
    with tempfile.SpooledTemporaryFile(max_size=_COPY_SPOOL_BYTES, mode="w+b") as buffer:
        with engine.connect() as conn:
            cursor = conn.connection.dbapi_connection.cursor()
            cursor.copy_expert(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", buffer)
        buffer.seek(0)
        frame = pd.read_csv(
            buffer,
            encoding="utf-8",
            names=names,
            dtype={**{name: "category" for name in TEXT_COLUMNS}, "order_date": np.int32, "invoice_ts": np.int64},
            true_values=["t"],
            false_values=["f"],
            keep_default_na=False,
            na_values={"description": [""], "customer_id": [""]},
        )
    frame["order_date"] = pd.to_datetime(frame["order_date"], unit="D")
    frame["invoice_ts"] = pd.to_datetime(frame["invoice_ts"], unit="us")
    return frame[list(ORDER_COLUMNS)]


def read_consent_events(engine: Engine, through: dt.date) -> pd.DataFrame:
    """Consent events effective on or before `through`."""
    table = schema.consent_events
    query = select(table.c.customer_id, table.c.effective_date, table.c.marketing_consent).where(
        table.c.effective_date <= through
    )
    with engine.connect() as conn:
        frame = pd.read_sql(query, conn)
    frame["effective_date"] = pd.to_datetime(frame["effective_date"])
    frame["marketing_consent"] = frame["marketing_consent"].astype(bool)
    return frame


def _plain_values(series: pd.Series, column_type: object, dialect: str) -> list:
    """One column as a list of plain Python values (None for missing)."""
    if isinstance(column_type, JSON):
        return [None if item is None else json.dumps(item) for item in series.tolist()]
    if isinstance(column_type, Date):
        text = pd.to_datetime(series).dt.strftime("%Y-%m-%d")
        return text.to_numpy(dtype=object, na_value=None).tolist()
    if isinstance(column_type, (Integer, Float)) or (isinstance(column_type, Boolean) and dialect != "postgresql"):
        numbers = series.to_numpy(dtype=float)
        missing = np.isnan(numbers)
        if isinstance(column_type, Float):
            plain = numbers.tolist()
        else:
            plain = np.where(missing, 0, numbers).astype(np.int64).tolist()
        for position in np.flatnonzero(missing).tolist():
            plain[position] = None
        return plain
    return series.to_numpy(dtype=object, na_value=None).tolist()


def _column_values(table: Table, frame: pd.DataFrame, as_of: dt.date, dialect: str) -> list[list]:
    """The frame's values per table column as the driver takes them: NaN -> None, JSON serialised,
    and on SQLite dates and booleans as SQLAlchemy stores them (ISO text, 0/1)."""
    values = []
    for column in table.columns:
        if column.name == "as_of_date":
            values.append([as_of if dialect == "postgresql" else as_of.isoformat()] * len(frame))
        else:
            values.append(_plain_values(frame[column.name], column.type, dialect))
    return values


def _insert_frame(conn: Connection, table: Table, frame: pd.DataFrame, as_of: dt.date) -> None:
    """Bulk-insert `frame` into `table` for `as_of`: COPY on PostgreSQL, executemany on SQLite
    (the generic SQLAlchemy path spends most of a day's build converting parameters)."""
    dialect = conn.dialect.name
    rows = list(zip(*_column_values(table, frame, as_of, dialect), strict=True))
    names = [column.name for column in table.columns]
    if dialect == "postgresql":
        buffer = io.StringIO()
        csv.writer(buffer).writerows(rows)
        buffer.seek(0)
        cursor = conn.connection.dbapi_connection.cursor()
        cursor.copy_expert(f"COPY {table.name} ({', '.join(names)}) FROM STDIN WITH (FORMAT csv)", buffer)
    else:
        placeholders = ", ".join("?" for _ in names)
        conn.exec_driver_sql(f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({placeholders})", rows)


def write_snapshot(engine: Engine, snapshot: DaySnapshot) -> None:
    """Replace the day's rows of customer_profiles, product_groups and product_stats, atomically."""
    tables = (
        (schema.customer_profiles, snapshot.profiles),
        (schema.product_groups, snapshot.product_groups),
        (schema.product_stats, snapshot.product_stats),
    )
    with engine.begin() as conn:
        for table, frame in tables:
            conn.execute(delete(table).where(table.c.as_of_date == snapshot.as_of))
            if not frame.empty:
                _insert_frame(conn, table, frame, snapshot.as_of)


@dataclass(frozen=True)
class DaySummary:
    """What a day's build produced, for a log line."""

    as_of: dt.date
    customers: int
    products: int
    groups: int
    segments: dict[str, int]


def summarise(snapshot: DaySnapshot) -> DaySummary:
    counts = snapshot.profiles["segment"].value_counts()
    return DaySummary(
        as_of=snapshot.as_of,
        customers=len(snapshot.profiles),
        products=len(snapshot.product_stats),
        groups=int(snapshot.product_groups["group_id"].nunique()) if not snapshot.product_groups.empty else 0,
        segments={segment: int(counts.get(segment, 0)) for segment in SEGMENTS},
    )


def build_days(engine: Engine, days: Iterable[dt.date], settings: ProfileSettings) -> list[DaySummary]:
    """Build and store the snapshot of every day in `days` (reading the warehouse once)."""
    days = sorted(set(days))
    if not days:
        return []
    history = prepare_history(read_orders(engine, days[-1]), settings)
    builder = SnapshotBuilder(history, read_consent_events(engine, days[-1]), settings)
    summaries = []
    for day in days:
        snapshot = builder.build(day)
        write_snapshot(engine, snapshot)
        summaries.append(summarise(snapshot))
    return summaries


def stored_segment_counts(engine: Engine, as_of: dt.date) -> dict[str, int]:
    """Customers per segment in the stored snapshot of `as_of` (every segment listed, zeros included)."""
    table = schema.customer_profiles
    query = (
        select(table.c.segment, func.count())
        .where(table.c.as_of_date == as_of)
        .group_by(table.c.segment)
    )
    with engine.connect() as conn:
        counts = dict(conn.execute(query).all())
    return {segment: int(counts.get(segment, 0)) for segment in SEGMENTS}
