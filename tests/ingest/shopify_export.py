"""Shopify orders and customers exports written the way Shopify writes them (every documented column
of Admin > Orders > Export "plain CSV"; an order's own fields on its first row only), for the adapter's
fixture and for running the sample's real orders through the pipeline as a Shopify shop."""

from __future__ import annotations

import csv
import datetime as dt
import io
from dataclasses import dataclass, field
from decimal import Decimal

ORDER_HEADER = (
    "Name,Email,Financial Status,Paid at,Fulfillment Status,Fulfilled at,Accepts Marketing,Currency,Subtotal,"
    "Shipping,Taxes,Total,Discount Code,Discount Amount,Shipping Method,Created at,Lineitem quantity,"
    "Lineitem name,Lineitem price,Lineitem compare at price,Lineitem sku,Lineitem requires shipping,"
    "Lineitem taxable,Lineitem fulfillment status,Billing Name,Billing Street,Billing Address1,"
    "Billing Address2,Billing Company,Billing City,Billing Zip,Billing Province,Billing Country,Billing Phone,"
    "Shipping Name,Shipping Street,Shipping Address1,Shipping Address2,Shipping Company,Shipping City,"
    "Shipping Zip,Shipping Province,Shipping Country,Shipping Phone,Notes,Note Attributes,Cancelled at,"
    "Payment Method,Payment Reference,Refunded Amount,Vendor,Outstanding Balance,Employee,Location,Device ID,"
    "Id,Tags,Risk Level,Source,Lineitem discount,Tax 1 Name,Tax 1 Value,Tax 2 Name,Tax 2 Value,Tax 3 Name,"
    "Tax 3 Value,Tax 4 Name,Tax 4 Value,Tax 5 Name,Tax 5 Value,Phone,Receipt Number,Duties,"
    "Billing Province Name,Shipping Province Name,Payment ID,Payment Terms Name,Next Payment Due At,"
    "Payment References"
).split(",")
CUSTOMER_HEADER = (
    "Customer ID,First Name,Last Name,Email,Accepts Email Marketing,Default Address Company,"
    "Default Address Address1,Default Address Address2,Default Address City,Default Address Province Code,"
    "Default Address Country Code,Default Address Zip,Default Address Phone,Phone,Accepts SMS Marketing,"
    "Total Spent,Total Orders,Note,Tax Exempt,Tags"
).split(",")


@dataclass
class LineItem:
    quantity: str
    name: str
    price: str
    sku: str = ""
    discount: str = "0.00"


@dataclass
class Order:
    name: str
    email: str
    created_at: str  # Shopify's "2011-10-03 09:15:00 +0100"
    lines: list[LineItem]
    currency: str = "GBP"
    financial_status: str = "paid"
    country: str = "GB"
    discount_code: str = ""
    discount_amount: str = "0.00"
    refunded_amount: str = "0.00"
    cancelled_at: str = ""
    notes: str = ""
    order_id: int = 0
    extra: dict[str, str] = field(default_factory=dict)


def _subtotal(order: Order) -> Decimal:
    return sum((Decimal(line.quantity) * Decimal(line.price) for line in order.lines if line.quantity.isdigit()), Decimal(0))


def render_orders(orders: list[Order]) -> bytes:
    """The orders as Shopify's orders export: one row per line item, fields quoted where needed."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(ORDER_HEADER)
    for order in orders:
        subtotal = _subtotal(order) - Decimal(order.discount_amount)
        for index, line in enumerate(order.lines):
            row = dict.fromkeys(ORDER_HEADER, "")
            row |= {
                "Name": order.name, "Email": order.email, "Created at": order.created_at,
                "Lineitem quantity": line.quantity, "Lineitem name": line.name, "Lineitem price": line.price,
                "Lineitem sku": line.sku, "Lineitem requires shipping": "true", "Lineitem taxable": "true",
                "Lineitem fulfillment status": "fulfilled" if not order.cancelled_at else "pending",
                "Vendor": "Marketflow Test Shop", "Lineitem discount": line.discount,
            }
            if index == 0:
                row |= {
                    "Financial Status": order.financial_status, "Paid at": order.created_at,
                    "Fulfillment Status": "fulfilled" if not order.cancelled_at else "unfulfilled",
                    "Accepts Marketing": "yes", "Currency": order.currency, "Subtotal": f"{subtotal:.2f}",
                    "Shipping": "4.95", "Taxes": f"{subtotal / 6:.2f}", "Total": f"{subtotal + Decimal('4.95'):.2f}",
                    "Discount Code": order.discount_code, "Discount Amount": order.discount_amount,
                    "Shipping Method": "Royal Mail 2nd Class", "Billing Name": "A Customer",
                    "Billing Address1": "1 High Street", "Billing City": "London", "Billing Zip": "N1 9GU",
                    "Billing Country": order.country, "Shipping Name": "A Customer",
                    "Shipping Address1": "1 High Street", "Shipping City": "London", "Shipping Zip": "N1 9GU",
                    "Shipping Country": order.country, "Notes": order.notes, "Cancelled at": order.cancelled_at,
                    "Payment Method": "Shopify Payments", "Refunded Amount": order.refunded_amount,
                    "Outstanding Balance": "0.00", "Id": str(order.order_id or 4000000000 + int(order.name.strip("#") or 0)),
                    "Risk Level": "Low", "Source": "web", "Tax 1 Name": "VAT 20%", "Tax 1 Value": f"{subtotal / 6:.2f}",
                } | order.extra
            writer.writerow([row[column] for column in ORDER_HEADER])
    return buffer.getvalue().encode("utf-8")


def render_customers(customers: list[tuple[str, bool]]) -> bytes:
    """(email, accepts e-mail marketing) pairs as Shopify's customers export."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CUSTOMER_HEADER)
    for number, (email, consent) in enumerate(customers, start=1):
        row = dict.fromkeys(CUSTOMER_HEADER, "") | {
            "Customer ID": str(7000000000 + number), "First Name": "A", "Last Name": "Customer", "Email": email,
            "Accepts Email Marketing": "yes" if consent else "no", "Default Address Country Code": "GB",
            "Accepts SMS Marketing": "no", "Total Spent": "0.00", "Total Orders": "0", "Tax Exempt": "no",
        }
        writer.writerow([row[column] for column in CUSTOMER_HEADER])
    return buffer.getvalue().encode("utf-8")


def shopify_time(timestamp: dt.datetime) -> str:
    """A UK wall-clock time as Shopify writes it, with the UK's offset that day (BST in summer)."""
    from zoneinfo import ZoneInfo

    aware = timestamp.replace(tzinfo=ZoneInfo("Europe/London"))
    return aware.strftime("%Y-%m-%d %H:%M:%S %z")
