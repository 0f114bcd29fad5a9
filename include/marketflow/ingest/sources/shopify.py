"""Shopify's exports: the orders export (Admin > Orders > Export, "plain CSV") and the customers export.

The orders export has one row per line item. An order's own fields (`Email`, `Financial Status`,
`Currency`, `Discount Amount`, `Refunded Amount`, `Cancelled at`, the addresses) are filled on its first
row only; later rows of the same `Name` repeat the order name and leave them empty. Adapted:

- **price**: `Lineitem price` less the line's `Lineitem discount` and its share (by line value) of the
  rest of the order's `Discount Amount`: what the unit earned.
- **cancelled or refunded orders** (`Cancelled at` set, or `Financial Status` refunded / voided): every
  line is stored as bought and again as returned (negative quantity, `is_return`), so the order counts
  as placed and taken back, as the UK shop's cancellation invoices do. A partial refund
  (`Refunded Amount` on an order still paid) adds one return line of that amount, product `REFUND`
  (a service code: never counted as merchandise). Shipping and taxes are not product revenue: left out.
- **customer**: the export has no customer number, so the id is derived from the normalised e-mail
  address (`E` + 15 hex digits of its SHA-256); the customers export derives the same id. A line
  without an e-mail address is a guest checkout (product statistics only).
- **product**: `Lineitem sku`, or for a product without a SKU `N-` + 12 hex digits of its name's SHA-256.
- **time**: `Created at` (`2011-10-03 09:15:00 +0100`) as the shop's wall-clock time.
- **country**: `Billing Country`, else `Shipping Country` (Shopify writes ISO codes: `GB`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal, InvalidOperation

from marketflow.ingest.csv_export import ExportText, Record, Records, read_records
from marketflow.ingest.sources.contract import CANONICAL_TIMESTAMP, ORDER_FIELDS, Checks

ORDER_COLUMNS_NEEDED = (
    "Name", "Email", "Financial Status", "Currency", "Created at", "Lineitem quantity", "Lineitem name",
    "Lineitem price", "Lineitem sku", "Cancelled at", "Billing Country",
)
#: Read when present.
ORDER_COLUMNS_OPTIONAL = ("Lineitem discount", "Discount Amount", "Refunded Amount", "Shipping Country")
CUSTOMER_COLUMNS_NEEDED = ("Email",)
#: Shopify renamed the consent column; either is accepted.
CONSENT_COLUMNS = ("Accepts Email Marketing", "Accepts Marketing")
TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S %z"
REVERSED_STATUSES = {"refunded", "voided"}
PARTIAL_REFUND_CODE = "REFUND"  # one of the profile stage's default service codes

ORDERS_CHECKS = Checks(
    source="shopify",
    labels=(
        ("invoice_no", "Name"), ("stock_code", "Lineitem sku"), ("description", "Lineitem name"),
        ("quantity", "Lineitem quantity"), ("invoice_ts", "Created at"), ("unit_price", "Lineitem price"),
        ("currency", "Currency"), ("customer_id", "Email"), ("country", "Billing Country"),
    ),
    formats=(),
    timestamp_says="YYYY-MM-DD HH:MM:SS +HHMM",
)
CUSTOMERS_CHECKS = Checks(
    source="shopify_customers",
    labels=(("customer_id", "Email"), ("email", "Email"), ("marketing_consent", "Accepts Email Marketing")),
    formats=(),
)


def customer_id_from_email(email: str) -> str:
    """The customer id of an e-mail address ('' for none): the same for the orders and customers exports."""
    normalised = email.strip().lower()
    if not normalised:
        return ""
    return "E" + hashlib.sha256(normalised.encode("utf-8")).hexdigest()[:15]


def product_id(sku: str, name: str) -> str:
    return sku or ("N-" + hashlib.sha256(name.strip().encode("utf-8")).hexdigest()[:12] if name.strip() else "")


def wall_clock(text: str) -> str:
    """`2011-10-03 09:15:00 +0100` -> `2011-10-03 09:15:00`; anything else is passed on as it was."""
    try:
        return dt.datetime.strptime(text, TIMESTAMP_FORMAT).strftime(CANONICAL_TIMESTAMP)
    except ValueError:
        return text


def _decimal(text: str) -> Decimal | None:
    try:
        value = Decimal(text) if text else None
    except InvalidOperation:
        return None
    return value if value is not None and value.is_finite() else None


def _net_unit_prices(rows: list[dict[str, str]], order_discount: Decimal | None) -> list[str]:
    """Each line's unit price after its own discount and its share of the rest of the order's discount;
    a line whose quantity or price is not a number keeps its price text (the checks judge it)."""
    values = []
    for row in rows:
        quantity, price = _decimal(row["Lineitem quantity"]), _decimal(row["Lineitem price"])
        values.append(quantity * price if quantity and price is not None else None)
    line_discounts = [_decimal(row.get("Lineitem discount", "")) or Decimal(0) for row in rows]
    total = sum((value for value in values if value is not None), Decimal(0))
    rest = max((order_discount or Decimal(0)) - sum(line_discounts, Decimal(0)), Decimal(0))
    prices = []
    for row, value, own in zip(rows, values, line_discounts):
        if value is None:
            prices.append(row["Lineitem price"])
            continue
        share = rest * value / total if total else Decimal(0)
        net = (value - own - share) / Decimal(row["Lineitem quantity"])
        prices.append(str(net.quantize(Decimal("0.0001"))))
    return prices


def _negated(quantity: str) -> str:
    return quantity[1:] if quantity.startswith("-") else "-" + quantity


def _orders(records: Records) -> dict[str, list[Record]]:
    """Records grouped by order name, in file order."""
    name = records.position("Name")
    orders: dict[str, list[Record]] = {}
    for record in records.records:
        orders.setdefault(record.fields[name].strip(), []).append(record)
    return orders


def read_orders(content: bytes, url: str) -> ExportText:
    """A Shopify orders export as canonical order lines (see the module's docstring)."""
    records = read_records(content, url, multiline=True)
    records.require(ORDER_COLUMNS_NEEDED, "Shopify's orders export")
    columns: dict[str, list] = {field: [] for field in ORDER_FIELDS}
    line_numbers: list[int] = []
    raw_lines: list[str] = []

    def add(record_line: int, raw: str, values: dict[str, object]) -> None:
        for field, value in values.items():
            columns[field].append(value)
        line_numbers.append(record_line)
        raw_lines.append(raw)

    read = [(column, position) for column in (*ORDER_COLUMNS_NEEDED, *ORDER_COLUMNS_OPTIONAL)
            if (position := records.position(column)) is not None]
    for name, order_records in _orders(records).items():
        rows = [{column: record.fields[position].strip() for column, position in read} for record in order_records]
        first = rows[0]
        order = {
            "invoice_no": name,
            "invoice_ts": wall_clock(first["Created at"]),
            "currency": first["Currency"],
            "customer_id": customer_id_from_email(first["Email"]),
            "country": first["Billing Country"] or first.get("Shipping Country", ""),
        }
        prices = _net_unit_prices(rows, _decimal(first.get("Discount Amount", "")))
        reversed_order = bool(first["Cancelled at"]) or first["Financial Status"].lower() in REVERSED_STATUSES
        for record, row, price in zip(order_records, rows, prices):
            line = order | {
                "stock_code": product_id(row["Lineitem sku"], row["Lineitem name"]),
                "description": row["Lineitem name"],
                "quantity": row["Lineitem quantity"],
                "unit_price": price,
            }
            add(record.line_no, record.raw, line | {"is_return": False})
            if reversed_order:
                add(-record.line_no, record.raw, line | {"quantity": _negated(row["Lineitem quantity"]), "is_return": True})
        refunded = _decimal(first.get("Refunded Amount", ""))
        if refunded and not reversed_order:
            add(-order_records[0].line_no, order_records[0].raw, order | {
                "stock_code": PARTIAL_REFUND_CODE, "description": "Partial refund", "quantity": "-1",
                "unit_price": str(refunded), "is_return": True,
            })
    return ExportText(url, columns, line_numbers, raw_lines, records.rejected)


def read_customers(content: bytes, url: str) -> ExportText:
    """A Shopify customers export as canonical CRM records (id derived from the e-mail address)."""
    records = read_records(content, url, multiline=True)
    records.require(CUSTOMER_COLUMNS_NEEDED, "Shopify's customers export")
    consent = next((column for column in CONSENT_COLUMNS if records.position(column) is not None), None)
    if consent is None:
        records.require(CONSENT_COLUMNS[:1], "Shopify's customers export")
    emails = records.column("Email")
    columns = {
        "customer_id": [customer_id_from_email(email) for email in emails],
        "email": emails,
        "marketing_consent": records.column(consent or CONSENT_COLUMNS[0]),
    }
    return ExportText(
        url, columns, [record.line_no for record in records.records], [record.raw for record in records.records],
        records.rejected,
    )
