"""The day a DAG run works on: one convention for every stage, column and page.

A run works on **day D**, a calendar day in UTC, and uses data dated on or before D ("as of D",
inclusive); every `as_of_date`, `logical_date` and run key in the warehouse is such a D.

- A run of a time schedule (scheduled, backfill or manual): D is the last day its data interval
  covers, `data_interval_end - 1 day`. The daily 00:00 ingest run with interval [D, D+1) starts
  at D+1 00:00; the weekly Monday 03:00 recommender and a Monday 07:00 campaign work on the Sunday.
- A run triggered by an asset: the days named by the events' `partition_date` (and
  `partition_dates` when one event covers several days).
- A manual rebuild: the days between its `*_from` and `*_to` params.

Kept free of heavy imports: DAG files import it at parse time.
"""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

#: The asset-event extra that names the day a producer changed (see `marketflow.assets`).
PARTITION_KEY = "partition_date"
PARTITION_LIST_KEY = "partition_dates"


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
    triggering_extras: Sequence[Mapping[str, object]],
    asset: str,
    data_interval_end: dt.datetime | None,
    first: str | None = None,
    last: str | None = None,
) -> list[dt.date]:
    """The days a run works on, in order: the params' range, else the triggering events' days,
    else its data interval's day. A run that names no day raises ValueError saying why."""
    if first is not None or last is not None:
        if first is None or last is None:
            raise ValueError("give both ends of the range to rebuild (or neither)")
        return day_range(parse_day(first, "the range's first day"), parse_day(last, "the range's last day"))
    if triggering_extras:
        return event_days(triggering_extras, asset)
    if data_interval_end is None:
        raise ValueError(
            f"the run names no day: it was not triggered by {asset!r}, has no data interval and no range params"
        )
    return [interval_day(data_interval_end)]


def context_days(context: Mapping[str, Any], asset: Any, first_param: str, last_param: str) -> list[dt.date]:
    """`run_days` of a data-triggered DAG's run, from its Airflow context: the range its params name,
    else the days of the `asset` events that triggered it, else its data interval's day."""
    events = context["triggering_asset_events"]
    extras = [dict(event.extra or {}) for event in events[asset]] if asset in events else []
    return run_days(
        triggering_extras=extras,
        asset=asset.name,
        data_interval_end=context.get("data_interval_end"),
        first=context["params"].get(first_param),
        last=context["params"].get(last_param),
    )


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
    """The extra a producer attaches to its asset event: the last day it changed and all of them."""
    return {PARTITION_KEY: days[-1].isoformat(), PARTITION_LIST_KEY: [d.isoformat() for d in days], **more}
