"""The UK shop's exports (the UCI Online Retail layout): `InvoiceNo,StockCode,Description,Quantity,
InvoiceDate,UnitPrice,CustomerID,Country`, and the CRM's `CustomerID,Email,MarketingConsent`.

Exactly these columns (any order); an invoice number starting with `C` is a cancellation (its
quantities are already negative); prices are in the shop's currency.

`read_history` reads the layout's day files straight into `orders` rows without a warehouse (the
benches, the propensity library on real data): ingest's line semantics (`17850.0` -> `17850`,
whitespace collapsed, `C` invoices are returns, an exact repeat of an earlier line dropped as ingest
quarantines it) without its validation.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from marketflow.ingest.csv_export import ExportText, read_export
from marketflow.ingest.sources.contract import Checks, FieldFormat

ORDERS_COLUMNS = (
    "InvoiceNo", "StockCode", "Description", "Quantity", "InvoiceDate", "UnitPrice", "CustomerID", "Country",
)
CUSTOMERS_COLUMNS = ("CustomerID", "Email", "MarketingConsent")

INVOICE_NO = r"^[CA]?\d{6}$"
STOCK_CODE = r"^(?:\d{5}[A-Za-z]{0,3}|[A-Za-z][A-Za-z0-9_ ]{0,19})$"
CUSTOMER_ID = r"^\d{1,16}$"

#: canonical field -> this layout's column
_ORDER_COLUMN_OF = {
    "invoice_no": "InvoiceNo", "stock_code": "StockCode", "description": "Description", "quantity": "Quantity",
    "invoice_ts": "InvoiceDate", "unit_price": "UnitPrice", "customer_id": "CustomerID", "country": "Country",
}
#: The `orders` table's columns, in its order.
_ORDERS_TABLE_COLUMNS = [
    "order_date", "source_line", "invoice_no", "stock_code", "description", "quantity", "invoice_ts", "unit_price",
    "customer_id", "country", "is_return", "source_file",
]
_CUSTOMER_COLUMN_OF = {"customer_id": "CustomerID", "email": "Email", "marketing_consent": "MarketingConsent"}

ORDERS_CHECKS = Checks(
    source="online_retail",
    labels=tuple(_ORDER_COLUMN_OF.items()),
    formats=(
        ("invoice_no", FieldFormat(INVOICE_NO, "is not 6 digits (optionally prefixed C or A)")),
        ("stock_code", FieldFormat(STOCK_CODE, "is not a product code (85123A) or a service code (POST)")),
        ("customer_id", FieldFormat(CUSTOMER_ID, "is not a number (like 17850 or 17850.0)")),
    ),
)
CUSTOMERS_CHECKS = Checks(
    source="online_retail_crm",
    labels=tuple(_CUSTOMER_COLUMN_OF.items()),
    formats=(("customer_id", FieldFormat(CUSTOMER_ID, "is not a number (like 17850)")),),
)


def read_orders(content: bytes, url: str, shop_currency: str) -> ExportText:
    """The file's lines as canonical order lines."""
    export = read_export(content, url, ORDERS_COLUMNS)
    columns = {field: export.columns[column] for field, column in _ORDER_COLUMN_OF.items()}
    columns["currency"] = [shop_currency] * len(export.line_numbers)
    columns["is_return"] = [value.startswith("C") for value in columns["invoice_no"]]
    return ExportText(url, columns, export.line_numbers, export.raw_lines, export.rejected)


def read_customers(content: bytes, url: str) -> ExportText:
    """The CRM file's lines as canonical CRM records (this layout is also every other source's default)."""
    export = read_export(content, url, CUSTOMERS_COLUMNS)
    columns = {field: export.columns[column] for field, column in _CUSTOMER_COLUMN_OF.items()}
    return ExportText(url, columns, export.line_numbers, export.raw_lines, export.rejected)


# --- the layout's files read straight into `orders` rows (no warehouse: benches, library users) -----


def day_files(data_dir: Path, start: dt.date | None = None, end: dt.date | None = None) -> list[Path]:
    """The day files `YYYY-MM-DD.csv` in `data_dir` between `start` and `end` (inclusive), in date order."""
    files = []
    for path in sorted(data_dir.glob("????-??-??.csv")):
        day = dt.date.fromisoformat(path.stem)
        if (start is None or day >= start) and (end is None or day <= end):
            files.append(path)
    return files


def read_day(path: Path) -> Any:
    """One day file as rows of the `orders` table (a DataFrame)."""
    import pandas as pd

    raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    raw["Description"] = raw["Description"].str.split().str.join(" ")
    raw["CustomerID"] = raw["CustomerID"].str.strip().str.replace(r"\.0$", "", regex=True)
    raw = raw[~raw.duplicated(keep="first")]
    customer = raw["CustomerID"]
    frame = pd.DataFrame(
        {
            "order_date": dt.date.fromisoformat(path.stem),
            "source_line": raw.index.to_numpy() + 2,
            "invoice_no": raw["InvoiceNo"].str.strip(),
            "stock_code": raw["StockCode"].str.strip(),
            "description": raw["Description"].replace("", None),
            "quantity": raw["Quantity"].astype(int),
            "invoice_ts": pd.to_datetime(raw["InvoiceDate"]),
            "unit_price": raw["UnitPrice"].astype(float),
            "customer_id": customer.where(customer != "", None),
            "country": raw["Country"].str.strip(),
            "is_return": raw["InvoiceNo"].str.strip().str.startswith("C"),
            "source_file": path.name,
        }
    )
    return frame[_ORDERS_TABLE_COLUMNS]


def read_history(data_dir: Path, start: dt.date | None = None, end: dt.date | None = None) -> Any:
    """Every order line of the day files between `start` and `end` (inclusive), as `orders` rows."""
    import pandas as pd

    return pd.concat([read_day(path) for path in day_files(data_dir, start, end)], ignore_index=True)
