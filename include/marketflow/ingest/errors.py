"""Why a day could not be ingested. Every message names the file, so the Airflow log says what to fix."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from marketflow.ingest.report import IngestReport


class IngestError(Exception):
    """A day's export cannot be published; retrying without fixing the file will not help."""


class ExportMissing(IngestError, FileNotFoundError):
    """The export file is not in the landing location (yet)."""


class ExportFileError(IngestError):
    """The file as a whole is unreadable: encoding, empty, header (missing, renamed or extra columns)."""

    def __init__(self, url: str, problem: str) -> None:
        super().__init__(f"{url}: {problem}")
        self.url = url
        self.problem = problem


class ValidationFailed(IngestError):
    """Too many rows broke hard rules, or a day-level expectation failed; nothing was published."""

    def __init__(self, message: str, report: IngestReport) -> None:
        super().__init__(message)
        self.report = report
