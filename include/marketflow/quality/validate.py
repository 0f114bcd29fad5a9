"""Run the suites on parsed files and turn GX's results into per-day rule outcomes and line verdicts.

The row suites run once over many days' files (each row has its `file_date`), so a backfill pays GX's
fixed cost per batch of days rather than per file; the verdicts are then split back into days.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: Counts only: cheap, and enough for the expectations that pass (most of them, most days).
_SUMMARY_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 0}
#: Every failing row's day and line, so quarantine decisions come from GX itself.
_KEY_COLUMNS = ["file_date", "source_line"]


def _rows_format(key_columns: list[str]) -> dict[str, Any]:
    return {
        "result_format": "COMPLETE",
        "unexpected_index_column_names": key_columns,
        "return_unexpected_index_query": False,
        "partial_unexpected_count": 0,
    }


@dataclass(frozen=True)
class ExpectationOutcome:
    rule: str
    reason: str
    quarantines_rows: bool
    success: bool
    unexpected_count: int | None
    observed_value: Any
    failing_lines: tuple[int, ...]

    def to_json(self) -> dict[str, Any]:
        record: dict[str, Any] = {"success": self.success}
        if self.unexpected_count is not None:
            record["unexpected_count"] = self.unexpected_count
        if self.observed_value is not None:
            record["observed_value"] = self.observed_value
        return record


@dataclass(frozen=True)
class DayValidation:
    outcomes: tuple[ExpectationOutcome, ...]
    parameters: Mapping[str, Any]

    @property
    def success(self) -> bool:
        return all(outcome.success for outcome in self.outcomes)

    def failed(self) -> list[ExpectationOutcome]:
        return [outcome for outcome in self.outcomes if not outcome.success]

    def day_level_failures(self) -> list[ExpectationOutcome]:
        return [outcome for outcome in self.failed() if not outcome.quarantines_rows]

    def row_reasons(self) -> dict[int, list[str]]:
        """source line -> reasons, for every line a row-level rule rejected."""
        reasons: dict[int, list[str]] = {}
        for outcome in self.outcomes:
            if outcome.quarantines_rows:
                for line in outcome.failing_lines:
                    reasons.setdefault(line, []).append(f"{outcome.rule}: {outcome.reason}")
        return reasons

    def to_json(self) -> dict[str, Any]:
        """expectation -> success, unexpected count (and the day's suite parameters)."""
        return {
            "expectations": {outcome.rule: outcome.to_json() for outcome in self.outcomes},
            "parameters": dict(self.parameters),
        }


def _checked(result: Any) -> Any:
    if result.exception_info and result.exception_info.get("raised_exception"):
        rule = result.expectation_config.meta["rule"]
        raise RuntimeError(f"expectation {rule} crashed: {result.exception_info}")
    return result


def _failing_keys(result: Any, key_columns: list[str]) -> list[tuple]:
    items = (result.result or {}).get("unexpected_index_list") or ()
    return [tuple(item[column] for column in key_columns) for item in items]


@dataclass(frozen=True)
class _RuleVerdict:
    rule: str
    reason: str
    quarantines_rows: bool
    failing: Mapping[str, tuple[int, ...]]  # file_date -> failing source lines, sorted


@dataclass(frozen=True)
class FilesValidation:
    """A row suite's verdicts over one or more days' files, split back into days by `for_day`."""

    verdicts: tuple[_RuleVerdict, ...]

    def for_day(
        self,
        file_date: str,
        day_level: Sequence[ExpectationOutcome] = (),
        parameters: Mapping[str, Any] | None = None,
    ) -> DayValidation:
        outcomes = []
        for verdict in self.verdicts:
            lines = verdict.failing.get(file_date, ())
            outcomes.append(
                ExpectationOutcome(
                    rule=verdict.rule,
                    reason=verdict.reason,
                    quarantines_rows=verdict.quarantines_rows,
                    success=not lines,
                    unexpected_count=len(lines),
                    observed_value=None,
                    failing_lines=lines,
                )
            )
        return DayValidation(tuple(outcomes) + tuple(day_level), dict(parameters or {}))


def validate_files(suite: Any, frame: Any) -> FilesValidation:
    """Validate parsed rows (a DataFrame with `file_date` and `source_line` columns) with a row suite
    (`orders_suite(checks)` or `customers_suite(checks)`).

    The whole suite runs once for counts; only the expectations that failed run again for the
    failing rows' keys (the complete result format costs a third more per expectation).
    """
    from marketflow.quality.gx_context import batch_definition

    batch = batch_definition(suite.name).get_batch(batch_parameters={"dataframe": frame})
    summary = batch.validate(suite, result_format=_SUMMARY_FORMAT)
    by_rule = {expectation.meta["rule"]: expectation for expectation in suite.expectations}
    verdicts = []
    for result in summary.results:
        expectation = by_rule[_checked(result).expectation_config.meta["rule"]]
        failing: dict[str, list[int]] = {}
        if not result.success:
            complete = _checked(batch.validate(expectation, result_format=_rows_format(_KEY_COLUMNS)))
            for file_date, line in _failing_keys(complete, _KEY_COLUMNS):
                failing.setdefault(str(file_date), []).append(int(line))
        verdicts.append(
            _RuleVerdict(
                rule=expectation.meta["rule"],
                reason=expectation.description,
                quarantines_rows=bool(expectation.meta["quarantines_rows"]),
                failing={day: tuple(sorted(lines)) for day, lines in failing.items()},
            )
        )
    return FilesValidation(tuple(verdicts))


def validate_day_counts(frame: Any) -> dict[str, ExpectationOutcome]:
    """file_date -> the row-count rule's outcome, from one row per day: `file_date`, `rows_read`,
    `row_count_min` and `row_count_max` (null: no upper bound)."""
    from marketflow.quality.gx_context import batch_definition
    from marketflow.quality.suites import day_counts_suite

    suite = day_counts_suite()
    batch = batch_definition(suite.name).get_batch(batch_parameters={"dataframe": frame})
    summary = batch.validate(suite, result_format=_SUMMARY_FORMAT)
    failing: set[str] = set()
    for result in summary.results:
        if not _checked(result).success:
            expectation = result.expectation_config.to_domain_obj()
            complete = _checked(batch.validate(expectation, result_format=_rows_format(["file_date"])))
            failing.update(str(key[0]) for key in _failing_keys(complete, ["file_date"]))
    rule = suite.expectations[0]
    return {
        str(day): ExpectationOutcome(
            rule=rule.meta["rule"],
            reason=rule.description,
            quarantines_rows=False,
            success=str(day) not in failing,
            unexpected_count=None,
            observed_value=int(rows),
            failing_lines=(),
        )
        for day, rows in zip(frame["file_date"], frame["rows_read"])
    }
