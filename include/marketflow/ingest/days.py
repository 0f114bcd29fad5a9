"""Ingest one day of one export: read, parse, validate with GX, then publish or refuse.

Flow per file: read through fsspec -> split into lines and fields (structural rejects) -> parsed day
-> GX suite -> rows that break a hard rule go to `quarantine` with their reasons, the rest replace
the day in the warehouse, all in one transaction. When the share of quarantined rows passes
`max_bad_row_share`, or a day-level expectation fails, nothing is published: the attempt is logged in
`ingest_days` (status `failed`, with its validation result and quarantined lines) and
`ValidationFailed` names the file and the failing expectations.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import statistics
import time
from typing import Any

from sqlalchemy import Engine, select

from marketflow.ingest import store
from marketflow.ingest.calendar import closure_reason
from marketflow.ingest.csv_export import ExportText, read_export
from marketflow.ingest.errors import ExportFileError, ExportMissing, ValidationFailed
from marketflow.ingest.landing import FileKind, Landing
from marketflow.ingest.parsing import CUSTOMERS_COLUMNS, ORDERS_COLUMNS, parse_customers, parse_orders
from marketflow.ingest.report import FAILED, LOADED, NO_TRADING, IngestReport
from marketflow.ingest.settings import IngestSettings
from marketflow.quality.validate import DayValidation
from marketflow.warehouse import schema

#: Quarantine reasons of lines that could not even be split into fields.
STRUCTURAL_PREFIX = "unparseable: "
_EXAMPLES_IN_MESSAGE = 3


def _read(landing: Landing, kind: FileKind, day: dt.date) -> bytes:
    try:
        return landing.read_bytes(kind, day)
    except FileNotFoundError:
        raise ExportMissing(f"{landing.url_of(kind, day)}: export file not found") from None


def _row_count_bounds(engine: Engine, day: dt.date, settings: IngestSettings) -> dict[str, Any]:
    """Plausible row counts for `day`: ratios of the median of the loaded days just before it.

    Only earlier days count, so re-running a day (or a whole backfill) sees the same bounds.
    """
    days = schema.ingest_days
    with engine.connect() as conn:
        recent = conn.execute(
            select(days.c.rows_read)
            .where(days.c.file_kind == FileKind.ORDERS.value, days.c.status == LOADED, days.c.file_date < day)
            .order_by(days.c.file_date.desc())
            .limit(settings.row_count_window_days)
        ).scalars().all()
    if not recent:
        return {"row_count_min": 1, "row_count_max": None, "recent_median": None}
    median = statistics.median(recent)
    return {
        "row_count_min": max(1, math.floor(median * settings.row_count_min_ratio)),
        "row_count_max": math.ceil(median * settings.row_count_max_ratio),
        "recent_median": median,
    }


def _validate(
    engine: Engine, kind: FileKind, day: dt.date, frame: Any, settings: IngestSettings
) -> DayValidation:
    from marketflow.quality import validate_frame
    from marketflow.quality.suites import CUSTOMERS_SUITE, FILE_DATE, ORDERS_SUITE

    if kind is FileKind.CUSTOMERS:
        return validate_frame(CUSTOMERS_SUITE, frame)
    parameters = {**_row_count_bounds(engine, day, settings), FILE_DATE: [day.isoformat()]}
    return validate_frame(ORDERS_SUITE, frame, parameters)


def _quarantine(day: dt.date, kind: FileKind, export: ExportText, validation: DayValidation) -> list[dict]:
    """Every rejected line, structural or by a GX rule, with its reasons and raw text."""
    file_name = kind.file_name(day)
    rows = [
        store.quarantine_row(
            day, kind.value, file_name, line.line_no, [STRUCTURAL_PREFIX + line.reason], line.raw
        )
        for line in export.rejected
    ]
    row_reasons = validation.row_reasons()
    if row_reasons:
        raw_by_line = dict(zip(export.line_numbers, export.raw_lines))
        rows += [
            store.quarantine_row(day, kind.value, file_name, line_no, reasons, raw_by_line[line_no])
            for line_no, reasons in row_reasons.items()
        ]
    return sorted(rows, key=lambda row: row["source_line"])


def _refusal(
    report: IngestReport, validation: DayValidation, quarantined: list[dict], threshold: float
) -> str | None:
    """Why the day must not be published, naming the file and the failing expectations; None if fine."""
    problems = []
    share = report.rows_quarantined / report.rows_read if report.rows_read else 0.0
    if share > threshold:
        problems.append(
            f"{report.rows_quarantined} of {report.rows_read} rows ({share:.1%}) broke hard rules, "
            f"more than the {threshold:.0%} allowed"
        )
    for outcome in validation.day_level_failures():
        low, high = validation.parameters.get("row_count_min"), validation.parameters.get("row_count_max")
        allowed = f"{low}..{high}" if high is not None else f"at least {low}"
        problems.append(
            f"{outcome.rule}: {outcome.reason} (observed {outcome.observed_value}, allowed {allowed})"
        )
    if not problems:
        return None
    failing = [
        f"{outcome.rule} ({outcome.unexpected_count} rows)" if outcome.quarantines_rows else outcome.rule
        for outcome in validation.failed()
    ]
    unparseable = sum(row["reason"].startswith(STRUCTURAL_PREFIX) for row in quarantined)
    if unparseable:
        failing.append(f"unparseable lines ({unparseable} rows)")
    message = (
        f"{report.source_file}: not published: {'; '.join(problems)}. "
        f"Failing expectations: {', '.join(failing)}."
    )
    examples = "; ".join(
        f"line {row['source_line']}: {row['reason']}" for row in quarantined[:_EXAMPLES_IN_MESSAGE]
    )
    return message + (f" First rejected lines: {examples}." if examples else "")


def _ingest_file(
    engine: Engine, landing_url: str, day: dt.date, settings: IngestSettings, kind: FileKind
) -> IngestReport:
    landing = Landing(landing_url)
    url = landing.url_of(kind, day)
    seconds: dict[str, float] = {}

    started = time.perf_counter()
    content = _read(landing, kind, day)
    try:
        export = read_export(content, url, ORDERS_COLUMNS if kind is FileKind.ORDERS else CUSTOMERS_COLUMNS)
    except ExportFileError as error:
        store.record_attempt(engine, IngestReport(day, kind.value, FAILED, url, detail=str(error)), [])
        raise
    frame = parse_orders(export) if kind is FileKind.ORDERS else parse_customers(export)
    seconds["parse"] = time.perf_counter() - started

    started = time.perf_counter()
    validation = _validate(engine, kind, day, frame, settings)
    seconds["validate"] = time.perf_counter() - started

    started = time.perf_counter()
    quarantined = _quarantine(day, kind, export, validation)
    report = IngestReport(
        file_date=day,
        file_kind=kind.value,
        status=LOADED,
        source_file=url,
        rows_read=export.rows_read,
        rows_loaded=export.rows_read - len(quarantined),
        rows_quarantined=len(quarantined),
        validation_success=validation.success and not export.rejected,
        validation_result=validation.to_json(),
        seconds=seconds,
    )
    refusal = _refusal(report, validation, quarantined, settings.max_bad_row_share)
    if refusal is not None:
        failed = dataclasses.replace(report, status=FAILED, rows_loaded=0, detail=refusal)
        store.record_attempt(engine, failed, quarantined)
        raise ValidationFailed(refusal, failed)

    rows = frame[~frame["source_line"].isin(validation.row_reasons().keys())]
    if kind is FileKind.ORDERS:
        rows = rows.assign(order_date=day.isoformat(), source_file=kind.file_name(day))
        store.replace_orders_day(engine, report, rows, quarantined)
    else:
        rows = rows.assign(effective_date=day.isoformat(), source_file=kind.file_name(day))
        store.replace_customers_day(engine, report, rows, quarantined)
    seconds["write"] = time.perf_counter() - started
    return report


def ingest_orders_day(
    engine: Engine, landing_url: str, day: dt.date, settings: IngestSettings | None = None
) -> IngestReport:
    """Load `<landing>/<day>.csv` into `orders` (replacing that day), maintaining products and customers.

    Raises `ExportMissing`, `ExportFileError` (unreadable file) or `ValidationFailed` (too many bad
    rows / implausible day); the last two are logged in `ingest_days` as `failed` first.
    """
    return _ingest_file(engine, landing_url, day, settings or IngestSettings.from_env(), FileKind.ORDERS)


def ingest_customers_day(
    engine: Engine, landing_url: str, day: dt.date, settings: IngestSettings | None = None
) -> IngestReport:
    """Load `<landing>/customers-<day>.csv` into `consent_events` (replacing that day) and refresh
    `customer_contacts`. Same errors as `ingest_orders_day`."""
    return _ingest_file(engine, landing_url, day, settings or IngestSettings.from_env(), FileKind.CUSTOMERS)


def record_no_trading_day(
    engine: Engine, day: dt.date, settings: IngestSettings | None = None
) -> list[IngestReport]:
    """Mark `day` as `no_trading` for both exports, with the calendar's reason (replacing any data the
    day had). Refuses a trading day: a missing export on a trading day is late, not absent."""
    import pandas as pd

    settings = settings or IngestSettings.from_env()
    reason = closure_reason(day, settings.calendar)
    if reason is None:
        raise ValueError(f"{day} is a trading day: its export is late, not absent")
    orders, crm = (
        IngestReport(day, kind.value, NO_TRADING, None, detail=f"shop closed: {reason}") for kind in FileKind
    )
    store.replace_orders_day(engine, orders, pd.DataFrame(columns=list(store.ORDER_COLUMNS)), [])
    store.replace_customers_day(engine, crm, pd.DataFrame(columns=list(store.CONSENT_COLUMNS)), [])
    return [orders, crm]
