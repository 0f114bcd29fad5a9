"""Frames in and out of the warehouse for the profile stage: order lines and consent events (of all
customers or of one shard), and bulk inserts of a frame into a day's rows."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import tempfile
from collections.abc import Iterable

import numpy as np
import pandas as pd
from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ColumnElement,
    Connection,
    Date,
    Engine,
    Float,
    Integer,
    Select,
    Table,
    FromClause,
    and_,
    cast,
    func,
    literal_column,
    select,
    union_all,
)

from marketflow.profiles.history import EPOCH, ORDER_COLUMNS, TEXT_COLUMNS
from marketflow.shards import order_partitions, shard_rows
from marketflow.warehouse import schema


def _shard_orders(engine: Engine, shard: int, shards: int) -> tuple[FromClause, list[ColumnElement[bool]]]:
    """Where the shard's customers' order lines are, and the filter that keeps only theirs. On
    PostgreSQL, the `orders` partitions its hash range overlaps (migration 0015), filtered on the
    stored hash: a shard scans about 1/N of the lines, and no line's id is hashed again. (Reading the
    partitioned parent would need the partition key expression in the filter, computing MD5 per line.)"""
    if shards == 1 or engine.dialect.name != "postgresql":
        return schema.orders, [shard_rows(schema.orders, shard, shards, engine.dialect.name)]
    partitions = [schema.orders_partition(name) for name in order_partitions(shard, shards)]
    lines = union_all(*(select(*partition.c) for partition in partitions)).subquery("orders")
    return lines, [shard_rows(lines, shard, shards, engine.dialect.name)]


#: PostgreSQL COPY output above this size spills from memory to a temporary file.
_COPY_SPOOL_BYTES = 256 * 1024 * 1024

#: Put before each text value that COPY sends for a categorical column: pandas turns categories that
#: all look like numbers into numbers ("01234" -> 1234), so no value may look like one; removed from
#: the parsed categories (once per distinct value, not per line).
_TEXT_MARK = "~"


def _marked(value: ColumnElement) -> ColumnElement:
    """`value` with `_TEXT_MARK` before it (NULL stays NULL)."""
    return literal_column(f"'{_TEXT_MARK}'").op("||")(value)


def _unmarked(frame: pd.DataFrame, names: Iterable[str]) -> pd.DataFrame:
    """The `names` categoricals of a COPY read with `_TEXT_MARK` taken off their categories."""
    for name in names:
        categories = frame[name].cat.categories
        frame[name] = frame[name].cat.rename_categories(categories.str.slice(len(_TEXT_MARK)))
    return frame


def read_orders(
    engine: Engine,
    through: dt.date,
    names: tuple[str, ...] = ORDER_COLUMNS,
    shard: tuple[int, int] | None = None,
) -> pd.DataFrame:
    """Order lines with `order_date <= through` (the columns the stage needs, or `names`; text as
    categoricals): every line, or with `shard` = (shard, shards) only its customers' lines."""
    source: FromClause = schema.orders
    conditions: list[ColumnElement[bool]] = []
    if shard is not None:
        source, conditions = _shard_orders(engine, *shard)
    condition = and_(source.c.order_date <= through, *conditions)
    if engine.dialect.name == "postgresql":
        return _read_with_copy(engine, source, condition, names)
    columns = [source.c[name] for name in names]
    with engine.connect() as conn:
        frame = pd.read_sql(select(*columns).where(condition), conn)
    frame = frame.astype({name: "category" for name in TEXT_COLUMNS if name in names})
    frame["order_date"] = pd.to_datetime(frame["order_date"], format="ISO8601")
    frame["invoice_ts"] = pd.to_datetime(frame["invoice_ts"], format="ISO8601")
    frame["is_return"] = frame["is_return"].astype(bool)
    return frame


