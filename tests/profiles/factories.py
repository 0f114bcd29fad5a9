"""Small hand-made order histories for the profile stage's unit tests."""

from __future__ import annotations

import datetime as dt
import itertools

import pandas as pd

from marketflow.profiles.history import ORDER_COLUMNS

_lines = itertools.count(1)


def line(
    day: str,
    invoice: str,
    stock_code: str,
    quantity: int,
    unit_price: float,
    customer: str | None,
    *,
    description: str | None = None,
    country: str = "United Kingdom",
    time: str = "10:00",
) -> dict:
    """One `orders` row; a `C` invoice is a return."""
    order_date = dt.date.fromisoformat(day)
    return {
        "order_date": order_date,
        "source_line": next(_lines),
        "invoice_no": invoice,
        "stock_code": stock_code,
        "description": description if description is not None else f"PRODUCT {stock_code}",
        "quantity": quantity,
        "invoice_ts": dt.datetime.fromisoformat(f"{day} {time}"),
        "unit_price": unit_price,
        "customer_id": customer,
        "country": country,
        "is_return": invoice.startswith("C"),
        "source_file": f"{day}.csv",
    }


def orders(*rows: dict) -> pd.DataFrame:
    """Rows as the frame `marketflow.profiles.warehouse.read_orders` returns."""
    frame = pd.DataFrame(list(rows))
    return frame[list(ORDER_COLUMNS)]


def consent(*events: tuple[str, str, bool]) -> pd.DataFrame:
    """(customer_id, effective_date, marketing_consent) events."""
    return pd.DataFrame(
        {
            "customer_id": pd.Series([event[0] for event in events], dtype=str),
            "effective_date": pd.to_datetime(pd.Series([event[1] for event in events], dtype=str)),
            "marketing_consent": pd.Series([event[2] for event in events], dtype=bool),
        }
    )
