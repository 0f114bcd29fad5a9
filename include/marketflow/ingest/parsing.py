"""Turn an adapted export's canonical text columns into the typed, normalised "parsed day" that GX validates.

Normalisation follows the real files: surrounding whitespace goes, runs of spaces inside a
description collapse to one, float-looking IDs (`17850.0`) become `17850`, and empty optional fields
become NULL. A value that cannot be parsed into its type becomes NULL, for the suite's "is a number"
rules to catch; nothing is dropped here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from itertools import chain
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


def _row_keys(columns: Sequence[list[Any]]) -> list[Any]:
    """Each row's values as one hashable key: its texts joined by NUL (no field holds one, as
    `read_records` rejects such lines), or a tuple when a value is not text. Texts, unlike tuples,
    are not tracked by the garbage collector, whose passes over a backfill batch's 150,000 tuples
    took a fifth of its parse."""
    try:
        return list(map("\0".join, zip(*columns)))
    except TypeError:
        return list(zip(*columns))


def first_line_of_duplicates(line_numbers: list[int], keys: list[Any]) -> Any:
    """For each line: the number of the first line with its key (its own number unless it repeats one)."""
    import numpy as np

    first_line = dict(zip(reversed(keys), reversed(line_numbers)))  # filled last to first: the first line wins
    return np.fromiter(map(first_line.__getitem__, keys), dtype=np.int64, count=len(keys))


def _numeric(values: list[str]) -> Any:
    """`pd.to_numeric(values, errors="coerce")`, each distinct text converted once (a day repeats its
    quantities and prices on many lines)."""
    import pandas as pd

    codes, distinct = pd.factorize(_text(values))
    return pd.Series(pd.to_numeric(pd.Series(distinct, dtype=object), errors="coerce").to_numpy()[codes])


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


def _joined(exports: Sequence[ExportText], name: str) -> list[Any]:
    """Column `name` of every export, one after another."""
    if len(exports) == 1:  # a DAG run's one day: its own list (nothing here changes a list in place)
        return exports[0].columns[name]
    return list(chain.from_iterable(export.columns[name] for export in exports))


def _duplicates_within(exports: Sequence[ExportText], line_numbers: list[int], keys: list[Any]) -> Any:
    """`duplicate_of`: for a line that repeats an earlier line of its own export (`line_numbers` and
    `keys`: every export's rows in order), that line's number; else null."""
    import numpy as np
    import pandas as pd

    firsts, start = [np.empty(0, dtype=np.int64)], 0
    for export in exports:
        stop = start + len(export.line_numbers)
        firsts.append(first_line_of_duplicates(export.line_numbers, keys[start:stop]))
        start = stop
    first = np.concatenate(firsts)
    repeats = first != np.asarray(line_numbers, dtype=np.int64)
    return pd.Series(pd.arrays.IntegerArray(np.where(repeats, first, 0), ~repeats))


def parse_orders(
    export: ExportText, shop_currency: str = "GBP", exchange_rates: Mapping[str, float] | None = None
) -> Any:
    """The parsed day of canonical order lines (`ORDER_FIELDS`): one row per row of the export."""
    return parse_order_exports([export], shop_currency, exchange_rates)


def parse_order_exports(
    exports: Sequence[ExportText], shop_currency: str = "GBP", exchange_rates: Mapping[str, float] | None = None
) -> Any:
    """`parse_orders` of several exports at once, their rows one after another (a duplicate is a
    repeat within its own export). A backfill's batch of days pays pandas' fixed cost per column
    once, not once per day: for a day of 1,600 lines that cost was most of the parse."""
    import pandas as pd

    columns = {name: _joined(exports, name) for name in ORDER_FIELDS}
    columns["description"] = collapse_whitespace(columns["description"])
    columns["customer_id"] = normalise_id(columns["customer_id"])
    line_numbers = list(chain.from_iterable(export.line_numbers for export in exports))
    flags = {"is_return": ["1" if value else "" for value in columns["is_return"]]}
    duplicate_of = _duplicates_within(exports, line_numbers, _row_keys([flags.get(name, columns[name]) for name in ORDER_FIELDS]))
    quantity = _numeric(columns["quantity"])
    # Beyond 2**31 cannot even be stored: NULL, for "not a whole number" (the range rule stops below 1e6).
    whole = quantity.notna() & (quantity == quantity.round()) & quantity.abs().lt(2**31)
    unit_price = _numeric(columns["unit_price"]).astype("float64")
    unit_price, currency = _prices_in_shop_currency(unit_price, columns["currency"], shop_currency, exchange_rates or {})
    invoice_ts = pd.to_datetime(_text(columns["invoice_ts"]), format=CANONICAL_TIMESTAMP, errors="coerce")
    return pd.DataFrame(
        {
            "source_line": pd.Series(line_numbers, dtype="int64"),
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
            "duplicate_of": duplicate_of,
        }
    )


def parse_customers(export: ExportText) -> Any:
    """The parsed day of canonical CRM records (`CUSTOMER_FIELDS`)."""
    return parse_customer_exports([export])


def parse_customer_exports(exports: Sequence[ExportText]) -> Any:
    """`parse_customers` of several exports at once, their rows one after another (as `parse_order_exports`)."""
    import pandas as pd

    customer_id = normalise_id(_joined(exports, "customer_id"))
    consent = [_CONSENT_VALUES.get(value.lower()) for value in _joined(exports, "marketing_consent")]
    line_numbers = list(chain.from_iterable(export.line_numbers for export in exports))
    duplicate_of = _duplicates_within(exports, line_numbers, customer_id)
    return pd.DataFrame(
        {
            "source_line": pd.Series(line_numbers, dtype="int64"),
            "customer_id": _text(customer_id),
            "email": _text([value.lower() for value in _joined(exports, "email")]),
            "marketing_consent": _text(consent),
            "duplicate_of": duplicate_of,
        }
    )
