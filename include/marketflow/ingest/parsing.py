"""Turn an export's text columns into the typed, normalised "parsed day" that GX validates.

Normalisation follows the real files: surrounding whitespace goes, runs of spaces inside a
description collapse to one, float-looking IDs (`17850.0`) become `17850`, and empty optional fields
become NULL. A value that cannot be parsed into its type becomes NULL, for the suite's "is a number"
rules to catch; nothing is dropped here.
"""

from __future__ import annotations

from typing import Any

from marketflow.ingest.csv_export import ExportText

ORDERS_COLUMNS = (
    "InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country",
)
CUSTOMERS_COLUMNS = ("CustomerID", "Email", "MarketingConsent")

_TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
_CONSENT_VALUES = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def _text(values: list[Any]) -> Any:
    import pandas as pd

    return pd.Series(values, dtype=object)


def _optional(values: list[str]) -> list[str | None]:
    """Empty text -> None."""
    return [value or None for value in values]


def collapse_whitespace(values: list[str]) -> list[str]:
    return [" ".join(value.split()) for value in values]


def normalise_id(values: list[str]) -> list[str]:
    """`17850.0` -> `17850`; anything else is kept for the format rule to judge."""
    normalised = []
    for value in values:
        head, dot, tail = value.partition(".")
        normalised.append(head if dot and head.isdigit() and not tail.strip("0") else value)
    return normalised


def first_line_of_duplicates(line_numbers: list[int], keys: list[tuple]) -> list[int | None]:
    """For each line that repeats an earlier line's key: that earlier line's number; else None."""
    first_line: dict[tuple, int] = {}
    return [
        None if first_line.setdefault(key, line_no) == line_no else first_line[key]
        for line_no, key in zip(line_numbers, keys)
    ]


def parse_orders(export: ExportText) -> Any:
    """The parsed day of an orders export: one row per structurally sound line."""
    import pandas as pd

    columns = dict(export.columns)
    columns["Description"] = collapse_whitespace(columns["Description"])
    columns["CustomerID"] = normalise_id(columns["CustomerID"])
    content = list(zip(*(columns[name] for name in ORDERS_COLUMNS)))
    duplicate_of = first_line_of_duplicates(export.line_numbers, content)
    quantity = pd.to_numeric(_text(columns["Quantity"]), errors="coerce")
    # Beyond 2**31 cannot even be stored: NULL, for "not a whole number" (the range rule stops below 1e6).
    whole = quantity.notna() & (quantity == quantity.round()) & quantity.abs().lt(2**31)
    unit_price = pd.to_numeric(_text(columns["UnitPrice"]), errors="coerce").astype("float64")
    invoice_ts = pd.to_datetime(_text(columns["InvoiceDate"]), format=_TIMESTAMP_FORMAT, errors="coerce")
    invoice_no = _text(columns["InvoiceNo"])
    return pd.DataFrame(
        {
            "source_line": pd.Series(export.line_numbers, dtype="int64"),
            "invoice_no": invoice_no,
            "stock_code": _text(columns["StockCode"]),
            "description": _text(_optional(columns["Description"])),
            "quantity": quantity.where(whole).astype("Int64"),
            "invoice_ts": invoice_ts,
            "invoice_date": _text([text[:10] for text in columns["InvoiceDate"]]).where(invoice_ts.notna()),
            "unit_price": unit_price.where(unit_price.abs() != float("inf")),
            "customer_id": _text(_optional(columns["CustomerID"])),
            "country": _text(_optional(columns["Country"])),
            "is_return": invoice_no.str.startswith("C").astype(bool),
            "duplicate_of": pd.Series(duplicate_of, dtype="Int64"),
        }
    )


def parse_customers(export: ExportText) -> Any:
    """The parsed day of a CRM export."""
    import pandas as pd

    columns = export.columns
    customer_id = normalise_id(columns["CustomerID"])
    consent = [_CONSENT_VALUES.get(value.lower()) for value in columns["MarketingConsent"]]
    duplicate_of = first_line_of_duplicates(export.line_numbers, [(value,) for value in customer_id])
    return pd.DataFrame(
        {
            "source_line": pd.Series(export.line_numbers, dtype="int64"),
            "customer_id": _text(customer_id),
            "email": _text([value.lower() for value in columns["Email"]]),
            "marketing_consent": _text(consent),
            "duplicate_of": pd.Series(duplicate_of, dtype="Int64"),
        }
    )
