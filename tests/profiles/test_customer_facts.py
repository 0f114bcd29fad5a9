"""Each profile column on small hand-made histories whose right answer is worked out by hand."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from marketflow.profiles.build import PROFILE_COLUMNS, profiles_as_of
from marketflow.profiles.history import prepare_history
from marketflow.profiles.settings import ProfileSettings
from tests.profiles.factories import consent, line, orders

SETTINGS = ProfileSettings()
NO_CONSENT = consent()
NO_GROUPS = pd.DataFrame(columns=["stock_code", "group_name"])


def profiles(frame: pd.DataFrame, as_of: str, *, consent_events=NO_CONSENT, groups=NO_GROUPS) -> pd.DataFrame:
    history = prepare_history(frame, SETTINGS)
    snapshot = profiles_as_of(history, dt.date.fromisoformat(as_of), consent_events, groups, None, SETTINGS)
    return snapshot.set_index("customer_id")


BASIC = orders(
    line("2011-01-03", "100", "10001", 2, 1.00, "1", description="CANDLE"),
    line("2011-01-03", "100", "10002", 1, 5.00, "1", description="LANTERN"),
    line("2011-01-03", "100", "POST", 1, 18.00, "1", description="POSTAGE"),
    line("2011-01-10", "101", "10001", 3, 1.00, "1", description="CANDLE"),
    line("2011-01-12", "C102", "10001", -1, 1.00, "1", description="CANDLE"),
)


def test_recency_frequency_spend_and_returns_follow_the_definitions() -> None:
    row = profiles(BASIC, "2011-01-31").loc["1"]
    assert row["frequency"] == 2  # invoices 100 and 101; the return is not a purchase
    assert row["recency_days"] == 21
    assert row["tenure_days"] == 28
    assert row["monetary"] == pytest.approx(7.0 + 3.0 - 1.0)  # net of the return, postage ignored
    assert row["avg_basket_value"] == pytest.approx(10.0 / 2)
    assert row["return_rate"] == pytest.approx(1.0 / 10.0)


def test_windows_count_purchases_in_the_last_n_days_including_the_as_of_day() -> None:
    frame = orders(
        line("2011-01-01", "1", "10001", 1, 1.0, "7"),  # 30 days before 2011-01-31: outside the 30-day window
        line("2011-01-02", "2", "10001", 1, 1.0, "7"),  # 29 days before: inside
        line("2011-01-31", "3", "10001", 1, 1.0, "7"),  # the as-of day itself: inside
        line("2010-11-02", "4", "10001", 1, 1.0, "7"),  # 90 days before: outside the 90-day window
    )
    row = profiles(frame, "2011-01-31").loc["7"]
    assert (row["purchases_30d"], row["purchases_90d"], row["purchases_365d"]) == (2, 3, 4)
    assert row["recency_days"] == 0


def test_guests_returns_only_and_service_only_invoices_make_no_customer() -> None:
    frame = orders(
        line("2011-01-03", "200", "10001", 5, 1.0, None),
        line("2011-01-03", "C201", "10001", -1, 1.0, "2"),
        line("2011-01-03", "202", "POST", 1, 15.0, "3"),
        line("2011-01-03", "203", "gift_0001_20", 1, 20.0, "3"),
        line("2011-01-03", "204", "m", 1, 99.0, "3"),
        line("2011-01-03", "205", "10001", 1, 1.0, "4"),
    )
    assert list(profiles(frame, "2011-01-31").index) == ["4"]


def test_orders_after_the_as_of_date_change_nothing() -> None:
    later = orders(
        *BASIC.to_dict("records"),
        line("2011-02-01", "300", "10002", 10, 5.00, "1", description="LANTERN (NEW NAME)", country="France"),
        line("2011-02-02", "C301", "10001", -4, 1.00, "1"),
        line("2011-02-02", "302", "10003", 1, 9.00, "5"),
    )
    pd.testing.assert_frame_equal(profiles(BASIC, "2011-01-31"), profiles(later, "2011-01-31"))


def test_country_is_the_one_of_the_latest_invoice_up_to_the_date() -> None:
    frame = orders(
        line("2011-01-03", "1", "10001", 1, 1.0, "9", country="France"),
        line("2011-01-05", "2", "10001", 1, 1.0, "9", country="Germany", time="09:00"),
        line("2011-01-05", "3", "10001", 1, 1.0, "9", country="Spain", time="11:00"),
        line("2011-01-07", "4", "10001", 1, 1.0, "9", country="Italy"),
    )
    assert profiles(frame, "2011-01-06").loc["9", "country"] == "Spain"
    assert profiles(frame, "2011-01-07").loc["9", "country"] == "Italy"


def test_latest_consent_event_on_or_before_the_date_wins_and_no_event_means_no_consent() -> None:
    frame = orders(line("2011-01-03", "1", "10001", 1, 1.0, "1"), line("2011-01-03", "2", "10001", 1, 1.0, "2"))
    events = consent(("1", "2011-01-01", True), ("1", "2011-01-20", False), ("2", "2011-02-05", True))
    assert not profiles(frame, "2011-01-31", consent_events=events)["marketing_consent"].any()
    assert profiles(frame, "2011-01-10", consent_events=events).loc["1", "marketing_consent"]
    assert profiles(frame, "2011-02-05", consent_events=events).loc["2", "marketing_consent"]


def test_favourite_products_rank_by_purchases_then_units_then_code_with_descriptions_as_of_the_date() -> None:
    frame = orders(
        line("2011-01-03", "1", "10002", 1, 1.0, "1", description="OLD NAME"),
        line("2011-01-03", "1", "10001", 50, 1.0, "1"),
        line("2011-01-04", "2", "10002", 1, 1.0, "1", description="OLD NAME"),
        line("2011-01-04", "2", "10004", 2, 1.0, "1"),
        line("2011-01-05", "3", "10003", 2, 1.0, "1"),
        line("2011-02-01", "4", "10002", 1, 1.0, "2", description="NEW NAME"),
    )
    favourites = profiles(frame, "2011-01-31").loc["1", "favourite_products"]
    assert favourites == [
        {"stock_code": "10002", "description": "OLD NAME", "purchases": 2},
        {"stock_code": "10001", "description": "PRODUCT 10001", "purchases": 1},
        {"stock_code": "10003", "description": "PRODUCT 10003", "purchases": 1},
    ]


def test_favourite_group_counts_purchases_per_group_and_breaks_ties_alphabetically() -> None:
    frame = orders(
        line("2011-01-03", "1", "10001", 1, 1.0, "1"),
        line("2011-01-04", "2", "10002", 1, 1.0, "1"),
        line("2011-01-05", "3", "10003", 9, 1.0, "1"),
        line("2011-01-06", "4", "10003", 1, 1.0, "2"),
        line("2011-01-06", "4", "10004", 1, 1.0, "2"),
    )
    groups = pd.DataFrame(
        {"stock_code": ["10001", "10002", "10003", "10004"], "group_name": ["mugs", "mugs", "bags", "cards"]}
    )
    result = profiles(frame, "2011-01-31", groups=groups)
    assert result.loc["1", "favourite_group"] == "mugs"  # two purchases beat one big one
    assert result.loc["2", "favourite_group"] == "bags"  # one each: alphabetical


def test_no_favourite_group_when_nobody_bought_a_grouped_product() -> None:
    """Groups fitted on other products (a shard whose customers bought none of them) leave the
    favourite group empty instead of failing the day's build."""
    frame = orders(line("2011-01-03", "1", "10001", 1, 1.0, "1"), line("2011-01-04", "2", "10002", 1, 1.0, "2"))
    groups = pd.DataFrame({"stock_code": ["20001", "20002"], "group_name": ["mugs", "bags"]})
    result = profiles(frame, "2011-01-31", groups=groups)
    assert sorted(result.index) == ["1", "2"]
    assert result["favourite_group"].isna().all()


