"""The sample's real order files (and its synthetic CRM files) rewritten as other platforms' exports:
Shopify's orders and customers exports, and a WooCommerce export read through the shipped mapping
(`include/sources/woocommerce.yaml`). The same purchases, so the pipeline's results can be compared."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict

from tests.ingest.shopify_export import LineItem, Order, render_customers, render_orders, shopify_time

WOOCOMMERCE_HEADER = (
    "Order Number", "Order Status", "Order Date", "Customer User ID", "Billing Country", "Order Currency",
    "SKU", "Item Name", "Quantity", "Item Cost",
)


def _rows(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))


def crm_emails(crm_files: list[bytes]) -> dict[str, str]:
    """CustomerID -> e-mail address, from the standard CRM exports."""
    return {row["CustomerID"]: row["Email"] for content in crm_files for row in _rows(content)}


def as_shopify_orders(content: bytes, emails: dict[str, str]) -> bytes:
    """A day's orders as Shopify's export: each invoice an order (cancellation invoices, which Shopify
    has no equivalent of, are left out), its customer known by e-mail address."""
    lines: dict[str, list[dict[str, str]]] = defaultdict(list)
    for row in _rows(content):
        if not row["InvoiceNo"].startswith("C"):
            lines[row["InvoiceNo"]].append(row)
    orders = []
    for invoice, rows in lines.items():
        first = rows[0]
        customer = first["CustomerID"].removesuffix(".0")
        orders.append(Order(
            name=f"#{invoice}",
            email=emails.get(customer, "") if customer else "",
            created_at=shopify_time(dt.datetime.fromisoformat(first["InvoiceDate"])),
            lines=[LineItem(row["Quantity"], row["Description"], row["UnitPrice"], row["StockCode"]) for row in rows],
            country=first["Country"],
        ))
    return render_orders(orders)


def as_shopify_customers(content: bytes) -> bytes:
    return render_customers([(row["Email"], row["MarketingConsent"].lower() == "true") for row in _rows(content)])


def _comma(value: str) -> str:
    return value.replace(".", ",")


def as_woocommerce_orders(content: bytes) -> bytes:
    """A day's orders as a WooCommerce export (semicolons, decimal commas, day-first dates); a
    cancellation invoice becomes a return order `R-<number>` with positive quantities."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\n")
    writer.writerow(WOOCOMMERCE_HEADER)
    for row in _rows(content):
        invoice = row["InvoiceNo"]
        returned = invoice.startswith("C")
        writer.writerow([
            f"R-{invoice[1:]}" if returned else invoice,
            "completed",
            dt.datetime.fromisoformat(row["InvoiceDate"]).strftime("%d/%m/%Y %H:%M"),
            row["CustomerID"].removesuffix(".0"),
            row["Country"],
            "GBP",
            row["StockCode"],
            row["Description"],
            row["Quantity"].lstrip("-") if returned else row["Quantity"],
            _comma(row["UnitPrice"]),
        ])
    return buffer.getvalue().encode("utf-8")
