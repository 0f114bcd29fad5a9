"""What the sharded profile build asks the warehouse to aggregate, so no step holds every customer's
order lines: the shop's product descriptions (from ingest's `product_day_descriptions`) and first
sale day, each customer's purchase invoices (for the lifetime-value fit), each product's counts of a
day, and the day's RFM scores.

Each query restates a definition of `marketflow.profiles.history` in SQL (merchandise, purchase
line, guest lines); tests/profiles/test_sharded.py checks the rows against the pandas build's.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
from sqlalchemy import Connection, ColumnElement, Engine, and_, case, delete, func, insert, not_, select

from marketflow.profiles.history import VALUE_DECIMALS, as_category, day_number, latest_descriptions
from marketflow.profiles.products import COUNT_COLUMNS, TREND_WINDOW_DAYS
from marketflow.profiles.segments import quintile_score_sql, segment_sql
from marketflow.profiles.settings import ProfileSettings
from marketflow.profiles.tables import read_frame
from marketflow.warehouse import schema

_orders = schema.orders.c


def _purchase_lines(through: dt.date, settings: ProfileSettings) -> ColumnElement[bool]:
    """Merchandise lines of normal invoices with a positive quantity, dated up to `through`."""
    return and_(
        _orders.order_date <= through,
        not_(settings.service_clause(_orders.stock_code)),
        not_(_orders.is_return),
        _orders.quantity > 0,
    )


def read_descriptions(engine: Engine, through: dt.date, settings: ProfileSettings) -> pd.DataFrame:
    """`OrderHistory.descriptions` of every line up to `through` (guests' too): ingest keeps the lines
    at each (product, day)'s latest invoice time that can be that day's description
    (`product_day_descriptions`), and `latest_descriptions` picks among them as the pandas build does."""
    table = schema.product_day_descriptions.c
    query = select(table.stock_code, table.order_date, table.invoice_ts, table.description).where(
        table.order_date <= through, not_(settings.service_clause(table.stock_code))
    )
    rows = read_frame(engine, query, categories=("stock_code", "description"))
    lines = pd.DataFrame(
        {
            "stock_code": as_category(rows["stock_code"]),
            "day": _day_numbers(rows["order_date"]),
            "invoice_ts": pd.to_datetime(rows["invoice_ts"], format="ISO8601"),
            "description": as_category(rows["description"]),
        }
    )
    return latest_descriptions(lines)


def read_history_lines(engine: Engine, through: dt.date) -> int:
    """Order lines dated up to `through`, as ingest logged them (`ingest_days.rows_loaded` of the
    loaded order files: the only writer of `orders`), without scanning `orders` itself."""
    days = schema.ingest_days.c
    query = select(func.coalesce(func.sum(days.rows_loaded), 0)).where(
        days.file_kind == "orders", days.status == "loaded", days.file_date <= through
    )
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def read_first_sale_day(engine: Engine, through: dt.date, settings: ProfileSettings) -> int | None:
    """`OrderHistory.first_day` of the whole shop (guests included), or None before any sale."""
    with engine.connect() as conn:
        first = conn.execute(select(func.min(_orders.order_date)).where(_purchase_lines(through, settings))).scalar()
    return None if first is None else day_number(_as_date(first))


def read_purchase_invoices(engine: Engine, through: dt.date, settings: ProfileSettings) -> pd.DataFrame:
    """Every customer's purchase invoices up to `through`, as the rows of `OrderHistory.invoices`
    with `is_purchase` (what `clv.rfm_summary` reads), in its order."""
    query = (
        select(
            _orders.customer_id,
            _orders.invoice_no,
            _orders.order_date,
            func.max(_orders.invoice_ts).label("invoice_ts"),
            func.sum(_orders.quantity * _orders.unit_price).label("purchase_value"),
        )
        .where(_purchase_lines(through, settings), _orders.customer_id.is_not(None))
        .group_by(_orders.customer_id, _orders.invoice_no, _orders.order_date)
    )
    rows = read_frame(engine, query, categories=("customer_id", "invoice_no"), per_partition=True)
    invoices = pd.DataFrame(
        {
            "customer_id": as_category(rows["customer_id"]),
            "invoice_no": as_category(rows["invoice_no"]),
            "day": _day_numbers(rows["order_date"]),
            "invoice_ts": pd.to_datetime(rows["invoice_ts"], format="ISO8601"),
            "purchase_value": rows["purchase_value"].to_numpy(dtype=float).round(VALUE_DECIMALS),
            "is_purchase": np.ones(len(rows), dtype=bool),
        }
    )
    ordered = invoices.sort_values(["customer_id", "day", "invoice_ts", "invoice_no"], kind="stable")
    return ordered.reset_index(drop=True)


def read_product_counts(engine: Engine, as_of: dt.date, settings: ProfileSettings) -> pd.DataFrame:
    """`products.product_counts` of `as_of` (guests included), from the warehouse: the basket lines,
    units and revenue of the 60 days up to `as_of` summed from ingest's `product_days` (at most 60
    rows a product), and the distinct buyers of the last 30 days from `orders`'s lines of those
    days, the only count that does not add up over days."""
    window_start = as_of - dt.timedelta(days=TREND_WINDOW_DAYS)
    days = schema.product_days.c
    recent = days.order_date > window_start

    def recent_sum(value: ColumnElement, zero: int | float = 0) -> ColumnElement:
        return func.sum(case((recent, value), else_=zero))

    sums = (
        select(
            days.stock_code,
            recent_sum(days.baskets).label("purchases_30d"),
            func.sum(case((recent, 0), else_=days.baskets)).label("purchases_prev_30d"),
            recent_sum(days.units).label("units_30d"),
            recent_sum(days.revenue, 0.0).label("revenue_30d"),
        )
        .where(
            days.order_date <= as_of,
            days.order_date > window_start - dt.timedelta(days=TREND_WINDOW_DAYS),
            not_(settings.service_clause(days.stock_code)),
        )
        .group_by(days.stock_code)
        .having(func.sum(days.baskets) > 0)
        .subquery("sums")
    )
    buyers = (
        select(_orders.stock_code, func.count(func.distinct(_orders.customer_id)).label("customers_30d"))
        .where(_purchase_lines(as_of, settings), _orders.order_date > window_start, _orders.customer_id.is_not(None))
        .group_by(_orders.stock_code)
        .subquery("buyers")
    )
    # one statement, so the sums and the buyers come from one snapshot of a day being reloaded
    query = select(
        sums.c.stock_code,
        sums.c.purchases_30d,
        sums.c.purchases_prev_30d,
        func.coalesce(buyers.c.customers_30d, 0),
        sums.c.units_30d,
        sums.c.revenue_30d,
    ).outerjoin(buyers, buyers.c.stock_code == sums.c.stock_code)
    with engine.connect() as conn:
        counts = pd.DataFrame(conn.execute(query).all(), columns=COUNT_COLUMNS)
    counts = counts.astype({name: np.int64 for name in COUNT_COLUMNS[1:-1]} | {"revenue_30d": float})
    # by stock code in code point order (Python's, not the database collation's), as the pandas
    # build lists them: the rank's last tie-break
    return counts.sort_values("stock_code", kind="stable").reset_index(drop=True)


def read_groups(engine: Engine, as_of: dt.date) -> pd.DataFrame:
    """The stored product groups of `as_of`: stock_code, description, group_name (one row per
    product sold by then, with its description as of `as_of`)."""
    table = schema.product_groups
    query = select(table.c.stock_code, table.c.description, table.c.group_name).where(table.c.as_of_date == as_of)
    # through COPY: every shard reads the whole catalogue, and a driver row per product cost a
    # shard of a 58,000-product shop 0.6 s
    groups = read_frame(engine, query, categories=("stock_code", "description", "group_name"))
    description = groups["description"].astype(object)
    groups["description"] = description.where(description.notna(), None)
    return groups


def publish_scored_day(conn: Connection, as_of: dt.date) -> int:
    """Replace the `as_of` rows of `customer_profiles` with the staged ones, scored across all of
    them (`segments.quintile_score`'s rule: RANK() - 1 counts the strictly worse customers), and
    empty the day's staging rows; returns the rows published. Run in the caller's transaction."""
    staged = schema.customer_profiles_staging
    profiles = schema.customer_profiles
    n = func.count().over()
    ranked = (
        select(
            *staged.c,
            quintile_score_sql(func.rank().over(order_by=staged.c.recency_days.desc()) - 1, n).label("r_score"),
            quintile_score_sql(func.rank().over(order_by=staged.c.frequency) - 1, n).label("f_score"),
            quintile_score_sql(func.rank().over(order_by=staged.c.monetary) - 1, n).label("m_score"),
        )
        .where(staged.c.as_of_date == as_of)
        .subquery()
    )
    scored = select(
        *(ranked.c[column.name] for column in profiles.columns if column.name != "segment"),
        segment_sql(ranked.c.r_score, ranked.c.f_score).label("segment"),
    )
    names = [column.name for column in profiles.columns if column.name != "segment"] + ["segment"]
    conn.execute(delete(profiles).where(profiles.c.as_of_date == as_of))
    published = conn.execute(insert(profiles).from_select(names, scored)).rowcount
    conn.execute(delete(staged).where(staged.c.as_of_date == as_of))
    return published


def _day_numbers(dates: pd.Series) -> np.ndarray:
    """Days since 1970-01-01 of DATE values (date objects or ISO text)."""
    return pd.to_datetime(dates, format="ISO8601").to_numpy().astype("datetime64[D]").astype(np.int32)


def _as_date(value: object) -> dt.date:
    """A DATE as the driver returns it (SQLite through SQLAlchemy: a date; raw: ISO text)."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))