def test_price_band_is_the_band_of_most_basket_lines_and_ties_go_to_the_cheaper_band() -> None:
    frame = orders(
        line("2011-01-03", "1", "10001", 10, 0.85, "1"),
        line("2011-01-03", "1", "10002", 1, 2.50, "1"),
        line("2011-01-04", "2", "10002", 1, 2.50, "1"),
        line("2011-01-03", "3", "10005", 1, 12.50, "2"),
        line("2011-01-03", "3", "10001", 1, 0.85, "2"),
    )
    result = profiles(frame, "2011-01-31")
    assert result.loc["1", "price_band"] == "mid"
    assert result.loc["2", "price_band"] == "budget"


def test_return_rate_is_capped_at_one_when_returns_exceed_the_purchases_on_record() -> None:
    frame = orders(line("2011-01-03", "1", "10001", 1, 2.0, "1"), line("2011-01-04", "C2", "10001", -5, 2.0, "1"))
    row = profiles(frame, "2011-01-31").loc["1"]
    assert row["return_rate"] == 1.0
    assert row["monetary"] == pytest.approx(2.0 - 10.0)


def test_snapshot_has_the_table_columns_and_one_sorted_row_per_customer() -> None:
    frame = orders(*(line("2011-01-03", str(100 + i), "10001", 1, 1.0, customer) for i, customer in enumerate("35124")))
    history = prepare_history(frame, SETTINGS)
    snapshot = profiles_as_of(history, dt.date(2011, 1, 31), NO_CONSENT, NO_GROUPS, None, SETTINGS)
    assert list(snapshot.columns) == PROFILE_COLUMNS
    assert list(snapshot["customer_id"]) == ["1", "2", "3", "4", "5"]
    assert snapshot["expected_purchases_90d"].isna().all()  # no CLV model given


def test_a_day_without_recent_orders_gives_empty_windows_for_many_customers_not_a_crash() -> None:
    # 300 customers make pandas store category codes in 16 bits; an empty 30-day window used to
    # be reindexed with 8-bit codes and crash (score_audiences on a date without recent orders).
    many = orders(*(line("2011-01-03", str(1000 + n), "10001", 1, 2.00, str(1000 + n)) for n in range(300)))
    quiet = profiles(many, "2011-03-15")
    assert len(quiet) == 300
    assert (quiet["purchases_30d"] == 0).all() and (quiet["purchases_90d"] == 1).all()
    assert (quiet["recency_days"] == 71).all()
    assert profiles(many, "2011-01-02").empty, "a day before any order has no customer yet"
