"""Ingest the exports of one or more days: read, parse, validate with GX, then publish or refuse.

Flow for a run of days of one export kind, in date order: read each file through fsspec -> split
into lines and fields (structural rejects) -> parsed rows tagged with their file's date -> one GX
run over all the days (plus, for orders, the day-level row-count suite) -> per day, the rows that
break a hard rule go to `quarantine` with their reasons. A day is refused when the share of its
quarantined rows passes `max_bad_row_share` or a day-level expectation fails. The days before the
first refused (or unreadable, or missing) file are published together in one transaction, each
replacing its partition exactly; then the refused attempt is logged in `ingest_days` (status
`failed`, with its validation result and quarantined lines) and the error names the file and what
is wrong with it.

The DAG loads one day per run; a backfill (`ingest_history`) passes `batch_days` days at a time and
so pays GX's and the derived tables' fixed costs once per batch instead of once per file. Either way
a day's outcome is the same (row-count bounds come from the loaded days before it).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import statistics
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError

from marketflow.ingest import store
from marketflow.ingest.calendar import closure_reason
from marketflow.ingest.csv_export import ExportText, escape_nul
from marketflow.ingest.errors import ExportFileError, ExportMissing, IngestError, ValidationFailed
from marketflow.ingest.landing import FileKind, Landing
from marketflow.ingest.parsing import parse_customer_exports, parse_order_exports
from marketflow.ingest.report import FAILED, LOADED, NO_TRADING, IngestReport
from marketflow.ingest.settings import IngestSettings
from marketflow.ingest.sources import Source, source_for
from marketflow.privacy.forgotten import ForgottenPeople
from marketflow.quality.validate import DayValidation
from marketflow.warehouse import schema

#: Quarantine reasons of lines that could not even be split into fields.
STRUCTURAL_PREFIX = "unparseable: "
_EXAMPLES_IN_MESSAGE = 3


@dataclasses.dataclass(frozen=True)
class _ParsedFile:
    day: dt.date
    url: str
    export: ExportText
    frame: Any  # the parsed rows, with `file_date`
    parse_s: float


def _read(landing: Landing, kind: FileKind, day: dt.date) -> bytes:
    try:
        return landing.read_bytes(kind, day)
    except FileNotFoundError:
        raise ExportMissing(f"{landing.url_of(kind, day)}: export file not found") from None


def _parse_files(
    landing: Landing, kind: FileKind, days: Sequence[dt.date], source: Source, settings: IngestSettings
) -> tuple[list[_ParsedFile], tuple[dt.date, IngestError] | None]:
    """Adapt the days' files in order up to the first missing or unreadable one, then parse them
    together (pandas' fixed costs once per batch); returns the parsed files and, if one stopped the
    run, its day and error."""
    import numpy as np
    import pandas as pd

    read: list[tuple[dt.date, str, ExportText, float]] = []
    stop = None
    for day in days:
        started = time.perf_counter()
        url = landing.url_of(kind, day)
        try:
            content = _read(landing, kind, day)
            export = source.read_orders(content, url) if kind is FileKind.ORDERS else source.read_customers(content, url)
        except (ExportMissing, ExportFileError) as error:
            stop = (day, error)
            break
        read.append((day, url, export, time.perf_counter() - started))
    if not read:
        return [], stop
    started = time.perf_counter()
    exports = [export for _, _, export, _ in read]
    if kind is FileKind.ORDERS:
        rows = parse_order_exports(exports, settings.currency, settings.exchange_rates)
    else:
        rows = parse_customer_exports(exports)
    sizes = [len(export.line_numbers) for export in exports]
    dates = np.repeat(np.array([day.isoformat() for day, _, _, _ in read], dtype=object), sizes)
    rows.insert(1, "file_date", pd.array(dates, dtype="str"))
    parse_s = time.perf_counter() - started
    total = sum(sizes)
    parsed, start = [], 0
    for (day, url, export, read_s), size in zip(read, sizes):
        frame = rows.iloc[start : start + size].reset_index(drop=True)
        share = size / total if total else 1 / len(read)
        parsed.append(_ParsedFile(day, url, export, frame, read_s + parse_s * share))
        start += size
    return parsed, stop


def _bounds(recent: Sequence[int], settings: IngestSettings) -> dict[str, Any]:
    """Plausible row counts next to the rows of the recently loaded days (none: at least one row)."""
    if not recent:
        return {"row_count_min": 1, "row_count_max": None, "recent_median": None}
    median = statistics.median(recent)
    return {
        "row_count_min": max(1, math.floor(median * settings.row_count_min_ratio)),
        "row_count_max": math.ceil(median * settings.row_count_max_ratio),
        "recent_median": median,
    }


def _row_count_bounds(engine: Engine, files: Sequence[_ParsedFile], settings: IngestSettings) -> list[dict[str, Any]]:
    """Each file's bounds from the `row_count_window_days` loaded days just before it: stored days
    before the first file, then the files before it (they load first, or the run stops earlier).
    Only earlier days count, so re-running a day or a backfill sees the same bounds."""
    days = schema.ingest_days
    with engine.connect() as conn:
        stored = conn.execute(
            select(days.c.rows_read)
            .where(days.c.file_kind == FileKind.ORDERS.value, days.c.status == LOADED, days.c.file_date < files[0].day)
            .order_by(days.c.file_date.desc())
            .limit(settings.row_count_window_days)
        ).scalars().all()
    window = list(reversed(stored))
    bounds = []
    for file in files:
        bounds.append(_bounds(window[-settings.row_count_window_days:], settings))
        window.append(file.export.rows_read)
    return bounds


def _validate(
    engine: Engine, kind: FileKind, files: Sequence[_ParsedFile], source: Source, settings: IngestSettings
) -> list[DayValidation]:
    """Each file's validation, from one GX run over all their rows (and one over the orders' day counts)."""
    import pandas as pd

    from marketflow.quality import validate_day_counts, validate_files
    from marketflow.quality.suites import customers_suite, orders_suite

    rows = pd.concat([file.frame for file in files], ignore_index=True)
    if kind is FileKind.CUSTOMERS:
        verdicts = validate_files(customers_suite(source.customers_checks), rows)
        return [verdicts.for_day(file.day.isoformat()) for file in files]
    verdicts = validate_files(orders_suite(source.orders_checks), rows)
    bounds = _row_count_bounds(engine, files, settings)
    counts = pd.DataFrame(
        {
            "file_date": [file.day.isoformat() for file in files],
            "rows_read": [file.export.rows_read for file in files],
            "row_count_min": [bound["row_count_min"] for bound in bounds],
            "row_count_max": pd.array([bound["row_count_max"] for bound in bounds], dtype="Int64"),
        }
    )
    day_level = validate_day_counts(counts)
    return [
        verdicts.for_day(file.day.isoformat(), [day_level[file.day.isoformat()]], bound)
        for file, bound in zip(files, bounds)
    ]


def _record_reasons(validation: DayValidation) -> dict[int, list[str]]:
    """File line -> reasons: a row an adapter added for a record (its line negated: a cancellation)
    is judged with the record, so a record loads whole or is quarantined whole."""
    reasons: dict[int, list[str]] = {}
    for line, line_reasons in validation.row_reasons().items():
        merged = reasons.setdefault(abs(line), [])
        merged += [reason for reason in line_reasons if reason not in merged]
    return reasons


def _quarantine(kind: FileKind, file: _ParsedFile, validation: DayValidation) -> list[dict]:
    """Every rejected line of a file, structural or by a GX rule, with its reasons and raw text."""
    day, file_name, export = file.day, kind.file_name(file.day), file.export
    rows = [
        store.quarantine_row(
            day, kind.value, file_name, line.line_no, [STRUCTURAL_PREFIX + line.reason], line.raw
        )
        for line in export.rejected
    ]
    row_reasons = _record_reasons(validation)
    if row_reasons:
        raw_by_line = {abs(line): raw for line, raw in zip(export.line_numbers, export.raw_lines)}
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


def _refused_by_warehouse(
    engine: Engine, loads: Sequence[tuple[IngestReport, Any, list[dict]]], error: SQLAlchemyError
) -> IngestError:
    """Log every day of a batch the warehouse refused to store as `failed` (none of it was published)
    and return the error naming the files and the database's reason."""
    reason = " | ".join(line.strip() for line in str(getattr(error, "orig", error)).splitlines() if line.strip())
    files = ", ".join(report.source_file or "?" for report, _, _ in loads)
    for report, _, quarantined in loads:
        detail = escape_nul(f"{report.source_file}: the warehouse refused the rows, nothing was published: {reason}")
        failed = dataclasses.replace(report, status=FAILED, rows_loaded=0, detail=detail)
        try:
            store.record_attempt(engine, failed, quarantined)
        except SQLAlchemyError:  # the quarantined lines may be what it refuses: keep the verdict
            store.record_attempt(engine, failed, [])
    return IngestError(escape_nul(f"{files}: the warehouse refused the rows, nothing was published: {reason}"))


