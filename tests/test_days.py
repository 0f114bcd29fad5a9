"""The one day convention: which day D a run works on, however it started."""

from __future__ import annotations

import datetime as dt

import pytest

from marketflow.days import day_range, event_days, event_extra, interval_day, run_days

UTC = dt.timezone.utc


@pytest.mark.parametrize(
    ("interval_end", "day"),
    [
        (dt.datetime(2011, 3, 5, tzinfo=UTC), dt.date(2011, 3, 4)),  # daily 00:00: [D, D+1)
        (dt.datetime(2011, 3, 7, 7, tzinfo=UTC), dt.date(2011, 3, 6)),  # weekly Monday 07:00: the Sunday
        (dt.datetime(2011, 3, 7, 3, tzinfo=UTC), dt.date(2011, 3, 6)),  # the recommender's Monday 03:00
    ],
)
def test_a_time_scheduled_run_works_on_the_last_day_of_its_interval(interval_end: dt.datetime, day: dt.date) -> None:
    assert interval_day(interval_end) == day
    assert run_days(triggering_extras=[], asset="x", data_interval_end=interval_end) == [day]


def test_an_asset_triggered_run_works_on_every_day_its_events_name_once_in_order() -> None:
    extras = [
        {"partition_date": "2011-03-07"},
        {"partition_date": "2011-01-05"},
        event_extra([dt.date(2011, 3, 6), dt.date(2011, 3, 7)]),
    ]
    days = run_days(triggering_extras=extras, asset="orders", data_interval_end=None)
    assert days == [dt.date(2011, 1, 5), dt.date(2011, 3, 6), dt.date(2011, 3, 7)]


def test_an_event_without_a_day_or_with_a_bad_one_is_refused_naming_the_asset() -> None:
    with pytest.raises(ValueError, match="marketflow_orders.*partition_date"):
        event_days([{"partition_date": "2011-01-05"}, {"note": "manual"}], "marketflow_orders")
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        event_days([{"partition_date": "5 Jan"}], "marketflow_orders")


def test_a_range_of_params_wins_over_events_and_interval_and_must_be_whole_and_ordered() -> None:
    end = dt.datetime(2011, 3, 5, tzinfo=UTC)
    days = run_days(triggering_extras=[], asset="x", data_interval_end=end, first="2011-02-27", last="2011-03-02")
    assert days == day_range(dt.date(2011, 2, 27), dt.date(2011, 3, 2))
    assert len(days) == 4
    with pytest.raises(ValueError, match="both ends"):
        run_days(triggering_extras=[], asset="x", data_interval_end=end, first="2011-03-02")
    with pytest.raises(ValueError, match="before it starts"):
        run_days(triggering_extras=[], asset="x", data_interval_end=end, first="2011-03-02", last="2011-03-01")
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        run_days(triggering_extras=[], asset="x", data_interval_end=end, first="March", last="2011-03-01")


def test_a_run_that_names_no_day_is_refused() -> None:
    with pytest.raises(ValueError, match="names no day"):
        run_days(triggering_extras=[], asset="marketflow_orders", data_interval_end=None)


def test_a_producers_event_extra_names_the_last_day_and_all_of_them() -> None:
    extra = event_extra([dt.date(2011, 3, 6), dt.date(2011, 3, 7)], rows_loaded=3)
    assert extra == {"partition_date": "2011-03-07", "partition_dates": ["2011-03-06", "2011-03-07"], "rows_loaded": 3}
