"""The re-order rule on the real order history, on both backends, against an independent pandas count."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from marketflow.audiences.selection import due_repeat_products
from marketflow.campaigns.config import RepeatProductDue
from marketflow.profiles.settings import DEFAULT_SERVICE_CODES
from marketflow.warehouse import schema, warehouse_engine

DAY = dt.date(2011, 10, 4)


@pytest.fixture(scope="module")
def real_lines(real_data_dir: Path) -> list[dict[str, Any]]:
    """Order lines of every tenth customer (ids ending in 7) over the whole history, as `orders` rows."""
    lines = []
    for path in sorted(real_data_dir.glob("*.csv")):
        day = dt.date.fromisoformat(path.stem)
        with path.open(newline="") as handle:
            for number, row in enumerate(csv.DictReader(handle), start=2):
                customer = row["CustomerID"].removesuffix(".0")
                if not customer.endswith("7"):
                    continue
                lines.append({
                    "order_date": day, "source_line": number, "invoice_no": row["InvoiceNo"], "stock_code": row["StockCode"],
                    "description": row["Description"].strip() or None, "quantity": int(row["Quantity"]),
                    "invoice_ts": dt.datetime.fromisoformat(row["InvoiceDate"]), "unit_price": float(row["UnitPrice"]),
                    "customer_id": customer, "country": row["Country"], "is_return": row["InvoiceNo"].startswith("C"),
                    "source_file": path.name,
                })
    return lines


def _catalogue(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for line in sorted(lines, key=lambda r: (r["order_date"], r["source_line"])):
        entry = latest.setdefault(line["stock_code"], {"stock_code": line["stock_code"], "description": None, "unit_price": None,
                                                       "first_seen": line["order_date"], "last_seen": line["order_date"]})
        entry["last_seen"] = line["order_date"]
        if line["description"]:
            entry["description"] = line["description"]
        if line["unit_price"] > 0:
            entry["unit_price"] = line["unit_price"]
    return list(latest.values())


def _expected(
    lines: list[dict[str, Any]], catalogue: list[dict[str, Any]], rule: RepeatProductDue, *, services: bool = False
) -> dict[tuple[str, str], float]:
    """Due (customer, product) pairs counted with pandas; services (postage...) only if `services`."""
    showable = {p["stock_code"] for p in catalogue if p["description"] and p["unit_price"]}
    if not services:
        showable -= set(DEFAULT_SERVICE_CODES)
    frame = pd.DataFrame(lines)
    bought = frame[~frame.is_return & (frame.quantity > 0) & (frame.order_date <= DAY) & frame.stock_code.isin(showable)]
    per = bought.groupby(["customer_id", "stock_code"]).order_date.agg(days="nunique", first="min", last="max").reset_index()
    per = per[(per.days >= rule.min_purchase_days) & (per["last"] >= DAY - dt.timedelta(days=rule.max_days_since_last))]
    gap = per.apply(lambda r: (r["last"] - r["first"]).days / (r["days"] - 1), axis=1)
    since = per["last"].map(lambda d: (DAY - d).days)
    due = per[(gap > 0) & (since >= rule.overdue_factor * gap)]
    return {(r.customer_id, r.stock_code): g for r, g in zip(due.itertuples(), gap[due.index])}


def test_due_repeat_products_on_the_real_history_match_an_independent_count(warehouse_url: str, real_lines: list[dict[str, Any]]) -> None:
    engine = warehouse_engine(warehouse_url)
    catalogue = _catalogue(real_lines)
    with engine.begin() as conn:
        conn.execute(schema.products.insert(), catalogue)
        conn.execute(schema.orders.insert(), real_lines)
    rule = RepeatProductDue(min_purchase_days=3, overdue_factor=1.0, max_days_since_last=120)
    with engine.connect() as conn:
        due = due_repeat_products(conn, DAY, rule)
    found = {(customer, p.stock_code): p.average_gap_days for customer, products in due.items() for p in products}
    expected = _expected(real_lines, catalogue, rule)
    assert len(expected) > 50, "the slice should hold plenty of regular re-orders"
    assert any(code == "POST" for _, code in _expected(real_lines, catalogue, rule, services=True)), (
        "some regulars pay postage often enough to look due: the rule must leave it out"
    )
    assert found.keys() == expected.keys()
    assert all(found[key] == pytest.approx(expected[key]) for key in expected)
    for products in due.values():  # most overdue first
        ratios = [p.days_since(DAY) / p.average_gap_days for p in products]
        assert ratios == sorted(ratios, reverse=True)
