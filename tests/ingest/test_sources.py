"""Source adapters on realistic exports of other platforms, through ingest on both backends: Shopify's
orders and customers exports (`corpus/shopify/`, every documented column, multi-line orders, a note
with a line break, discounts, a cancelled, a refunded and a partly refunded order, three currencies, a
product without SKU) and a WooCommerce export read through the shipped mapping
(`include/sources/woocommerce.yaml`: semicolons, decimal commas, day-first dates, returns, cancellations).

Each case checks what the warehouse holds line by line, that every bad record is quarantined with a
reason naming the source's own column, and that nothing is lost (records = loaded + quarantined).
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from marketflow.ingest import ExportFileError, IngestSettings, ingest_customers_day, ingest_orders_day
from marketflow.ingest.sources.shopify import customer_id_from_email
from marketflow.warehouse import schema
from tests.conftest import REPO

CORPUS = Path(__file__).with_name("corpus")
DAY = dt.date(2011, 10, 3)
WOOCOMMERCE = REPO / "include" / "sources" / "woocommerce.yaml"
JANE, SAM, LEE = (customer_id_from_email(email) for email in ("jane.doe@example.com", "sam@example.co.uk", "lee@example.com"))


def _settings(landing: Path, **overrides: object) -> IngestSettings:
    return IngestSettings.from_env(landing_url=str(landing), max_bad_row_share=0.25, **overrides)


def _orders(engine: Engine) -> dict[int, tuple]:
    o = schema.orders.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(o.source_line, o.invoice_no, o.stock_code, o.quantity, o.unit_price, o.customer_id, o.country,
                   o.is_return, o.invoice_ts).where(o.order_date == DAY)
        )
        return {row[0]: tuple(row[1:]) for row in rows}


def _quarantine(engine: Engine, kind: str) -> dict[int, str]:
    q = schema.quarantine.c
    with engine.connect() as conn:
        rows = conn.execute(select(q.source_line, q.reason).where(q.file_date == DAY, q.file_kind == kind))
        return dict(rows.all())


def test_a_shopify_orders_export_becomes_order_lines(module_warehouse: Engine, tmp_path: Path) -> None:
    shutil.copyfile(CORPUS / "shopify" / f"orders-{DAY}.csv", tmp_path / f"{DAY}.csv")
    report = ingest_orders_day(
        module_warehouse, str(tmp_path), DAY, _settings(tmp_path, source="shopify", exchange_rates={"EUR": 0.86})
    )
    rows = _orders(module_warehouse)
    quarantined = _quarantine(module_warehouse, "orders")

    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (14, 11, 3)
    assert quarantined == {
        13: "currency_is_shop_currency: Currency is not GBP and has no exchange rate (MARKETFLOW_INGEST_EXCHANGE_RATES)",
        15: "quantity_is_whole_number: Lineitem quantity is not a whole number",
        16: "invoice_date_is_file_date: Created at is not on the file's day",
    }
    # Multi-line order with an order-level discount, shared by line value; a note with a line break
    # does not split its record (line 3 is the note's second line).
    assert rows[2][:6] == ("#1001", "85123A", 6, pytest.approx(2.3012), JANE, "GB")
    assert rows[4][:6] == ("#1001", "22423", 2, pytest.approx(11.5062), JANE, "GB")
    assert rows[2][-1] == dt.datetime(2011, 10, 3, 9, 15, 2)
    assert 6 * rows[2][3] + 2 * rows[4][3] == pytest.approx(2.55 * 6 + 12.75 * 2 - 3.98, abs=0.001)
    # A guest checkout: no customer, product statistics only.
    assert rows[5][:6] == ("#1002", "47566", 1, 4.95, None, "GB")
    # A cancelled and a refunded order: bought and taken back, netting to nothing.
    for line in (6, 7, 8):
        bought, returned = rows[line], rows[-line]
        assert bought[2] > 0 and not bought[6] and returned[6] and returned[2] == -bought[2]
        assert returned[:2] == bought[:2] and returned[3:6] == bought[3:6]
    assert rows[8][4] == LEE
    # A partial refund: its own line discount, and one REFUND return line of the refunded amount.
    assert rows[9][:5] == ("#1005", "22086", 4, pytest.approx(2.45), JANE)
    assert rows[-9][:4] == ("#1005", "REFUND", -1, 5.0) and rows[-9][6]
    # A foreign currency converted at the configured rate; a product without a SKU gets a stable id.
    assert rows[12][:6] == ("#1006", "22423", 2, pytest.approx(14.90 * 0.86), customer_id_from_email("marie@example.fr"), "FR")
    assert rows[14][1].startswith("N-") and len(rows[14][1]) == 14
    assert sorted(rows) == [-9, -8, -7, -6, 2, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14]


def test_a_shopify_customers_export_gives_the_same_customer_ids(module_warehouse: Engine, tmp_path: Path) -> None:
    shutil.copyfile(CORPUS / "shopify" / f"customers-{DAY}.csv", tmp_path / f"customers-{DAY}.csv")
    report = ingest_customers_day(module_warehouse, str(tmp_path), DAY, _settings(tmp_path, source="shopify"))
    events = schema.consent_events.c
    with module_warehouse.connect() as conn:
        consent = dict(conn.execute(select(events.customer_id, events.marketing_consent).where(events.effective_date == DAY)).all())
    assert (report.rows_read, report.rows_loaded) == (5, 4)
    assert consent[JANE] is True and consent[SAM] is False and consent[LEE] is True
    assert _quarantine(module_warehouse, "customers")[6].startswith("customer_id_format: Email is not an id")


def test_a_mapped_woocommerce_export_becomes_order_lines(module_warehouse: Engine, tmp_path: Path) -> None:
    shutil.copyfile(CORPUS / "mapped" / f"woocommerce-{DAY}.csv", tmp_path / f"{DAY}.csv")
    settings = _settings(tmp_path, source="mapped", mapping_file=str(WOOCOMMERCE), exchange_rates={"EUR": 0.86})
    report = ingest_orders_day(module_warehouse, str(tmp_path), DAY, settings)
    rows = _orders(module_warehouse)

    assert (report.rows_read, report.rows_loaded, report.rows_quarantined) == (8, 6, 2)
    assert _quarantine(module_warehouse, "orders") == {
        7: "invoice_date_is_timestamp: Order Date is not a '%d/%m/%Y %H:%M' timestamp",
        9: "quantity_is_whole_number: Quantity is not a whole number",
    }
    assert rows[2] == ("1201", "85123A", 6, 2.55, "17850", "United Kingdom", False, dt.datetime(2011, 10, 3, 9, 12))
    assert rows[4][:2] == ("1202", "22423") and rows[-4][2] == -1 and rows[-4][6]  # cancelled: bought and returned
    assert rows[5][:3] == ("R-1180", "22086", -2) and rows[5][6] and -5 not in rows  # a return: reversed once
    assert rows[6][2:6] == (10, pytest.approx(4.95 * 0.86), None, "Germany")
    assert rows[8][2:4] == (1, 1275.0)  # "1.275,00" with a decimal comma and a thousands point


def test_an_export_missing_a_needed_column_is_refused_naming_file_and_column(module_warehouse: Engine, tmp_path: Path) -> None:
    text = (CORPUS / "shopify" / f"orders-{DAY}.csv").read_text().replace("Lineitem sku", "Variant SKU", 1)
    (tmp_path / f"{DAY}.csv").write_text(text)
    with pytest.raises(ExportFileError) as refused:
        ingest_orders_day(module_warehouse, str(tmp_path), DAY, _settings(tmp_path, source="shopify"))
    assert str(refused.value) == (
        f"{tmp_path / f'{DAY}.csv'}: header does not match Shopify's orders export: missing column(s) 'Lineitem sku'"
    )


@pytest.mark.parametrize(
    ("mapping", "problem"),
    [
        ("columns: {order_id: A}", "columns.product_id: Field required"),
        ("columns: {order_id: A, product_id: B, quantity: C, unit_price: D, timestamp: E}\ncountry: X\ntimestamp_format: '%H:%M'",
         "timestamp_format: Value error, must hold the day, month and year"),
        ("columns: {order_id: A, product_id: B, quantity: C, unit_price: D, timestamp: E}",
         "mapping: Value error, give columns.country or a constant country"),
        ("columns: {order_id: A, product_id: B, quantity: C, unit_price: D, timestamp: E}\ncountry: X\nreturns: {column: A}",
         "returns: Value error, give exactly one of prefix or values"),
        ("columns: [", "cannot be read"),
    ],
)
def test_a_bad_column_mapping_fails_naming_the_file_and_the_field(tmp_path: Path, mapping: str, problem: str) -> None:
    from marketflow.ingest.sources import source_for

    path = tmp_path / "mapping.yaml"
    path.write_text(mapping)
    with pytest.raises(ValueError, match="column mapping") as failed:
        source_for(IngestSettings(landing_url=str(tmp_path), source="mapped", mapping_file=str(path)))
    assert str(failed.value).startswith(f"column mapping {path}: ") and problem in str(failed.value)


def test_source_settings_are_validated_with_the_field_and_variable_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"mapping_file is required by, and only read for, source 'mapped'"):
        IngestSettings.from_env({"MARKETFLOW_INGEST_SOURCE": "mapped"})
    with pytest.raises(ValueError, match=r"exchange_rates \(from \$MARKETFLOW_INGEST_EXCHANGE_RATES\)"):
        IngestSettings.from_env({"MARKETFLOW_INGEST_EXCHANGE_RATES": '{"USD": 0}'})
    settings = IngestSettings.from_env({"MARKETFLOW_INGEST_SOURCE": "shopify", "MARKETFLOW_INGEST_EXCHANGE_RATES": '{"USD": 0.79}'})
    assert settings.source == "shopify" and settings.exchange_rates == {"USD": 0.79}
