"""The one day convention: which day D a run works on, however it started."""

from __future__ import annotations

import datetime as dt

import pytest

from marketflow.days import DayEvent, day_range, event_days, event_extra, event_work, interval_day, run_days

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
    assert run_days(asset="x", data_interval_end=interval_end) == [day]


def test_an_asset_triggered_run_works_on_every_day_its_events_name_once_in_order() -> None:
    extras = [
        {"partition_date": "2011-03-07"},
        {"partition_date": "2011-01-05"},
        event_extra([dt.date(2011, 3, 6), dt.date(2011, 3, 7)]),
    ]
    days = event_days(extras, "orders")
    assert days == [dt.date(2011, 1, 5), dt.date(2011, 3, 6), dt.date(2011, 3, 7)]


def test_an_event_without_a_day_or_with_a_bad_one_is_refused_naming_the_asset() -> None:
    with pytest.raises(ValueError, match="marketflow_orders.*partition_date"):
        event_days([{"partition_date": "2011-01-05"}, {"note": "manual"}], "marketflow_orders")
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        event_days([{"partition_date": "5 Jan"}], "marketflow_orders")


def test_a_range_of_params_wins_over_events_and_interval_and_must_be_whole_and_ordered() -> None:
    end = dt.datetime(2011, 3, 5, tzinfo=UTC)
    days = run_days(asset="x", data_interval_end=end, first="2011-02-27", last="2011-03-02")
    assert days == day_range(dt.date(2011, 2, 27), dt.date(2011, 3, 2))
    assert len(days) == 4
    with pytest.raises(ValueError, match="both ends"):
        run_days(asset="x", data_interval_end=end, first="2011-03-02")
    with pytest.raises(ValueError, match="before it starts"):
        run_days(asset="x", data_interval_end=end, first="2011-03-02", last="2011-03-01")
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        run_days(asset="x", data_interval_end=end, first="March", last="2011-03-01")


def test_a_run_that_names_no_day_is_refused() -> None:
    with pytest.raises(ValueError, match="names no day"):
        run_days(asset="marketflow_orders", data_interval_end=None)


def test_a_producers_event_extra_names_the_last_day_and_all_of_them() -> None:
    extra = event_extra([dt.date(2011, 3, 6), dt.date(2011, 3, 7)], rows_loaded=3, answered_through=None)
    assert extra == {"partition_date": "2011-03-07", "partition_dates": ["2011-03-06", "2011-03-07"], "rows_loaded": 3}


def _at(minute: int) -> dt.datetime:
    return dt.datetime(2026, 11, 30, 12, minute, tzinfo=UTC)


def _event(minute: int, *days: int, run_id: str | None = None, answered_through: int | None = None) -> DayEvent:
    return DayEvent(
        timestamp=_at(minute),
        days=tuple(dt.date(2026, 11, day) for day in days),
        run_id=run_id,
        answered_through=_at(answered_through) if answered_through is not None else None,
    )


def test_a_triggered_run_also_builds_the_days_of_events_airflow_left_unconsumed() -> None:
    # apache/airflow#56050: events 2 and 3 came while the DAG was busy; its next run got event 2 only.
    work = event_work([_event(2, 26)], later=[_event(2, 26), _event(3, 27, 28)], published=[], run_id="r2")
    assert work.days == [dt.date(2026, 11, 26), dt.date(2026, 11, 27), dt.date(2026, 11, 28)]
    assert work.late == [dt.date(2026, 11, 27), dt.date(2026, 11, 28)]
    assert work.answered == {} and work.answered_through == _at(3)
    assert work.as_xcom() == {"days": ["2026-11-26", "2026-11-27", "2026-11-28"], "answered_through": _at(3).isoformat()}


def test_a_day_another_run_built_after_its_event_is_not_built_again() -> None:
    # r2 took event 3 as a late one; Airflow then started r3 for the same event.
    published = [_event(9, 26, 27, 28, run_id="r2", answered_through=3)]
    work = event_work([_event(3, 27, 28)], later=[_event(3, 27, 28)], published=published, run_id="r3")
    assert work.days == [] and work.answered == {dt.date(2026, 11, 27): "r2", dt.date(2026, 11, 28): "r2"}


def test_a_day_asked_again_after_another_runs_answer_is_built_again() -> None:
    published = [_event(9, 27, run_id="r2", answered_through=3)]
    work = event_work([_event(3, 27), _event(5, 27, 28)], later=[], published=published, run_id="r3")
    assert work.days == [dt.date(2026, 11, 27), dt.date(2026, 11, 28)] and work.answered == {}


def test_a_runs_own_output_and_outputs_of_manual_rebuilds_do_not_count_as_answers() -> None:
    published = [_event(9, 27, run_id="r3", answered_through=5), _event(9, 27, run_id="manual")]
    work = event_work([_event(5, 27)], later=[], published=published, run_id="r3")
    assert work.days == [dt.date(2026, 11, 27)]


def test_an_event_sent_by_a_run_reads_its_days_and_answer_from_its_extra() -> None:
    class AirflowEvent:  # the attributes Airflow's triggering and inlet events share
        timestamp = _at(9)
        source_run_id = "r2"
        extra = event_extra([dt.date(2026, 11, 27)], answered_through=_at(3).isoformat())

    assert DayEvent.of(AirflowEvent(), "marketflow_audience_scores") == _event(9, 27, run_id="r2", answered_through=3)