def _shares(files: Sequence[_ParsedFile]) -> list[float]:
    """Each file's share of a batch's rows, to split batch-wide step times over its days."""
    total = sum(file.export.rows_read for file in files)
    return [file.export.rows_read / total if total else 1 / len(files) for file in files]


def ingest_files(
    engine: Engine, landing_url: str, kind: FileKind, days: Sequence[dt.date], settings: IngestSettings
) -> list[IngestReport]:
    """Load the `kind` export of each of `days` (in date order), replacing those days in one
    transaction; returns one report per day.

    People erased on request stay forgotten (`marketflow.privacy.forgotten`). Stops at the first day
    that cannot be published, after publishing the days before it: raises
    `ExportMissing`, `ExportFileError` (unreadable file) or `ValidationFailed` (too many bad rows /
    implausible day); the last two are logged in `ingest_days` as `failed` first. Rows the warehouse
    itself refuses fail every day of the batch the same way (`IngestError` with the database's reason).
    """
    days = sorted(days)
    source = source_for(settings)
    files, stop = _parse_files(Landing(landing_url), kind, days, source, settings)
    loads: list[tuple[IngestReport, Any, list[dict]]] = []
    refused: tuple[IngestReport, list[dict]] | None = None
    if files:
        forgotten = ForgottenPeople.load(engine)
        started = time.perf_counter()
        validations = _validate(engine, kind, files, source, settings)
        validate_s = time.perf_counter() - started
        started = time.perf_counter()
        for file, validation, share in zip(files, validations, _shares(files)):
            bad_rows = _quarantine(kind, file, validation)
            # lines naming people erased on request are not kept, not even in quarantine
            quarantined = bad_rows if forgotten is None else forgotten.unnamed(bad_rows)
            report = IngestReport(
                file_date=file.day,
                file_kind=kind.value,
                status=LOADED,
                source_file=file.url,
                rows_read=file.export.rows_read,
                rows_loaded=file.export.rows_read - len(bad_rows),
                rows_quarantined=len(quarantined),
                validation_success=validation.success and not file.export.rejected,
                validation_result=validation.to_json(),
                seconds={"parse": file.parse_s, "validate": validate_s * share},
            )
            refusal = _refusal(report, validation, quarantined, settings.max_bad_row_share)
            if refusal is not None:
                failed = dataclasses.replace(report, status=FAILED, rows_loaded=0, detail=refusal)
                refused, stop = (failed, quarantined), (file.day, ValidationFailed(refusal, failed))
                break
            bad_lines = _record_reasons(validation).keys()
            rows = file.frame[~file.frame["source_line"].abs().isin(bad_lines)]
            if forgotten is not None:  # the erased: order lines unlinked, CRM rows dropped (not loaded)
                kept = forgotten.forget(kind.value, rows)
                report = dataclasses.replace(report, rows_loaded=report.rows_loaded - (len(rows) - len(kept)))
                rows = kept
            loads.append((report, rows.assign(source_file=kind.file_name(file.day)), quarantined))
        if loads:
            try:
                store.replace_days(engine, kind, loads)
            except SQLAlchemyError as error:
                _record_stop(engine, kind, stop, refused)
                raise _refused_by_warehouse(engine, loads, error) from error
        write_s = time.perf_counter() - started
        for (report, _, _), share in zip(loads, _shares(files[: len(loads)])):
            report.seconds["write"] = write_s * share
    if stop is not None:
        _record_stop(engine, kind, stop, refused)
        raise stop[1]
    return [report for report, _, _ in loads]


