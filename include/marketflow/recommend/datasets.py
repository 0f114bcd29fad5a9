"""Read the UCI Online Retail export (one CSV a day) into the warehouse's `orders` columns.

For the benchmark and tests, which train on the real files without a warehouse; the folder is
always passed in by the caller.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd

from marketflow.profiles.settings import DEFAULT_SERVICE_CODES

#: The shop's services (postage, fees, vouchers), dropped from its purchases as the warehouse does.
ONLINE_RETAIL_SERVICES = {"service_codes": DEFAULT_SERVICE_CODES, "service_prefixes": ("gift_",)}


def read_online_retail(folder: Path, start: dt.date | None = None, end: dt.date | None = None) -> pd.DataFrame:
    """Order lines of the day files in [start, end) with the `orders` table's column names."""
    frames = []
    for path in sorted(Path(folder).glob("*.csv")):
        day = dt.date.fromisoformat(path.stem)
        if (start and day < start) or (end and day >= end):
            continue
        raw = pd.read_csv(path, dtype={"InvoiceNo": str, "StockCode": str, "CustomerID": str})
        frames.append(raw.assign(order_date=day, source_line=range(2, len(raw) + 2)))
    if not frames:
        raise FileNotFoundError(f"no day files in {folder} between {start} and {end}")
    raw = pd.concat(frames, ignore_index=True)
    customer = raw["CustomerID"].str.removesuffix(".0")
    return pd.DataFrame(
        {
            "order_date": raw["order_date"],
            "source_line": raw["source_line"],
            "invoice_no": raw["InvoiceNo"],
            "stock_code": raw["StockCode"],
            "description": raw["Description"],
            "quantity": raw["Quantity"].astype("int64"),
            "invoice_ts": pd.to_datetime(raw["InvoiceDate"]),
            "unit_price": raw["UnitPrice"].astype(float),
            "customer_id": customer.where(customer.notna() & (customer != ""), None),
            "country": raw["Country"],
            "is_return": raw["InvoiceNo"].str.startswith("C"),
        }
    )


def online_retail_purchases(folder: Path, start: dt.date | None = None, end: dt.date | None = None) -> pd.DataFrame:
    """The shop's purchases in [start, end) as interactions, less its services."""
    from marketflow.recommend.interactions import purchases_to_interactions

    return purchases_to_interactions(read_online_retail(folder, start, end), **ONLINE_RETAIL_SERVICES)
