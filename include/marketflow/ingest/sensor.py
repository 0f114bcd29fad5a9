"""`wait_for_export`: wait in reschedule mode (no worker slot held) for the day's two export files.

The export of day D is due when D ends (the run's data interval end). The sensor waits for a late
export until `export_timeout_s` after it was due, and no longer: a run that starts long after (a
catch-up, a backfill) fails at once when the files are not there, and so does a run whose export
is missing while a later day's export has already arrived. Every failure names the missing files
and the newest export the landing location holds.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import BaseSensorOperator

from marketflow.days import interval_day


def partition_day(context: Any) -> dt.date:
    """The day a run ingests: D of its [D, D+1) data interval (`marketflow.days`)."""
    return interval_day(context["data_interval_end"])


def export_verdict(
    day: dt.date, missing: list[str], newest: dt.date | None, now: dt.datetime, due: dt.datetime, timeout_s: float
) -> str | None:
    """None to keep waiting; otherwise why the day cannot be loaded (the task fails with it)."""
    newest_text = f"the newest export present is {newest}.csv" if newest else "the landing location holds no export"
    expected = ", ".join(missing)
    if newest is not None and newest > day:
        return f"export for trading day {day} is missing while a later one arrived ({newest_text}): expected {expected}"
    deadline = due + dt.timedelta(seconds=timeout_s)
    if now >= deadline:
        late = now - due
        hours = late.total_seconds() / 3600
        return (
            f"export for trading day {day} was due at {due:%Y-%m-%d %H:%M} UTC and is {hours:.1f} h late "
            f"(waiting up to {timeout_s:.0f}s after it is due); {newest_text}: expected {expected}"
        )
    return None


class ExportSensor(BaseSensorOperator):
    """Succeeds once `<day>.csv` and `customers-<day>.csv` are both in the landing location; fails
    (without retries) with `export_verdict`'s message when waiting longer cannot help."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(mode="reschedule", **kwargs)

    def poke(self, context: Any) -> bool:
        from airflow.sdk.exceptions import AirflowFailException

        from marketflow.ingest.landing import Landing
        from marketflow.ingest.settings import IngestSettings

        day = partition_day(context)
        landing = Landing(IngestSettings.from_env().landing_url)
        missing = landing.missing(day)
        if not missing:
            return True
        now = dt.datetime.now(dt.timezone.utc)
        verdict = export_verdict(day, missing, landing.newest_export(), now, context["data_interval_end"], self.timeout)
        if verdict is not None:
            raise AirflowFailException(verdict)
        self.log.info("export for %s not complete yet, still waiting for: %s", day, ", ".join(missing))
        return False
