"""What a day's load means for the warehouse: exact replacement, derived tables independent of load
order, returns and guests kept, CRM history kept with the latest record winning, any fsspec URL."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import fsspec
from sqlalchemy import Engine, select

from marketflow.ingest import IngestSettings, ingest_customers_day, ingest_history, ingest_orders_day
from marketflow.warehouse import schema, warehouse_engine
from tests.conftest import copy_days
from tests.ingest.warehouse_state import table_fingerprints

WEEK = [dt.date(2011, 3, 1) + dt.timedelta(days=offset) for offset in range(7)]  # Tue..Mon, Saturday closed


def _rows(engine: Engine, table, *where) -> list[tuple]:
    with engine.connect() as conn:
        rows = conn.execute(select(table).where(*where).order_by(*table.primary_key.columns))
        return [tuple(row) for row in rows]


def test_reloading_newest_first_gives_the_same_warehouse_as_loading_in_order(
    warehouse_url: str, real_landing: Path, tmp_path: Path
) -> None:
    landing = copy_days(real_landing, tmp_path / "landing", [day for day in WEEK if day.weekday() != 5])
    engine = warehouse_engine(warehouse_url)
    ingest_history(engine, str(landing), WEEK[0], WEEK[-1])
    in_order = table_fingerprints(engine)
    ingest_history(engine, str(landing), WEEK[0], WEEK[-1], newest_first=True)
    assert table_fingerprints(engine) == in_order


def test_a_re_exported_day_replaces_the_old_one_and_the_keys_it_lost(
    warehouse_url: str, real_landing: Path, tmp_path: Path
) -> None:
    day = WEEK[0]
    landing = copy_days(real_landing, tmp_path / "landing", [day])
    engine = warehouse_engine(warehouse_url)
    settings = IngestSettings.from_env(landing_url=str(landing))
    ingest_orders_day(engine, str(landing), day, settings)
    lines = (landing / f"{day}.csv").read_text().splitlines(keepends=True)
    dropped_code, dropped_customer = "21955", "14620"
    kept = [
        line for line in lines if f",{dropped_code}," not in line and f",{dropped_customer}.0," not in line
    ]
    assert len(kept) < len(lines)
    (landing / f"{day}.csv").write_text("".join(kept))

    report = ingest_orders_day(engine, str(landing), day, settings)
    assert report.rows_read == len(kept) - 1
    assert _rows(engine, schema.products, schema.products.c.stock_code == dropped_code) == []
    assert _rows(engine, schema.customers, schema.customers.c.customer_id == dropped_customer) == []
    loaded = _rows(engine, schema.orders, schema.orders.c.order_date == day)
    assert len(loaded) == report.rows_loaded


def test_returns_are_kept_and_guests_never_become_customers(
    warehouse_url: str, real_landing: Path, tmp_path: Path
) -> None:
    day = WEEK[0]
    landing = copy_days(real_landing, tmp_path / "landing", [day])
    engine = warehouse_engine(warehouse_url)
    ingest_orders_day(engine, str(landing), day, IngestSettings.from_env(landing_url=str(landing)))
    o = schema.orders
    with engine.connect() as conn:
        returns = conn.execute(select(o.c.invoice_no, o.c.quantity).where(o.c.is_return)).all()
        guests = conn.execute(select(o.c.source_line).where(o.c.customer_id.is_(None))).all()
        customers = set(conn.execute(select(schema.customers.c.customer_id)).scalars())
        ordering = set(conn.execute(select(o.c.customer_id).where(o.c.customer_id.is_not(None))).scalars())
    assert returns and all(invoice.startswith("C") and quantity < 0 for invoice, quantity in returns)
    assert guests
    assert customers == ordering


def test_crm_history_is_kept_and_the_latest_record_wins_whatever_the_load_order(
    warehouse_url: str, tmp_path: Path
) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    first, second = WEEK[0], WEEK[1]
    header = "CustomerID,Email,MarketingConsent\n"
    (landing / f"customers-{first}.csv").write_text(
        header + "12428,old@example.com,true\n13047,a@example.com,false\n"
    )
    (landing / f"customers-{second}.csv").write_text(header + "12428,new@example.com,false\n")
    engine = warehouse_engine(warehouse_url)
    settings = IngestSettings.from_env(landing_url=str(landing))
    for day in (second, first):  # the older file arrives last
        ingest_customers_day(engine, str(landing), day, settings)
    events = schema.consent_events
    assert [(row[0], row[1], row[2], row[3]) for row in _rows(engine, events)] == [
        ("12428", first, True, "old@example.com"),
        ("12428", second, False, "new@example.com"),
        ("13047", first, False, "a@example.com"),
    ]
    assert _rows(engine, schema.customer_contacts) == [
        ("12428", "new@example.com", second),
        ("13047", "a@example.com", first),
    ]


def test_exports_are_read_through_any_fsspec_url(warehouse_url: str, real_landing: Path) -> None:
    day = WEEK[0]
    fs = fsspec.filesystem("memory")
    for name in (f"{day}.csv", f"customers-{day}.csv"):
        fs.pipe(f"/shop-exports/{name}", (real_landing / name).read_bytes())
    engine = warehouse_engine(warehouse_url)
    url = "memory://shop-exports"
    try:
        orders = ingest_orders_day(engine, url, day, IngestSettings.from_env(landing_url=url))
        crm = ingest_customers_day(engine, url, day, IngestSettings.from_env(landing_url=url))
    finally:
        fs.rm("/shop-exports", recursive=True)
    assert orders.source_file == f"memory://shop-exports/{day}.csv"
    assert orders.rows_loaded > 1000 and crm.rows_loaded > 10
    assert len(_rows(engine, schema.orders)) == orders.rows_loaded
