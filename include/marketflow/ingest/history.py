"""Load a range of days in one process: a backfill without one Airflow run per day, other stages'
tests, and the bench. Every day gets the outcome its own DAG run would give it."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from sqlalchemy import Engine

from marketflow.ingest.calendar import closure_reason
from marketflow.ingest.days import (
    ingest_customers_day,
    ingest_files,
    ingest_orders_day,
    record_no_trading_day,
    record_no_trading_days,
)
from marketflow.ingest.errors import ExportMissing
from marketflow.ingest.landing import FileKind, Landing
from marketflow.ingest.report import IngestReport
from marketflow.ingest.settings import IngestSettings


def days_between(start: dt.date, end: dt.date) -> Iterator[dt.date]:
    day = start
    while day <= end:
        yield day
        day += dt.timedelta(days=1)


def no_trading_reason(landing: Landing, day: dt.date, settings: IngestSettings) -> str | None:
    """Why `day` has no export to wait for (shop closed and nothing arrived), or None.

    A file that arrives on a closed day is ingested like any other.
    """
    reason = closure_reason(day, settings.calendar)
    if reason is None or len(landing.missing(day)) < len(FileKind):
        return None
    return reason


def ingest_day(
    engine: Engine, landing_url: str, day: dt.date, settings: IngestSettings
) -> list[IngestReport]:
    """One day as the DAG handles it: both exports, or `no_trading` when the shop was closed and sent
    nothing. A missing export on a trading day raises `ExportMissing` (the DAG would wait for it)."""
    landing = Landing(landing_url)
    if no_trading_reason(landing, day, settings) is not None:
        return record_no_trading_day(engine, day, settings)
    missing = landing.missing(day)
    if missing:
        raise ExportMissing(f"export for trading day {day} has not arrived: {', '.join(missing)}")
    return [
        ingest_orders_day(engine, landing_url, day, settings),
        ingest_customers_day(engine, landing_url, day, settings),
    ]


def _trading_batches(
    engine: Engine, landing: Landing, days: list[dt.date], settings: IngestSettings, closed: list[IngestReport]
) -> Iterator[list[dt.date]]:
    """Yield the trading days in batches of `batch_days`, recording the closed days without exports
    met before each batch (their reports go to `closed`) just before it. A trading day with a missing
    export ends the run (after the batch and the closed days before it)."""
    batch: list[dt.date] = []
    closed_days: list[dt.date] = []

    def record_closed() -> None:
        closed.extend(record_no_trading_days(engine, closed_days, settings))
        closed_days.clear()

    for day in days:
        if no_trading_reason(landing, day, settings) is not None:
            closed_days.append(day)
            continue
        missing = landing.missing(day)
        if missing:
            record_closed()
            if batch:
                yield batch
            raise ExportMissing(f"export for trading day {day} has not arrived: {', '.join(missing)}")
        batch.append(day)
        if len(batch) == settings.batch_days:
            record_closed()
            yield batch
            batch = []
    record_closed()
    if batch:
        yield batch


def ingest_history(
    engine: Engine,
    landing_url: str,
    start: dt.date,
    end: dt.date,
    settings: IngestSettings | None = None,
    *,
    newest_first: bool = False,
) -> list[IngestReport]:
    """Every day from `start` to `end` (inclusive), `batch_days` trading days per validation and
    transaction; stops at the first day that fails, after publishing the days before it.

    `newest_first` reloads the batches in reverse date order: the derived tables must come out the same.
    """
    settings = settings or IngestSettings.from_env(landing_url=landing_url)
    landing = Landing(landing_url)
    days = list(days_between(start, end))
    reports: list[IngestReport] = []
    if newest_first:
        batches = list(_trading_batches(engine, landing, list(reversed(days)), settings, reports))
        batches = [sorted(batch) for batch in batches]
    else:
        batches = _trading_batches(engine, landing, days, settings, reports)
    for batch in batches:
        reports += ingest_files(engine, landing_url, FileKind.ORDERS, batch, settings)
        reports += ingest_files(engine, landing_url, FileKind.CUSTOMERS, batch, settings)
    return sorted(reports, key=lambda report: (report.file_date, report.file_kind != FileKind.ORDERS.value))
