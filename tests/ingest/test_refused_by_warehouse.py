"""Rows the warehouse itself refuses (a constraint, a trigger, a type the rules did not foresee) fail
the day with the database's reason and the file, record it as `failed`, and publish nothing."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select, text

from marketflow.ingest import IngestError, IngestSettings, ingest_orders_day
from marketflow.warehouse import schema, warehouse_engine

CORPUS = Path(__file__).with_name("corpus")
DAY = dt.date(2011, 3, 1)
#: A real database-side refusal: a trigger that rejects one product's lines.
TRIGGERS = {
    "sqlite": [
        "CREATE TRIGGER refuse_doormats BEFORE INSERT ON orders WHEN NEW.stock_code = '21955' "
        "BEGIN SELECT RAISE(ABORT, 'doormats are not sold here'); END",
    ],
    "postgresql": [
        "CREATE FUNCTION refuse_doormats() RETURNS trigger AS $$ BEGIN IF NEW.stock_code = '21955' THEN "
        "RAISE EXCEPTION 'doormats are not sold here'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER refuse_doormats BEFORE INSERT ON orders FOR EACH ROW EXECUTE FUNCTION refuse_doormats()",
    ],
}


def test_a_day_the_warehouse_refuses_fails_naming_the_file_and_the_reason(warehouse_url: str, tmp_path: Path) -> None:
    engine = warehouse_engine(warehouse_url)
    with engine.begin() as conn:
        for statement in TRIGGERS[engine.dialect.name]:
            conn.execute(text(statement))
    shutil.copyfile(CORPUS / "valid_day.csv", tmp_path / f"{DAY}.csv")
    with pytest.raises(IngestError) as refused:
        ingest_orders_day(engine, str(tmp_path), DAY, IngestSettings.from_env(landing_url=str(tmp_path)))
    message = str(refused.value)
    assert f"{tmp_path / f'{DAY}.csv'}: the warehouse refused the rows, nothing was published" in message
    assert "doormats are not sold here" in message
    days, orders = schema.ingest_days, schema.orders
    with engine.connect() as conn:
        status, rows_read, rows_loaded, detail = conn.execute(
            select(days.c.status, days.c.rows_read, days.c.rows_loaded, days.c.detail).where(days.c.file_date == DAY)
        ).one()
        published = conn.execute(select(orders.c.source_line).where(orders.c.order_date == DAY)).all()
    assert (status, rows_read, rows_loaded, published) == ("failed", 22, 0, [])
    assert "doormats are not sold here" in detail and str(tmp_path) in detail
