"""Which as-of dates a `build_profiles` run builds, and the summary it logs: pure functions, so both
ways a run starts (an orders asset event, the daily timetable) are testable without a scheduler.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from marketflow.assets import PARTITION_KEY


def _date(value: object, what: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{what} must be a date YYYY-MM-DD, got {value!r}") from None


def as_of_dates(
    *,
    triggering_extras: Sequence[Mapping[str, object]],
    data_interval_start: dt.datetime | None,
    rebuild_from: str | None = None,
    rebuild_to: str | None = None,
) -> list[dt.date]:
    """The dates a run builds, in order.

    - `rebuild_from` and `rebuild_to` (run params, for a manual rebuild): every day in between.
    - Triggered by orders asset events: each event's `extra["partition_date"]` (an ingest of an
      old day rebuilds that day; queued events rebuild every day they name).
    - Otherwise (the daily timetable, a backfill, a plain manual run): the data interval's first day.
    """
    if rebuild_from is not None or rebuild_to is not None:
        if rebuild_from is None or rebuild_to is None:
            raise ValueError("set both rebuild_from and rebuild_to (or neither)")
        first, last = _date(rebuild_from, "rebuild_from"), _date(rebuild_to, "rebuild_to")
        if last < first:
            raise ValueError(f"rebuild_to {last} is before rebuild_from {first}")
        return [first + dt.timedelta(days=offset) for offset in range((last - first).days + 1)]
    if triggering_extras:
        missing = [extra for extra in triggering_extras if PARTITION_KEY not in (extra or {})]
        if missing:
            raise ValueError(
                f"{len(missing)} triggering orders event(s) carry no extra {PARTITION_KEY!r} "
                f"(extras: {missing[:3]}); producers must name the day they changed"
            )
        return sorted({_date(extra[PARTITION_KEY], PARTITION_KEY) for extra in triggering_extras})
    if data_interval_start is None:
        raise ValueError("the run has neither triggering orders events nor a data interval")
    return [data_interval_start.date()]


def segment_summary(as_of: dt.date, counts: Mapping[str, int]) -> str:
    """A short table of customers per segment for the task log."""
    total = sum(counts.values())
    lines = [f"customer segments as of {as_of.isoformat()}: {total} customers"]
    for segment, customers in counts.items():
        share = customers / total if total else 0.0
        lines.append(f"  {segment:<20} {customers:>6}  {share:6.1%}")
    return "\n".join(lines)
