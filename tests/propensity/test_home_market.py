"""The home market the warehouse counts (`snapshot_home_market`, one GROUP BY that every scoring shard
and `explain_scores` run) is the one `home_market` takes from the snapshot frame `read_profiles`
reads, ties and missing countries included, on both backends."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Engine

from marketflow.propensity.features import home_market
from marketflow.propensity.warehouse import read_profiles, snapshot_home_market
from marketflow.warehouse import schema, warehouse_engine

DAY = dt.date(2011, 10, 1)


def profile(customer_id: str, country: str | None) -> dict[str, object]:
    zeros = ("recency_days", "frequency", "tenure_days", "purchases_30d", "purchases_90d", "purchases_365d")
    return {
        "as_of_date": DAY, "customer_id": customer_id, "country": country, **dict.fromkeys(zeros, 0),
        "monetary": 0.0, "avg_basket_value": 0.0, "return_rate": 0.0, "r_score": 1, "f_score": 1, "m_score": 1,
        "segment": "new",
    }


def home_markets(engine: Engine, customers: list[tuple[str, str | None]]) -> tuple[str | None, str | None]:
    """(the warehouse's count, `home_market` of the read snapshot) for a day of these customers, inserted
    in the given order."""
    table = schema.customer_profiles
    with engine.begin() as conn:
        conn.execute(table.delete())
        if customers:
            conn.execute(table.insert(), [profile(customer, country) for customer, country in customers])
        return snapshot_home_market(conn, DAY), home_market(read_profiles(conn, DAY))


@pytest.mark.parametrize(
    ("customers", "expected"),
    [
        # a tie goes to the country whose first customer id comes first, not the first inserted or the
        # alphabetically first; NULL countries, though the most, are not a market
        ([("40", "Aland"), ("20", "Aland"), ("30", "Zland"), ("10", "Zland"), ("01", None), ("02", None),
          ("03", None)], "Zland"),
        ([("11", "A"), ("12", "A"), ("50", "B"), ("60", "B"), ("70", "B")], "B"),
        ([("05", None)], None),
        ([], None),
    ],
)
def test_the_warehouse_counts_the_home_market_as_the_frame_does(
    warehouse_url: str, customers: list[tuple[str, str | None]], expected: str | None
) -> None:
    assert home_markets(warehouse_engine(warehouse_url), customers) == (expected, expected)


def test_a_tie_follows_the_warehouse_order_of_customer_ids(warehouse_url: str) -> None:
    """Mixed-case ids sort differently under a binary and a linguistic collation: whichever the
    warehouse uses, the count breaks the tie in the order `read_profiles` reads the snapshot."""
    counted, read = home_markets(warehouse_engine(warehouse_url), [("b1", "X"), ("C2", "Y"), ("d3", "X"), ("E4", "Y")])
    assert counted == read and counted in {"X", "Y"}
