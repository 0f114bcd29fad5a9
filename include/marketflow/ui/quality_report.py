"""Each ingested day's validation outcome and what went to quarantine, from the warehouse."""

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


@dataclass(frozen=True)
class QualityOverview:
    days: list[IngestDay]
    reasons: list[tuple[str, int]]

    @property
    def status_counts(self) -> dict[str, int]:
        return dict(Counter(day.status for day in self.days).most_common())

    @property
    def rows_read(self) -> int:
        return sum(day.rows_read for day in self.days)

    @property
    def rows_quarantined(self) -> int:
        return sum(day.rows_quarantined for day in self.days)

    @property
    def failed_validations(self) -> int:
        return sum(1 for day in self.days if day.validation_success is False)


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