def _read_with_copy(
    engine: Engine, source: FromClause, condition: ColumnElement[bool], names: tuple[str, ...]
) -> pd.DataFrame:
    """COPY (query) TO STDOUT as CSV: several times faster than fetching rows through the driver.
    Dates travel as numbers and text is parsed straight into categoricals, so millions of lines
    never become Python objects."""
    orders = source.c
    columns = [
        (orders.order_date - EPOCH).label("order_date"),  # days since 1970-01-01
        cast(func.extract("epoch", orders.invoice_ts) * 1_000_000, BigInteger).label("invoice_ts"),  # microseconds
        *(
            _marked(orders[name]).label(name) if name in TEXT_COLUMNS else orders[name]
            for name in names
            if name not in {"order_date", "invoice_ts"}
        ),
    ]
    query = select(*columns).where(condition)
    sql = str(query.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
    selected = [column.name for column in query.selected_columns]
    with tempfile.SpooledTemporaryFile(max_size=_COPY_SPOOL_BYTES, mode="w+b") as buffer:
        with engine.connect() as conn:
            cursor = conn.connection.dbapi_connection.cursor()
            cursor.copy_expert(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", buffer)
        buffer.seek(0)
        frame = pd.read_csv(
            buffer,
            encoding="utf-8",
            names=selected,
            dtype={**{name: "category" for name in TEXT_COLUMNS}, "order_date": np.int32, "invoice_ts": np.int64},
            true_values=["t"],
            false_values=["f"],
            keep_default_na=False,
            na_values={"description": [""], "customer_id": [""]},
        )
    frame = _unmarked(frame, [name for name in TEXT_COLUMNS if name in names])
    frame["order_date"] = pd.to_datetime(frame["order_date"], unit="D")
    frame["invoice_ts"] = pd.to_datetime(frame["invoice_ts"], unit="us")
    return frame[list(names)]


def read_consent_events(engine: Engine, through: dt.date, where: ColumnElement[bool] | None = None) -> pd.DataFrame:
    """Consent events effective on or before `through` (and matching `where` when given)."""
    table = schema.consent_events
    query = select(table.c.customer_id, table.c.effective_date, table.c.marketing_consent).where(
        table.c.effective_date <= through
    )
    if where is not None:
        query = query.where(where)
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


def insert_frame(conn: Connection, table: Table, frame: pd.DataFrame, as_of: dt.date) -> None:
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


def read_frame(
    engine: Engine, query: Select, categories: tuple[str, ...] = (), *, per_partition: bool = False
) -> pd.DataFrame:
    """The rows of `query` as a frame, the `categories` columns as categoricals: COPY on PostgreSQL
    (millions of rows never become Python objects), pandas' reader on SQLite. Dates and times come
    as the driver gives them or as ISO text: parse them with `pd.to_datetime`.

    `per_partition`: on PostgreSQL the query's aggregates run partition by partition of `orders`
    first (`enable_partitionwise_aggregate`, off by default): each partition's groups fit in memory
    where one hash table over every line spills to disk."""
    names = [column.name for column in query.selected_columns]
    if engine.dialect.name != "postgresql":
        with engine.connect() as conn:
            frame = pd.read_sql(query, conn)
        return frame.astype({name: "category" for name in categories})
    selected = query.selected_columns
    marked = query.with_only_columns(
        *(_marked(selected[name]).label(name) if name in categories else selected[name] for name in names),
        maintain_column_froms=True,
    )
    sql = str(marked.compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True}))
    with tempfile.SpooledTemporaryFile(max_size=_COPY_SPOOL_BYTES, mode="w+b") as buffer:
        with engine.connect() as conn:
            if per_partition:
                conn.exec_driver_sql("SET LOCAL enable_partitionwise_aggregate = on")
            conn.connection.dbapi_connection.cursor().copy_expert(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", buffer)
        buffer.seek(0)
        frame = pd.read_csv(
            buffer,
            encoding="utf-8",
            names=names,
            dtype={name: "category" for name in categories},
            keep_default_na=False,
            na_values=[""],
        )
    return _unmarked(frame, categories)