def _record_stop(
    engine: Engine,
    kind: FileKind,
    stop: tuple[dt.date, IngestError] | None,
    refused: tuple[IngestReport, list[dict]] | None,
) -> None:
    """Log the attempt at the day that stopped a run (unreadable or refused file) as `failed`."""
    if stop is None:
        return
    day, error = stop
    if isinstance(error, ExportFileError):
        store.record_attempt(engine, IngestReport(day, kind.value, FAILED, error.url, detail=str(error)), [])
    elif refused is not None:
        store.record_attempt(engine, *refused)


def ingest_orders_day(
    engine: Engine, landing_url: str, day: dt.date, settings: IngestSettings | None = None
) -> IngestReport:
    """Load `<landing>/<day>.csv` into `orders` (replacing that day), maintaining products and customers.

    Raises `ExportMissing`, `ExportFileError` (unreadable file) or `ValidationFailed` (too many bad
    rows / implausible day); the last two are logged in `ingest_days` as `failed` first.
    """
    settings = settings or IngestSettings.from_env()
    return ingest_files(engine, landing_url, FileKind.ORDERS, [day], settings)[0]


def ingest_customers_day(
    engine: Engine, landing_url: str, day: dt.date, settings: IngestSettings | None = None
) -> IngestReport:
    """Load `<landing>/customers-<day>.csv` into `consent_events` (replacing that day) and refresh
    `customer_contacts`. Same errors as `ingest_orders_day`."""
    settings = settings or IngestSettings.from_env()
    return ingest_files(engine, landing_url, FileKind.CUSTOMERS, [day], settings)[0]


