"""The day a DAG run works on: one convention for every stage, column and page.

A run works on **day D**, a calendar day in UTC, and uses data dated on or before D ("as of D",
inclusive); every `as_of_date`, `logical_date` and run key in the warehouse is such a D.

- A run of a time schedule (scheduled, backfill or manual): D is the last day its data interval
  covers, `data_interval_end - 1 day`. The daily 00:00 ingest run with interval [D, D+1) starts
  at D+1 00:00; the weekly Monday 03:00 recommender and a Monday 07:00 campaign work on the Sunday.
- A run triggered by an asset: the days named by the events' `partition_date` (and
  `partition_dates` when one event covers several days), including events sent after its
  triggering ones that Airflow left unconsumed (`event_work`).
- A manual rebuild: the days between its `*_from` and `*_to` params.

Kept free of heavy imports: DAG files import it at parse time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

#: The asset-event extra that names the day a producer changed (see `marketflow.assets`).
PARTITION_KEY = "partition_date"
PARTITION_LIST_KEY = "partition_dates"
#: The extra of a data-triggered run's output event: the newest input event it answered (ISO time).
ANSWERED_KEY = "answered_through"


def parse_day(value: object, what: str) -> dt.date:
    """`value` as a date, or a ValueError that names `what`."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{what} must be a date YYYY-MM-DD, got {value!r}") from None


def interval_day(data_interval_end: dt.datetime) -> dt.date:
    """D for a run of a time schedule: the last day of its data interval."""
    return (data_interval_end - dt.timedelta(days=1)).date()


def day_range(first: dt.date, last: dt.date) -> list[dt.date]:
    """Every day from `first` to `last`, both included."""
    if last < first:
        raise ValueError(f"the range ends ({last}) before it starts ({first})")
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


def event_days(extras: Sequence[Mapping[str, object]], asset: str) -> list[dt.date]:
    """The days named by asset events' extras, sorted and without repeats."""
    days: set[dt.date] = set()
    for extra in extras:
        extra = extra or {}
        if PARTITION_KEY not in extra:
            raise ValueError(
                f"an event of asset {asset!r} carries no extra {PARTITION_KEY!r} ({dict(extra)}): "
                "producers must name the day they changed"
            )
        named = extra.get(PARTITION_LIST_KEY) or [extra[PARTITION_KEY]]
        days.update(parse_day(day, f"{asset} {PARTITION_KEY}") for day in named)  # type: ignore[union-attr]
    return sorted(days)


def run_days(
    *,
    asset: str,
    data_interval_end: dt.datetime | None,
    first: str | None = None,
    last: str | None = None,
) -> list[dt.date]:
    """The days a run that no `asset` event triggered works on, in order: the params' range, else
    its data interval's day (event-triggered runs: `event_work`). A run that names no day raises
    ValueError saying why."""
    if first is not None or last is not None:
        if first is None or last is None:
            raise ValueError("give both ends of the range to rebuild (or neither)")
        return day_range(parse_day(first, "the range's first day"), parse_day(last, "the range's last day"))
    if data_interval_end is None:
        raise ValueError(
            f"the run names no day: it was not triggered by {asset!r}, has no data interval and no range params"
        )
    return [interval_day(data_interval_end)]


@dataclass(frozen=True)
class DayEvent:
    """An asset event as the day convention sees it: when it was sent, by which run, the days it names,
    and (for an event a data-triggered run published) the newest input event that run answered."""

    timestamp: dt.datetime
    days: tuple[dt.date, ...]
    run_id: str | None = None
    answered_through: dt.datetime | None = None

    @classmethod
    def of(cls, event: Any, asset: str) -> DayEvent:
        """From an Airflow asset event (triggering or inlet); its extra must name its days."""
        extra = dict(event.extra or {})
        answered = extra.get(ANSWERED_KEY)
        return cls(
            timestamp=event.timestamp,
            days=tuple(event_days([extra], asset)),
            run_id=event.source_run_id,
            answered_through=dt.datetime.fromisoformat(answered) if answered else None,
        )


@dataclass(frozen=True)
class EventWork:
    """What a data-triggered run does: `days` to build; `late`, the days only events Airflow did not
    hand to any run named; `answered`, days skipped because another run built them after their event;
    `answered_through`, the newest event answered (published with the output)."""

    days: list[dt.date]
    late: list[dt.date] = field(default_factory=list)
    answered: dict[dt.date, str] = field(default_factory=dict)
    answered_through: dt.datetime | None = None

    def as_xcom(self) -> dict[str, object]:
        """What the resolving task hands its downstream tasks (days as ISO strings)."""
        return {
            "days": [day.isoformat() for day in self.days],
            "answered_through": self.answered_through.isoformat() if self.answered_through else None,
        }


