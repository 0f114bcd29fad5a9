"""Each ingested day's validation outcome and what went to quarantine, from the warehouse.

A day is one row however many files it has (orders and the CRM's customers file), judged by its
worst file: refused (a file failed and nothing of it loaded), quarantined (at least
`QUARANTINE_ALERT_SHARE` of its rows went to quarantine, or a day-level rule broke), clean, or no
trading (the shop sold nothing).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, select

from marketflow.warehouse.schema import ingest_days, quarantine


@dataclass(frozen=True)
class FailedExpectation:
    name: str
    unexpected_count: int | None


@dataclass(frozen=True)
class IngestDay:
    """One file of one day: its load status, row counts and the expectations it failed."""

    file_date: dt.date
    file_kind: str
    status: str
    rows_read: int
    rows_loaded: int
    rows_quarantined: int
    validation_success: bool | None
    failed: list[FailedExpectation]
    quarantine_rows: int
    detail: str | None = None

    @property
    def quarantined_share(self) -> float | None:
        return self.rows_quarantined / self.rows_read if self.rows_read else None


#: A day whose files sent this share of their rows (or more) to quarantine is flagged.
QUARANTINE_ALERT_SHARE = 0.01

#: Outcomes of a day, worst first, with what the page says of each.
DAY_OUTCOMES = {
    "refused": "a file was refused: nothing of it was loaded",
    "quarantined": f"loaded; {QUARANTINE_ALERT_SHARE:.0%} or more of the rows quarantined, or a day-level rule broke",
    "clean": f"loaded; under {QUARANTINE_ALERT_SHARE:.0%} of the rows quarantined",
    "no_trading": "the shop sold nothing that day (no orders file, or an empty one)",
}


@dataclass(frozen=True)
class QualityDay:
    """One calendar day and every file ingested for it."""

    day: dt.date
    files: list[IngestDay]

    @property
    def outcome(self) -> str:
        if any(f.status == "failed" for f in self.files):
            return "refused"
        for f in self.files:
            share = f.quarantined_share or 0.0
            if share >= QUARANTINE_ALERT_SHARE or (f.validation_success is False and f.rows_quarantined == 0):
                return "quarantined"
        if all(f.status == "no_trading" for f in self.files):
            return "no_trading"
        return "clean"

    @property
    def has_problem(self) -> bool:
        return self.outcome in ("refused", "quarantined")

    def file(self, kind: str) -> IngestDay | None:
        return next((f for f in self.files if f.file_kind == kind), None)

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)

    @property
    def rows_loaded(self) -> int:
        return sum(f.rows_loaded for f in self.files)

    @property
    def rows_quarantined(self) -> int:
        return sum(f.rows_quarantined for f in self.files)


@dataclass(frozen=True)
class QualityOverview:
    days: list[IngestDay]
    reasons: list[tuple[str, int]]

    @property
    def calendar_days(self) -> list[QualityDay]:
        """One entry per day, newest first."""
        by_day: dict[dt.date, list[IngestDay]] = {}
        for file in self.days:
            by_day.setdefault(file.file_date, []).append(file)
        return [QualityDay(day, files) for day, files in sorted(by_day.items(), reverse=True)]

    @property
    def outcome_counts(self) -> dict[str, int]:
        """Days per outcome, every outcome listed (worst first)."""
        counts = Counter(day.outcome for day in self.calendar_days)
        return {outcome: counts.get(outcome, 0) for outcome in DAY_OUTCOMES}

    @property
    def rows_read(self) -> int:
        return sum(day.rows_read for day in self.days)

    @property
    def rows_quarantined(self) -> int:
        return sum(day.rows_quarantined for day in self.days)


def failed_expectations(result: Any) -> list[FailedExpectation]:
    """The failed expectations of a stored validation result, in the shape the ingest stage writes
    (`DayValidation.to_json`: `{"expectations": {rule: {"success", "unexpected_count"}}, "parameters"}`)."""
    expectations = result.get("expectations", {}) if isinstance(result, Mapping) else {}
    return [
        FailedExpectation(rule, outcome.get("unexpected_count"))
        for rule, outcome in expectations.items()
        if not outcome.get("success")
    ]


def quality_overview(conn: Connection, reasons_limit: int = 12) -> QualityOverview:
    """Every ingested day, newest first, with quarantine counts from the quarantine table itself."""
    quarantined = {
        (row.file_date, row.file_kind): int(row.n)
        for row in conn.execute(
            select(quarantine.c.file_date, quarantine.c.file_kind, func.count().label("n")).group_by(
                quarantine.c.file_date, quarantine.c.file_kind
            )
        )
    }
    days = [
        IngestDay(
            file_date=row.file_date,
            file_kind=row.file_kind,
            status=row.status,
            rows_read=row.rows_read or 0,
            rows_loaded=row.rows_loaded or 0,
            rows_quarantined=row.rows_quarantined or 0,
            validation_success=row.validation_success,
            failed=failed_expectations(row.validation_result),
            quarantine_rows=quarantined.get((row.file_date, row.file_kind), 0),
            detail=row.detail,
        )
        for row in conn.execute(
            select(ingest_days).order_by(ingest_days.c.file_date.desc(), ingest_days.c.file_kind)
        )
    ]
    reasons = [
        (reason, int(n))
        for reason, n in conn.execute(
            select(quarantine.c.reason, func.count().label("n"))
            .group_by(quarantine.c.reason)
            .order_by(func.count().desc(), quarantine.c.reason)
            .limit(reasons_limit)
        )
    ]
    return QualityOverview(days=days, reasons=reasons)
