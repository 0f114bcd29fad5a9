"""Customer ids and stock codes are text: ones that look like numbers keep every character (leading
zeros) through the profile build on both backends. PostgreSQL's COPY reader once let pandas parse
such categories as numbers, so customer "01234" was profiled as "1234", beside a real "1234"."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
from sqlalchemy import select

from marketflow.profiles.settings import ProfileSettings
from marketflow.profiles.warehouse import build_days
from marketflow.warehouse import schema, warehouse_engine
from tests.profiles.factories import line
from tests.profiles.real_orders import insert_orders

DAY = dt.date(2011, 1, 10)


def test_ids_that_look_like_numbers_keep_their_leading_zeros(warehouse_url: str) -> None:
    purchases = [("01234", "01234", "ROSE CANDLE"), ("01234", "01234", "ROSE CANDLE"), ("1234", "20002", "DOG MUG"),
                 ("1234", "20003", "CAT MUG"), ("17850", "01234", "ROSE CANDLE"), ("17850", "20002", "DOG MUG")]
    rows = [line("2011-01-03", f"5363{i:02d}", code, 1, 2.0, customer, description=text)
            for i, (customer, code, text) in enumerate(purchases)]
    engine = warehouse_engine(warehouse_url)
    insert_orders(engine, pd.DataFrame(rows))
    with engine.begin() as conn:  # the shop was closed for the rest of the week
        conn.execute(schema.ingest_days.insert(), [
            {"file_date": dt.date(2011, 1, day), "file_kind": kind, "status": "no_trading", "rows_read": 0,
             "rows_loaded": 0, "rows_quarantined": 0}
            for day in range(4, 11) for kind in ("orders", "customers")
        ])

    build_days(engine, [DAY], ProfileSettings(), shards=2)

    profiles, groups = schema.customer_profiles.c, schema.product_groups.c
    with engine.connect() as conn:
        stored = dict(conn.execute(
            select(profiles.customer_id, profiles.favourite_products).where(profiles.as_of_date == DAY)
        ).all())
        grouped = set(conn.execute(select(groups.stock_code).where(groups.as_of_date == DAY)).scalars())
    assert set(stored) == {"01234", "1234", "17850"}
    favourites = stored["01234"] if isinstance(stored["01234"], list) else json.loads(stored["01234"])
    assert [item["stock_code"] for item in favourites] == ["01234"]
    assert favourites[0]["description"] == "ROSE CANDLE"
    assert grouped == {"01234", "20002", "20003"}
