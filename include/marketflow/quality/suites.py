"""The expectation suites of the canonical order line and CRM record (the contract every source is
adapted into), each expectation tagged with its rule and worded with the source's own column names.

A rule either *quarantines rows* (the lines that break it go to `quarantine` with the rule's reason)
or *fails the day* (the row-count sanity: nothing is published). The per-row decisions come from
GX's unexpected-row indexes, so GX is the single source of truth for what is a bad row.

The row suites run on *parsed* files, one or many days at once (each row carries its `file_date`):
a value that could not be parsed into its type is null there, and the "... is a ..." rules catch it.
The day-level suite runs on one row per day: its row count and the bounds the recent days allow.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from marketflow.ingest.sources.contract import Checks

DAY_COUNTS_SUITE = "orders_day_counts"

EMAIL = r"^[^@\s,;]+@[^@\s,;]+\.[A-Za-z]{2,}$"
#: A quantity's absolute value must stay below this (one line of a million units is an error).
MAX_ABS_QUANTITY = 1_000_000
#: The widest text the warehouse keeps in these columns (longer would not fit: refused, not cut).
MAX_COUNTRY_LENGTH = 64
MAX_EMAIL_LENGTH = 320

#: The day-level rule: it fails the day, it quarantines nothing.
ROW_COUNT_RULE = "row_count_sanity"


def _rule(
    expectation_class: Any, rule: str, reason: str, *, quarantines_rows: bool = True, **kwargs: Any
) -> Any:
    return expectation_class(
        **kwargs, description=reason, meta={"rule": rule, "quarantines_rows": quarantines_rows}
    )


def _format_rule(gxe: Any, checks: Checks, field: str, rule: str) -> Any:
    fmt = checks.format(field)
    return _rule(gxe.ExpectColumnValuesToMatchRegex, rule, f"{checks.label(field)} {fmt.says}",
                 column=field, regex=fmt.pattern)


def _orders_expectations(checks: Checks) -> list[Any]:
    """The contract's rules on canonical order lines, worded with the source's column names."""
    import great_expectations.expectations as gxe

    label = checks.label
    rules = [
        _format_rule(gxe, checks, "invoice_no", "invoice_no_format"),
        _format_rule(gxe, checks, "stock_code", "stock_code_format"),
        _rule(gxe.ExpectColumnValuesToNotBeNull, "quantity_is_whole_number",
              f"{label('quantity')} is not a whole number", column="quantity"),
        _rule(gxe.ExpectColumnValuesToBeBetween, "quantity_in_range",
              f"{label('quantity')} is {MAX_ABS_QUANTITY:,} or more (either sign)", column="quantity",
              min_value=-MAX_ABS_QUANTITY, max_value=MAX_ABS_QUANTITY, strict_min=True, strict_max=True),
        _rule(gxe.ExpectColumnValuesToNotBeNull, "invoice_date_is_timestamp",
              f"{label('invoice_ts')} is not a {checks.timestamp_says} timestamp", column="invoice_ts"),
        _rule(gxe.ExpectColumnPairValuesToBeEqual, "invoice_date_is_file_date",
              f"{label('invoice_ts')} is not on the file's day",
              column_A="invoice_date", column_B="file_date", ignore_row_if="either_value_is_missing"),
        _rule(gxe.ExpectColumnValuesToNotBeNull, "unit_price_is_number",
              f"{label('unit_price')} is not a number", column="unit_price"),
        _rule(gxe.ExpectColumnValuesToBeBetween, "unit_price_not_negative",
              f"{label('unit_price')} is negative", column="unit_price", min_value=0),
        _format_rule(gxe, checks, "customer_id", "customer_id_format"),
        _rule(gxe.ExpectColumnValuesToNotBeNull, "country_present", f"{label('country')} is empty", column="country"),
        _rule(gxe.ExpectColumnValueLengthsToBeBetween, "country_length",
              f"{label('country')} is longer than {MAX_COUNTRY_LENGTH} characters", column="country",
              max_value=MAX_COUNTRY_LENGTH),
        _rule(gxe.ExpectColumnValuesToBeNull, "line_is_unique",
              "exact duplicate of an earlier line of the file", column="duplicate_of"),
    ]
    if checks.shop_currency is not None:
        rules.append(_rule(
            gxe.ExpectColumnValuesToBeInSet, "currency_is_shop_currency",
            f"{label('currency')} is not {checks.shop_currency} and has no exchange rate "
            "(MARKETFLOW_INGEST_EXCHANGE_RATES)", column="currency", value_set=[checks.shop_currency],
        ))
    return rules


def _day_counts_expectations() -> list[Any]:
    """On one row per day (`file_date`, `rows_read`, `row_count_min`, `row_count_max`): both bounds
    belong to the one rule; a day without recent history has no upper bound (null)."""
    import great_expectations.expectations as gxe

    reason = "row count is implausible next to the recent loaded days"
    return [
        _rule(gxe.ExpectColumnPairValuesAToBeGreaterThanB, ROW_COUNT_RULE, reason, quarantines_rows=False,
              column_A="rows_read", column_B="row_count_min", or_equal=True),
        _rule(gxe.ExpectColumnPairValuesAToBeGreaterThanB, ROW_COUNT_RULE, reason, quarantines_rows=False,
              column_A="row_count_max", column_B="rows_read", or_equal=True,
              ignore_row_if="either_value_is_missing"),
    ]


def _customers_expectations(checks: Checks) -> list[Any]:
    import great_expectations.expectations as gxe

    label = checks.label
    return [
        _format_rule(gxe, checks, "customer_id", "customer_id_format"),
        _rule(gxe.ExpectColumnValuesToMatchRegex, "email_format",
              f"{label('email')} is not an e-mail address", column="email", regex=EMAIL),
        _rule(gxe.ExpectColumnValueLengthsToBeBetween, "email_length",
              f"{label('email')} is longer than {MAX_EMAIL_LENGTH} characters", column="email",
              max_value=MAX_EMAIL_LENGTH),
        _rule(gxe.ExpectColumnValuesToNotBeNull, "marketing_consent_is_boolean",
              f"{label('marketing_consent')} is not true/false", column="marketing_consent"),
        _rule(gxe.ExpectColumnValuesToBeNull, "customer_is_unique",
              "customer already listed on an earlier line of the file", column="duplicate_of"),
    ]


_SUITES: dict[str, Any] = {}


def _suite(name: str, build: Callable[[], list[Any]]) -> Any:
    """The suite `name`, built and registered in the process's GX context on first use."""
    if name not in _SUITES:
        from marketflow.quality.gx_context import gx_context

        context = gx_context()  # first: it imports GX quietly
        import great_expectations as gx

        suite = context.suites.add(gx.ExpectationSuite(name=name))
        for expectation in build():
            suite.add_expectation(expectation)
        _SUITES[name] = suite
    return _SUITES[name]


def orders_suite(checks: Checks) -> Any:
    """The orders contract's suite for one source, registered in the process's context on first use."""
    return _suite(f"orders.{checks.suite_name}", partial(_orders_expectations, checks))


def customers_suite(checks: Checks) -> Any:
    """The CRM contract's suite for one source."""
    return _suite(f"customers.{checks.suite_name}", partial(_customers_expectations, checks))


def day_counts_suite() -> Any:
    """The day-level suite (the same for every source)."""
    return _suite(DAY_COUNTS_SUITE, _day_counts_expectations)
