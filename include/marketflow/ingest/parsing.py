"""Turn an adapted export's canonical text columns into the typed, normalised "parsed day" that GX validates.

Normalisation follows the real files: surrounding whitespace goes, runs of spaces inside a
description collapse to one, float-looking IDs (`17850.0`) become `17850`, and empty optional fields
become NULL. A value that cannot be parsed into its type becomes NULL, for the suite's "is a number"
rules to catch; nothing is dropped here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from marketflow.ingest.csv_export import ExportText
from marketflow.ingest.sources.contract import CANONICAL_TIMESTAMP, ORDER_FIELDS

_CONSENT_VALUES = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def _text(values: list[Any]) -> Any:
    import pandas as pd

    return pd.Series(values, dtype=object)


def _optional(values: list[str]) -> list[str | None]:
    """Empty text -> None."""
    return [value or None for value in values]


def _per_distinct(function: Callable[[Any], Any], values: list[Any]) -> list[Any]:
    """`function` of each value, computed once per distinct value (a day repeats its products,
    customers and currencies on many lines)."""
    results = {value: function(value) for value in set(values)}
    return list(map(results.__getitem__, values))


def _collapsed(value: str) -> str:
    return " ".join(value.split())


def collapse_whitespace(values: list[str]) -> list[str]:
    return _per_distinct(_collapsed, values)


def _normalised_id(value: str) -> str:
    head, dot, tail = value.partition(".")
    return head if dot and head.isdigit() and not tail.strip("0") else value


def normalise_id(values: list[str]) -> list[str]:
    """`17850.0` -> `17850`; anything else is kept for the format rule to judge."""
    return _per_distinct(_normalised_id, values)


def first_line_of_duplicates(line_numbers: list[int], keys: list[tuple]) -> list[int | None]:
    """For each line that repeats an earlier line's key: that earlier line's number; else None."""
    first_line: dict[tuple, int] = {}
    return [
        None if first_line.setdefault(key, line_no) == line_no else first_line[key]
        for line_no, key in zip(line_numbers, keys)
    ]


def _prices_in_shop_currency(
    prices: Any, currencies: list[str], shop_currency: str, exchange_rates: Mapping[str, float]
) -> tuple[Any, list[str]]:
    """Prices converted into the shop's currency where a rate is known; a line in a currency without
    a rate keeps its code (the contract's currency rule quarantines it)."""
    import numpy as np

    rates = {code.upper(): rate for code, rate in exchange_rates.items()} | {shop_currency: 1.0}
    factor = np.array(_per_distinct(lambda code: rates.get(code.upper(), 1.0), currencies), dtype="float64")
    converted = _per_distinct(lambda code: shop_currency if code.upper() in rates else code, currencies)
    return prices * factor, converted


def parse_orders(
    export: ExportText, shop_currency: str = "GBP", exchange_rates: Mapping[str, float] | None = None
) -> Any:
    """The parsed day of canonical order lines (`ORDER_FIELDS`): one row per row of the export."""
    import pandas as pd

    columns = dict(export.columns)
    columns["description"] = collapse_whitespace(columns["description"])
    columns["customer_id"] = normalise_id(columns["customer_id"])
    content = list(zip(*(columns[name] for name in ORDER_FIELDS)))
    duplicate_of = first_line_of_duplicates(export.line_numbers, content)
    quantity = pd.to_numeric(_text(columns["quantity"]), errors="coerce")
    # Beyond 2**31 cannot even be stored: NULL, for "not a whole number" (the range rule stops below 1e6).
    whole = quantity.notna() & (quantity == quantity.round()) & quantity.abs().lt(2**31)
    unit_price = pd.to_numeric(_text(columns["unit_price"]), errors="coerce").astype("float64")
    unit_price, currency = _prices_in_shop_currency(unit_price, columns["currency"], shop_currency, exchange_rates or {})
    invoice_ts = pd.to_datetime(_text(columns["invoice_ts"]), format=CANONICAL_TIMESTAMP, errors="coerce")
    return pd.DataFrame(
        {
            "source_line": pd.Series(export.line_numbers, dtype="int64"),
            "invoice_no": _text(columns["invoice_no"]),
            "stock_code": _text(columns["stock_code"]),
            "description": _text(_optional(columns["description"])),
            "quantity": quantity.where(whole).astype("Int64"),
            "invoice_ts": invoice_ts,
            "invoice_date": _text([text[:10] for text in columns["invoice_ts"]]).where(invoice_ts.notna()),
            "unit_price": unit_price.where(unit_price.abs() != float("inf")),
            "currency": _text(currency),
            "customer_id": _text(_optional(columns["customer_id"])),
            "country": _text(_optional(columns["country"])),
            "is_return": pd.Series(columns["is_return"], dtype=bool),
            "duplicate_of": pd.Series(duplicate_of, dtype="Int64"),
        }
    )


def parse_customers(export: ExportText) -> Any:
    """The parsed day of canonical CRM records (`CUSTOMER_FIELDS`)."""
    import pandas as pd

    columns = export.columns
    customer_id = normalise_id(columns["customer_id"])
    consent = [_CONSENT_VALUES.get(value.lower()) for value in columns["marketing_consent"]]
    duplicate_of = first_line_of_duplicates(export.line_numbers, [(value,) for value in customer_id])
    return pd.DataFrame(
        {
            "source_line": pd.Series(export.line_numbers, dtype="int64"),
            "customer_id": _text(customer_id),
            "email": _text([value.lower() for value in columns["email"]]),
            "marketing_consent": _text(consent),
            "duplicate_of": pd.Series(duplicate_of, dtype="Int64"),
        }
    )
