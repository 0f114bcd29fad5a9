"""The expectation suites of the two daily exports, each expectation tagged with its rule.

A rule either *quarantines rows* (the lines that break it go to `quarantine` with the rule's reason)
or *fails the day* (the row-count sanity: nothing is published). The per-row decisions come from
GX's unexpected-row indexes, so GX is the single source of truth for what is a bad row.

The row suites run on *parsed* files, one or many days at once (each row carries its `file_date`):
a value that could not be parsed into its type is null there, and the "... is a ..." rules catch it.
The day-level suite runs on one row per day: its row count and the bounds the recent days allow.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

ORDERS_SUITE = "orders_export"
CUSTOMERS_SUITE = "customers_export"
DAY_COUNTS_SUITE = "orders_day_counts"

INVOICE_NO = r"^[CA]?\d{6}$"
STOCK_CODE = r"^(?:\d{5}[A-Za-z]{0,3}|[A-Za-z][A-Za-z0-9_ ]{0,19})$"
CUSTOMER_ID = r"^\d{1,16}$"
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


def _orders_expectations() -> list[Any]:
    import great_expectations.expectations as gxe

    return [
        _rule(gxe.ExpectColumnValuesToMatchRegex, "invoice_no_format",
              "InvoiceNo is not 6 digits (optionally prefixed C or A)",
              column="invoice_no", regex=INVOICE_NO),
        _rule(gxe.ExpectColumnValuesToMatchRegex, "stock_code_format",
              "StockCode is not a product code (85123A) or a service code (POST)",
              column="stock_code", regex=STOCK_CODE),
        _rule(gxe.ExpectColumnValuesToNotBeNull, "quantity_is_whole_number",
              "Quantity is not a whole number", column="quantity"),
        _rule(gxe.ExpectColumnValuesToBeBetween, "quantity_in_range",
              f"Quantity is {MAX_ABS_QUANTITY:,} or more (either sign)", column="quantity",
              min_value=-MAX_ABS_QUANTITY, max_value=MAX_ABS_QUANTITY, strict_min=True, strict_max=True),
        _rule(gxe.ExpectColumnValuesToNotBeNull, "invoice_date_is_timestamp",
              "InvoiceDate is not a YYYY-MM-DD HH:MM:SS timestamp", column="invoice_ts"),
        _rule(gxe.ExpectColumnPairValuesToBeEqual, "invoice_date_is_file_date",
              "InvoiceDate is not on the file's day",
              column_A="invoice_date", column_B="file_date", ignore_row_if="either_value_is_missing"),
        _rule(gxe.ExpectColumnValuesToNotBeNull, "unit_price_is_number",
              "UnitPrice is not a number", column="unit_price"),
        _rule(gxe.ExpectColumnValuesToBeBetween, "unit_price_not_negative",
              "UnitPrice is negative", column="unit_price", min_value=0),
        _rule(gxe.ExpectColumnValuesToMatchRegex, "customer_id_format",
              "CustomerID is not a number (like 17850 or 17850.0)", column="customer_id", regex=CUSTOMER_ID),
        _rule(gxe.ExpectColumnValuesToNotBeNull, "country_present", "Country is empty", column="country"),
        _rule(gxe.ExpectColumnValueLengthsToBeBetween, "country_length",
              f"Country is longer than {MAX_COUNTRY_LENGTH} characters", column="country",
              max_value=MAX_COUNTRY_LENGTH),
        _rule(gxe.ExpectColumnValuesToBeNull, "line_is_unique",
              "exact duplicate of an earlier line of the file", column="duplicate_of"),
    ]


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


def _customers_expectations() -> list[Any]:
    import great_expectations.expectations as gxe

    return [
        _rule(gxe.ExpectColumnValuesToMatchRegex, "customer_id_format",
              "CustomerID is not a number (like 17850)", column="customer_id", regex=CUSTOMER_ID),
        _rule(gxe.ExpectColumnValuesToMatchRegex, "email_format",
              "Email is not an e-mail address", column="email", regex=EMAIL),
        _rule(gxe.ExpectColumnValueLengthsToBeBetween, "email_length",
              f"Email is longer than {MAX_EMAIL_LENGTH} characters", column="email", max_value=MAX_EMAIL_LENGTH),
        _rule(gxe.ExpectColumnValuesToNotBeNull, "marketing_consent_is_boolean",
              "MarketingConsent is not true/false", column="marketing_consent"),
        _rule(gxe.ExpectColumnValuesToBeNull, "customer_is_unique",
              "customer already listed on an earlier line of the file", column="duplicate_of"),
    ]


_BUILDERS = {
    ORDERS_SUITE: _orders_expectations,
    CUSTOMERS_SUITE: _customers_expectations,
    DAY_COUNTS_SUITE: _day_counts_expectations,
}


@lru_cache(maxsize=None)
def expectation_suite(name: str) -> Any:
    """The GX suite `name`, registered in the process's context on first use."""
    from marketflow.quality.gx_context import gx_context

    context = gx_context()  # first: it imports GX quietly
    import great_expectations as gx

    suite = context.suites.add(gx.ExpectationSuite(name=name))
    for expectation in _BUILDERS[name]():
        suite.add_expectation(expectation)
    return suite
