"""Data quality with Great Expectations 1.x: the expectation suites of the daily exports and the
code that runs them (one ephemeral GX context per process, created on first use)."""

from marketflow.quality.validate import (
    DayValidation,
    ExpectationOutcome,
    FilesValidation,
    validate_day_counts,
    validate_files,
)

__all__ = ["DayValidation", "ExpectationOutcome", "FilesValidation", "validate_day_counts", "validate_files"]
