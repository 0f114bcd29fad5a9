"""Run a suite on a parsed day and turn GX's result into rule outcomes and per-line verdicts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

#: Counts only: cheap, and enough for the expectations that pass (most of them, most days).
_SUMMARY_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 0}
#: Every failing row's `source_line`, so quarantine decisions come from GX itself.
_ROWS_FORMAT = {
    "result_format": "COMPLETE",
    "unexpected_index_column_names": ["source_line"],
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


def _outcome(result: Any) -> ExpectationOutcome:
    config = result.expectation_config
    if result.exception_info and result.exception_info.get("raised_exception"):
        raise RuntimeError(f"expectation {config.meta['rule']} crashed: {result.exception_info}")
    details = result.result or {}
    failing = tuple(sorted(int(item["source_line"]) for item in details.get("unexpected_index_list") or ()))
    count = details.get("unexpected_count")
    return ExpectationOutcome(
        rule=config.meta["rule"],
        reason=config.description,
        quarantines_rows=bool(config.meta["quarantines_rows"]),
        success=bool(result.success),
        unexpected_count=None if count is None else int(count),
        observed_value=details.get("observed_value"),
        failing_lines=failing,
    )


def validate_frame(suite_name: str, frame: Any, parameters: Mapping[str, Any] | None = None) -> DayValidation:
    """Validate the parsed day `frame` (a DataFrame with a `source_line` column) with a suite.

    The whole suite runs once for counts; only row-level expectations that failed run again for
    the failing rows' line numbers (the complete result format costs a third more per expectation).
    """
    from marketflow.quality.gx_context import batch_definition
    from marketflow.quality.suites import expectation_suite

    suite = expectation_suite(suite_name)
    parameters = dict(parameters or {})
    batch = batch_definition(suite_name).get_batch(batch_parameters={"dataframe": frame})
    summary = batch.validate(suite, result_format=_SUMMARY_FORMAT, expectation_parameters=parameters)
    by_rule = {expectation.meta["rule"]: expectation for expectation in suite.expectations}
    outcomes = []
    for result in summary.results:
        expectation = by_rule[result.expectation_config.meta["rule"]]
        if not result.success and expectation.meta["quarantines_rows"]:
            result = batch.validate(
                expectation, result_format=_ROWS_FORMAT, expectation_parameters=parameters
            )
        outcomes.append(_outcome(result))
    return DayValidation(tuple(outcomes), parameters)
