"""What happened to one day's file: the `ingest_days` row, the XCom summary and the bench's timings."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

LOADED = "loaded"
NO_TRADING = "no_trading"
FAILED = "failed"


@dataclass(frozen=True)
class IngestReport:
    file_date: dt.date
    file_kind: str
    status: str
    source_file: str | None
    rows_read: int = 0
    rows_loaded: int = 0
    rows_quarantined: int = 0
    validation_success: bool | None = None
    validation_result: dict[str, Any] | None = None
    detail: str | None = None
    #: wall-clock seconds per step (read/parse, validate, write); never stored in the warehouse.
    seconds: dict[str, float] = field(default_factory=dict, compare=False)

    def failed_expectations(self) -> list[str]:
        expectations = (self.validation_result or {}).get("expectations", {})
        return [rule for rule, outcome in expectations.items() if not outcome["success"]]

    def ingest_days_row(self) -> dict[str, Any]:
        return {
            "file_date": self.file_date,
            "file_kind": self.file_kind,
            "status": self.status,
            "source_file": self.source_file,
            "rows_read": self.rows_read,
            "rows_loaded": self.rows_loaded,
            "rows_quarantined": self.rows_quarantined,
            "validation_success": self.validation_success,
            "validation_result": self.validation_result,
            "detail": self.detail,
        }

    def summary(self) -> dict[str, Any]:
        """Small, JSON-safe: what a task returns as XCom."""
        return {
            "file_date": self.file_date.isoformat(),
            "file_kind": self.file_kind,
            "status": self.status,
            "rows_read": self.rows_read,
            "rows_loaded": self.rows_loaded,
            "rows_quarantined": self.rows_quarantined,
            "failed_expectations": self.failed_expectations(),
        }