def event_work(
    triggering: Sequence[DayEvent], later: Sequence[DayEvent], published: Sequence[DayEvent], run_id: str
) -> EventWork:
    """The days a data-triggered run builds: those its triggering events name, and those of `later`
    events of the same asset (sent after its newest triggering event).

    Airflow 3.3 hands a run only the events up to the first one queued while the DAG was busy; the
    rest stay unconsumed until some later event arrives (apache/airflow#56050), so a run also takes
    the later ones. A day is skipped when another run's `published` output names it and answered
    every event asking for it (that run read the inputs after those events)."""
    asked: dict[dt.date, dt.datetime] = {}
    for event in [*triggering, *later]:
        for day in event.days:
            asked[day] = max(asked.get(day, event.timestamp), event.timestamp)
    answered: dict[dt.date, str] = {}
    for output in published:
        if output.run_id == run_id or output.answered_through is None:
            continue
        for day in output.days:
            if day in asked and output.answered_through >= asked[day]:
                answered[day] = output.run_id or "another run"
    triggered = {day for event in triggering for day in event.days}
    days = sorted(day for day in asked if day not in answered)
    return EventWork(
        days=days,
        late=[day for day in days if day not in triggered],
        answered=dict(sorted(answered.items())),
        answered_through=max((e.timestamp for e in [*triggering, *later]), default=None),
    )


def context_work(context: Mapping[str, Any], asset: Any, output: Any, first_param: str, last_param: str) -> EventWork:
    """`EventWork` of a data-triggered DAG's run from its Airflow context: the range its params name,
    else the days of the `asset` events that triggered it or came after them (less the days another
    run already answered with its `output` asset), else its data interval's day. The task must
    declare `inlets=[asset, output]`."""
    params = context["params"]
    events = context["triggering_asset_events"]
    triggering = [DayEvent.of(e, asset.name) for e in events[asset]] if asset in events else []
    if params.get(first_param) is not None or params.get(last_param) is not None or not triggering:
        return EventWork(
            run_days(
                asset=asset.name,
                data_interval_end=context.get("data_interval_end"),
                first=params.get(first_param),
                last=params.get(last_param),
            )
        )
    newest = max(event.timestamp for event in triggering)
    later = [DayEvent.of(e, asset.name) for e in context["inlet_events"][asset].after(newest.isoformat())]
    oldest = min(event.timestamp for event in triggering)
    published = [DayEvent.of(e, output.name) for e in context["inlet_events"][output].after(oldest.isoformat())]
    return event_work(triggering, later, published, context["run_id"])


def resolve_event_work(
    context: Mapping[str, Any], asset: Any, output: Any, first_param: str, last_param: str
) -> EventWork:
    """`context_work` for a resolving task: logs what the run does and why; a run that names no valid
    day fails (AirflowFailException), one left with nothing to do is skipped (AirflowSkipException)."""
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    try:
        work = context_work(context, asset, output, first_param, last_param)
    except ValueError as error:
        raise AirflowFailException(str(error)) from error
    for day, run_id in work.answered.items():
        log.info("%s: already built by %s after the events that ask for it; not again", day, run_id)
    if work.late:
        log.info(
            "also %s: named by %s events sent after this run's triggering ones, which Airflow leaves "
            "unconsumed (apache/airflow#56050)", day_list(work.late), asset.name,
        )
    if not work.days:
        runs = ", ".join(sorted(set(work.answered.values())))
        raise AirflowSkipException(f"nothing to do: {day_list(list(work.answered))} already built by {runs}")
    log.info("working on %d day(s): %s", len(work.days), day_list(work.days, most=10))
    return work


def day_list(days: Sequence[dt.date], most: int = 5) -> str:
    """`2011-03-04, 2011-03-06 ...`: the first `most` days, for messages."""
    return ", ".join(day.isoformat() for day in days[:most]) + (" ..." if len(days) > most else "")


def day_argument(value: str) -> dt.date:
    """An argparse type: a day YYYY-MM-DD."""
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date YYYY-MM-DD, got {value!r}") from None


def event_extra(days: Sequence[dt.date], **more: object) -> dict[str, object]:
    """The extra a producer attaches to its asset event: the last day it changed, all of them, and
    the `more` items that are not None."""
    named = {key: value for key, value in more.items() if value is not None}
    return {PARTITION_KEY: days[-1].isoformat(), PARTITION_LIST_KEY: [d.isoformat() for d in days], **named}
