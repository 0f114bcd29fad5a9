"""Run the suites on parsed files and turn GX's results into per-day rule outcomes and line verdicts.

The row suites run once over many days' files (each row has its `file_date`), so a backfill pays GX's
fixed cost per batch of days rather than per file; the verdicts are then split back into days.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

#: Success only (no counts, no unexpected values): enough to tell which expectations failed, which
#: then run again for their failing rows; GX computes fewer metrics than for BASIC's counts.
_SUMMARY_FORMAT = {"result_format": "BOOLEAN_ONLY"}
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


#: Expectations whose verdict on a row depends only on that row's values in their columns (map
#: expectations of one column or a pair): they judge each distinct value the same wherever it is.
_ROW_LOCAL = frozenset({
    "expect_column_values_to_match_regex",
    "expect_column_values_to_not_be_null",
    "expect_column_values_to_be_null",
    "expect_column_values_to_be_between",
    "expect_column_value_lengths_to_be_between",
    "expect_column_values_to_be_in_set",
    "expect_column_pair_values_to_be_equal",
})
_DOMAIN_KEYS = ("column", "column_A", "column_B")
#: The row of the distinct values' frame, GX's key for a failing value.
_VALUE_ROW = "value_row"


def _domain(expectation: Any) -> tuple[str, ...]:
    kwargs = expectation.configuration.kwargs
    return tuple(kwargs[key] for key in _DOMAIN_KEYS if key in kwargs)


def _checked_columns(suite: Any, frame: Any) -> Any:
    """Only the columns the suite's expectations read (and the row keys). Nullable integers go as
    floats (same values, NaN for null), which GX's range rule compares vectorised."""
    named = {column for expectation in suite.expectations for column in _domain(expectation)}
    columns = frame[[column for column in frame.columns if column in named or column in _KEY_COLUMNS]]
    nullable_ints = {name: "float64" for name, dtype in columns.dtypes.items() if str(dtype) == "Int64"}
    return columns.astype(nullable_ints) if nullable_ints else columns


def _distinct_values(suite: Any, frame: Any) -> Any | None:
    """One frame holding each domain's distinct values (a column's, or a column pair's), each padded
    to the longest by repeating its values, with `value_row`; None when the suite has an expectation
    that is not row-local, or a column in two domains, or there are no rows."""
    import numpy as np
    import pandas as pd

    domains = {_domain(expectation) for expectation in suite.expectations}
    columns = [column for domain in domains for column in domain]
    if (
        frame.empty
        or len(columns) != len(set(columns))
        or any(expectation.expectation_type not in _ROW_LOCAL for expectation in suite.expectations)
    ):
        return None
    distinct = [frame[list(domain)].drop_duplicates(ignore_index=True) for domain in sorted(domains)]
    length = max(len(values) for values in distinct)
    padded = [values.take(np.arange(length) % len(values)).reset_index(drop=True) for values in distinct]
    return pd.concat(padded + [pd.Series(np.arange(length), name=_VALUE_ROW)], axis=1)


def _failing_rows(frame: Any, expectation: Any) -> list[tuple]:
    """(file_date, source_line) of the rows holding the values `expectation` fails (nulls match nulls).

    GX validates the domain's distinct values alone, not the padded frame: there a failing value
    repeated by the padding would be listed once per repeat (GX looks each one up row by row)."""
    import numpy as np

    from marketflow.quality.gx_context import batch_definition

    domain = list(_domain(expectation))
    values = frame[domain].drop_duplicates(ignore_index=True).assign(**{_VALUE_ROW: lambda f: np.arange(len(f))})
    batch = batch_definition(f"{expectation.meta['rule']}:values").get_batch(batch_parameters={"dataframe": values})
    complete = _checked(batch.validate(expectation, result_format=_rows_format([_VALUE_ROW])))
    value_rows = [int(key[0]) for key in _failing_keys(complete, [_VALUE_ROW])]
    failing = values.loc[values[_VALUE_ROW].isin(value_rows), domain]
    rows = frame[list(dict.fromkeys(domain + _KEY_COLUMNS))].merge(failing, on=domain, how="inner")
    return list(zip(rows["file_date"], rows["source_line"]))


def validate_files(suite: Any, frame: Any) -> FilesValidation:
    """Validate parsed rows (a DataFrame with `file_date` and `source_line` columns) with a row suite
    (`orders_suite(checks)` or `customers_suite(checks)`).

    Every expectation of the suites judges a row by its own values in one column or a column pair,
    so GX validates each domain's distinct values once (a day repeats its products, prices and
    customers on many lines) and the verdicts go back to every row holding a failing value. The
    whole suite runs once for counts; only the expectations that failed run again for the failing
    values' keys (the complete result format costs a third more per expectation).
    """
    from marketflow.quality.gx_context import batch_definition

    checked = _checked_columns(suite, frame)
    values = _distinct_values(suite, checked)
    batch_frame = checked if values is None else values
    batch = batch_definition(suite.name).get_batch(batch_parameters={"dataframe": batch_frame})
    summary = batch.validate(suite, result_format=_SUMMARY_FORMAT)
    by_rule = {expectation.meta["rule"]: expectation for expectation in suite.expectations}
    verdicts = []
    for result in summary.results:
        expectation = by_rule[_checked(result).expectation_config.meta["rule"]]
        failing: dict[str, list[int]] = {}
        if not result.success:
            if values is None:
                complete = _checked(batch.validate(expectation, result_format=_rows_format(_KEY_COLUMNS)))
                keys = _failing_keys(complete, _KEY_COLUMNS)
            else:
                keys = _failing_rows(checked, expectation)
            for file_date, line in keys:
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
