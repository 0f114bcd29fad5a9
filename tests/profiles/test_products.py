"""Product popularity and trend over the last 30 days, guests included."""

from __future__ import annotations

import datetime as dt

from marketflow.profiles.history import catalogue_as_of, prepare_history
from marketflow.profiles.products import PRODUCT_STATS_COLUMNS, product_stats
from marketflow.profiles.settings import ProfileSettings
from tests.profiles.factories import line, orders

AS_OF = dt.date(2011, 3, 31)


def stats_of(*rows: dict):
    history = prepare_history(orders(*rows), ProfileSettings())
    return product_stats(history, AS_OF, catalogue_as_of(history, AS_OF)).set_index("stock_code")


def test_counts_purchases_buyers_units_and_revenue_of_the_last_30_days() -> None:
    stats = stats_of(
        line("2011-03-02", "1", "20001", 4, 2.5, "a"),  # 29 days before: in the window
        line("2011-03-31", "2", "20001", 1, 2.5, None),  # a guest counts for popularity
        line("2011-03-31", "3", "20001", 2, 2.5, "a"),
        line("2011-03-01", "4", "20001", 9, 2.5, "b"),  # 30 days before: the previous window
        line("2011-04-01", "5", "20001", 9, 2.5, "c"),  # after the date: ignored
    )
    row = stats.loc["20001"]
    assert (row["purchases_30d"], row["customers_30d"], row["units_30d"]) == (3, 1, 7)
    assert row["revenue_30d"] == 7 * 2.5
    assert row["purchases_prev_30d"] == 1
    assert row["trend_ratio"] == (3 + 1) / (1 + 1)
    assert list(stats.reset_index().columns) == PRODUCT_STATS_COLUMNS


def test_popularity_ranks_by_purchases_then_units_and_leaves_unbought_products_unranked() -> None:
    stats = stats_of(
        line("2011-01-05", "0", "20004", 1, 1.0, "z"),  # first sold long ago
        line("2011-03-20", "1", "20001", 1, 1.0, "a"),
        line("2011-03-21", "2", "20001", 1, 1.0, "b"),
        line("2011-03-20", "3", "20002", 5, 1.0, "a"),
        line("2011-03-22", "4", "20003", 1, 1.0, "c"),
        line("2011-02-15", "5", "20004", 1, 1.0, "d"),  # bought only in the previous 30 days
    )
    ranked = stats["popularity_rank"].dropna()
    assert ranked.to_dict() == {"20001": 1, "20002": 2, "20003": 3}
    assert "20004" in stats.index and "20004" not in ranked.index
    assert stats.loc["20004", "trend"] == "falling"


def test_trend_labels_new_rising_falling_and_steady_products() -> None:
    old = [line("2010-12-01", f"o{code}", code, 1, 1.0, "z") for code in ("20001", "20002", "20003")]
    stats = stats_of(
        *old,
        *(line("2011-03-25", f"r{i}", "20001", 1, 1.0, "a") for i in range(3)),  # 3 vs 0 -> 4.0: rising
        *(line("2011-02-20", f"f{i}", "20002", 1, 1.0, "a") for i in range(3)),  # 0 vs 3 -> 0.25: falling
        line("2011-03-25", "s1", "20003", 1, 1.0, "a"),
        line("2011-02-20", "s2", "20003", 1, 1.0, "a"),  # 1 vs 1 -> steady
        line("2011-03-30", "n1", "20009", 1, 1.0, "a"),  # first sold in the window: new
    )
    assert stats["trend"].to_dict() == {"20001": "rising", "20002": "falling", "20003": "steady", "20009": "new"}
