"""The UK shop's exports (the UCI Online Retail layout): `InvoiceNo,StockCode,Description,Quantity,
InvoiceDate,UnitPrice,CustomerID,Country`, and the CRM's `CustomerID,Email,MarketingConsent`.

Exactly these columns (any order); an invoice number starting with `C` is a cancellation (its
quantities are already negative); prices are in the shop's currency.
"""

from __future__ import annotations

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
