"""Which days a `build_profiles` run builds: orders asset events, the daily timetable, a rebuild."""

from __future__ import annotations

import datetime as dt

import pytest

from marketflow.profiles.runs import as_of_dates, segment_summary

MIDNIGHT = dt.datetime(2011, 3, 4, tzinfo=dt.timezone.utc)


def test_timetable_backfill_and_manual_runs_build_the_data_intervals_first_day() -> None:
    assert as_of_dates(triggering_extras=[], data_interval_start=MIDNIGHT) == [dt.date(2011, 3, 4)]


def test_an_asset_triggered_run_builds_every_day_its_events_name_once_in_order() -> None:
    extras = [{"partition_date": "2011-03-07"}, {"partition_date": "2011-01-05"}, {"partition_date": "2011-03-07"}]
    days = as_of_dates(triggering_extras=extras, data_interval_start=None)
    assert days == [dt.date(2011, 1, 5), dt.date(2011, 3, 7)]


def test_an_event_without_a_partition_date_fails_the_run_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match="partition_date"):
        as_of_dates(triggering_extras=[{"partition_date": "2011-01-05"}, {"note": "manual"}], data_interval_start=None)
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        as_of_dates(triggering_extras=[{"partition_date": "5 Jan"}], data_interval_start=None)


def test_rebuild_params_build_every_day_of_the_range_and_win_over_the_interval() -> None:
    days = as_of_dates(
        triggering_extras=[], data_interval_start=MIDNIGHT, rebuild_from="2011-02-27", rebuild_to="2011-03-02"
    )
    assert days == [dt.date(2011, 2, 27), dt.date(2011, 2, 28), dt.date(2011, 3, 1), dt.date(2011, 3, 2)]


@pytest.mark.parametrize(
    ("rebuild_from", "rebuild_to", "message"),
    [("2011-03-02", None, "both"), ("2011-03-02", "2011-03-01", "before"), ("March", "2011-03-01", "YYYY-MM-DD")],
)
def test_bad_rebuild_params_are_refused(rebuild_from: str, rebuild_to: str | None, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        as_of_dates(
            triggering_extras=[], data_interval_start=MIDNIGHT, rebuild_from=rebuild_from, rebuild_to=rebuild_to
        )


def test_a_run_with_neither_events_nor_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="neither"):
        as_of_dates(triggering_extras=[], data_interval_start=None)


def test_segment_summary_lists_counts_and_shares() -> None:
    text = segment_summary(dt.date(2011, 10, 31), {"champions": 30, "lost": 10})
    assert "40 customers" in text
    assert "champions" in text and "75.0%" in text and "25.0%" in text
