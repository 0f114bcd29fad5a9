"""The bench's scaled day (bench/ingest/scaled_day.py) is a real day file to our reader: every copy
of a line parses, under its own customer and invoice, and the export is the same on every run."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from marketflow.ingest.parsing import parse_orders
from marketflow.ingest.sources.online_retail import CUSTOMER_ID, INVOICE_NO, read_orders

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.ingest.scaled_day import scaled_day  # noqa: E402

DAY = b"""InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country
536365,85123A,"WHITE HANGING HEART T-LIGHT HOLDER, LARGE",6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom
536365,71053,WHITE METAL LANTERN,6,2010-12-01 08:26:00,3.39,17850.0,United Kingdom
C536379,D,Discount,-1,2010-12-01 09:41:00,27.5,14527.0,United Kingdom
536414,22139,,56,2010-12-01 11:52:00,0.0,,United Kingdom
"""


def test_every_copy_parses_under_its_own_customer_and_invoice() -> None:
    export = read_orders(scaled_day(DAY, 3), "scaled.csv", "GBP")
    rows = parse_orders(export)

    assert not export.rejected and len(rows) == 12
    assert rows["invoice_no"].str.fullmatch(INVOICE_NO).all()
    assert rows["customer_id"].dropna().str.fullmatch(CUSTOMER_ID).all()
    assert sorted(rows["customer_id"].dropna().unique()) == [
        "114527", "117850", "14527", "17850", "214527", "217850"
    ]
    assert rows["invoice_no"].nunique() == 9 and rows["is_return"].sum() == 3
    assert rows["customer_id"].isna().sum() == 3  # a guest line stays a guest's in every copy
    # the quoted description survives the rewrite; lines stay in time order
    assert (rows["description"] == "WHITE HANGING HEART T-LIGHT HOLDER, LARGE").sum() == 3
    assert rows["invoice_ts"].is_monotonic_increasing
    assert rows["duplicate_of"].isna().all()


def test_variants_grow_the_catalogue_but_not_the_services() -> None:
    export = read_orders(scaled_day(DAY, 4, variants=2), "scaled.csv", "GBP")
    rows = parse_orders(export)

    assert not export.rejected and len(rows) == 16
    # copies 0 and 2 buy the real products, copies 1 and 3 their variant 1; the discount stays a service
    assert sorted(rows["stock_code"].unique()) == ["22139", "71053", "85123A", "D", "V1_22139", "V1_71053", "V1_85123A"]
    assert (rows["stock_code"] == "V1_85123A").sum() == 2
    assert (rows["stock_code"] == "D").sum() == 4
    assert scaled_day(DAY, 4, variants=1) == scaled_day(DAY, 4)


def test_the_same_day_always_gives_the_same_export() -> None:
    assert scaled_day(DAY, 4) == scaled_day(DAY, 4)
    assert scaled_day(DAY, 1).splitlines() == DAY.splitlines()


def test_too_many_copies_for_six_digit_invoices_are_refused() -> None:
    with pytest.raises(ValueError, match="6-digit"):
        scaled_day(DAY, 200_000)
