"""The scale bench's earlier years of history (bench/scale/run.py `add_earlier_years`) are what
ingest itself stores when it loads those days' exports: real days moved 48 weeks earlier, loaded
through the ingest path, give the same order lines and the same derived product, customer and
ingest-day rows (invoice numbers aside: the bench suffixes them so a year's invoices stay apart)."""

from __future__ import annotations

import csv
import datetime as dt
import sys
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

from marketflow.ingest.days import ingest_files
from marketflow.ingest.landing import FileKind
from marketflow.ingest.settings import IngestSettings
from marketflow.warehouse import upgrade_to_head, warehouse_engine
from tests.scratch_db import scratch_database

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from bench.scale.run import YEAR_SHIFT_DAYS, add_earlier_years  # noqa: E402

pytestmark = pytest.mark.postgres

#: Three real days, one with a cancellation and guests' lines (2010-12-01 has both).
REAL_DAYS = [dt.date(2010, 12, 1), dt.date(2010, 12, 2), dt.date(2010, 12, 3)]
SHIFT = dt.timedelta(days=YEAR_SHIFT_DAYS)


def _write_moved_day(source: Path, landing: Path, day: dt.date) -> None:
    """The real export of `day` as the export of `day` - 48 weeks: file name and invoice times moved."""
    with source.open(newline="", encoding="utf-8") as real, (landing / f"{day - SHIFT}.csv").open(
        "w", newline="", encoding="utf-8"
    ) as moved:
        rows = csv.reader(real)
        writer = csv.writer(moved)
        header = next(rows)
        writer.writerow(header)
        at = header.index("InvoiceDate")
        for row in rows:
            row[at] = (dt.datetime.fromisoformat(row[at]) - SHIFT).isoformat(sep=" ")
            writer.writerow(row)


def _ingest(url: str, landing: Path, days: list[dt.date]) -> None:
    engine = warehouse_engine(url)
    upgrade_to_head(engine)
    ingest_files(engine, str(landing), FileKind.ORDERS, days, IngestSettings())
    engine.dispose()


def _rows(url: str, query: str) -> pd.DataFrame:
    engine = warehouse_engine(url)
    with engine.connect() as conn:
        frame = pd.read_sql(text(query), conn)
    engine.dispose()
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


QUERIES = {
    "orders": "SELECT order_date, source_line, regexp_replace(invoice_no, 'Y1$', '') AS invoice_no, stock_code, "
    "description, quantity, invoice_ts, unit_price, customer_id, country, is_return, "
    "regexp_replace(source_file, '^.*/', '') AS file_name FROM orders",
    "product_days": "SELECT * FROM product_days",
    "product_day_descriptions": "SELECT * FROM product_day_descriptions",
    "products": "SELECT * FROM products",
    "customers": "SELECT * FROM customers",
    "ingest_days": "SELECT file_date, file_kind, status, regexp_replace(source_file, '^.*/', '') AS file_name, "
    "rows_read, rows_loaded, rows_quarantined, validation_success FROM ingest_days",
}


def test_earlier_years_are_what_ingest_stores_for_those_days(
    postgres_server_url: str, real_data_dir: Path, tmp_path: Path
) -> None:
    real, moved = tmp_path / "real", tmp_path / "moved"
    real.mkdir()
    moved.mkdir()
    for day in REAL_DAYS:
        for landing in (real, moved):
            (landing / f"{day}.csv").symlink_to(real_data_dir / f"{day}.csv")
        _write_moved_day(real_data_dir / f"{day}.csv", moved, day)
    with scratch_database(postgres_server_url) as bench, scratch_database(postgres_server_url) as ingested:
        _ingest(bench, real, REAL_DAYS)
        add_earlier_years(warehouse_engine(bench), 2)
        _ingest(ingested, moved, sorted([day - SHIFT for day in REAL_DAYS] + REAL_DAYS))

        for table, query in QUERIES.items():
            expected, found = _rows(ingested, query), _rows(bench, query)
            pd.testing.assert_frame_equal(found, expected, obj=table)
        orders = _rows(bench, "SELECT order_date, invoice_no FROM orders")
    earlier = orders[orders["order_date"] < REAL_DAYS[0]]
    assert len(earlier) == len(orders) // 2 > 0 and earlier["invoice_no"].str.endswith("Y1").all()
    assert sorted(set(earlier["order_date"])) == [day - SHIFT for day in REAL_DAYS]