def record_no_trading_day(
    engine: Engine, day: dt.date, settings: IngestSettings | None = None
) -> list[IngestReport]:
    """Mark `day` as `no_trading` for both exports, with the calendar's reason (replacing any data the
    day had). Refuses a trading day: a missing export on a trading day is late, not absent."""
    return record_no_trading_days(engine, [day], settings)


def record_no_trading_days(
    engine: Engine, days: Sequence[dt.date], settings: IngestSettings | None = None
) -> list[IngestReport]:
    """`record_no_trading_day` for several closed days, one transaction per export (a backfill's
    closed days: two transactions a batch, not two a day)."""
    import pandas as pd

    if not days:
        return []
    settings = settings or IngestSettings.from_env()
    reasons = {day: closure_reason(day, settings.calendar) for day in days}
    trading = [day for day, reason in reasons.items() if reason is None]
    if trading:
        raise ValueError(f"{trading[0]} is a trading day: its export is late, not absent")
    reports = {
        kind: [IngestReport(day, kind.value, NO_TRADING, None, detail=f"shop closed: {reasons[day]}") for day in days]
        for kind in FileKind
    }
    empty = {FileKind.ORDERS: store.ORDER_COLUMNS, FileKind.CUSTOMERS: store.CONSENT_COLUMNS}
    for kind, columns in empty.items():
        store.replace_days(engine, kind, [(report, pd.DataFrame(columns=list(columns)), []) for report in reports[kind]])
    return [report for pair in zip(reports[FileKind.ORDERS], reports[FileKind.CUSTOMERS]) for report in pair]
