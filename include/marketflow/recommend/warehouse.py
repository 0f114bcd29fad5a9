"""The recommender's reads and writes in the warehouse: purchases and recommendations."""

from __future__ import annotations

import datetime as dt

import pandas as pd
from sqlalchemy import Engine, and_, delete, func, insert, select

from marketflow.profiles.settings import ProfileSettings
from marketflow.recommend.interactions import purchases_to_interactions
from marketflow.warehouse import schema


def load_purchases(engine: Engine, before: dt.date, weight: str = "binary") -> pd.DataFrame:
    """Interactions (user, item, timestamp, weight, text) from order lines dated before `before`."""
    o = schema.orders.c
    query = select(o.customer_id, o.stock_code, o.invoice_ts, o.quantity, o.is_return, o.description).where(
        and_(o.order_date < before, o.customer_id.is_not(None), o.quantity > 0, o.is_return.is_(False))
    )
    with engine.connect() as conn:
        lines = pd.read_sql(query, conn, parse_dates=["invoice_ts"])
    shop = ProfileSettings.from_env()
    return purchases_to_interactions(
        lines, weight=weight, service_codes=shop.service_codes, service_prefixes=shop.service_code_prefixes  # type: ignore[arg-type]
    )


def first_order_date(engine: Engine) -> dt.date | None:
    with engine.connect() as conn:
        first = conn.execute(select(func.min(schema.orders.c.order_date))).scalar_one()
    return dt.date.fromisoformat(str(first)) if first is not None else None


def latest_order_date(engine: Engine) -> dt.date | None:
    with engine.connect() as conn:
        last = conn.execute(select(func.max(schema.orders.c.order_date))).scalar_one()
    return dt.date.fromisoformat(str(last)) if last is not None else None


def replace_recommendations(engine: Engine, model_id: str, day: dt.date, rows: pd.DataFrame) -> int:
    """Make `rows` the recommendations as of `day`: one transaction replaces that day's set, so
    readers see the old set or the new one, never a mix."""
    records = [
        {
            "as_of_date": day,
            "model_id": model_id,
            "customer_id": str(r.user),
            "rank": int(r.rank),
            "stock_code": str(r.item),
            "score": float(r.score),
            "reason": str(r.reason)[:512],
        }
        for r in rows.itertuples(index=False)
    ]
    with engine.begin() as conn:
        conn.execute(delete(schema.recommendations).where(schema.recommendations.c.as_of_date == day))
        if records:
            conn.execute(insert(schema.recommendations), records)
    return len(records)
