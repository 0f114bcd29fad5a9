"""Ingest's `bulk_insert` (`COPY` written chunk by chunk on PostgreSQL, executemany on SQLite): a load
of several chunks stores every row as given, tricky text on the chunk boundaries included, and a row
the database refuses in a later chunk leaves nothing of the earlier ones."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from marketflow.ingest.bulk import COPY_CHUNK_ROWS, bulk_insert
from marketflow.ingest.store import ORDER_COLUMNS
from marketflow.warehouse import schema, warehouse_engine

TRICKY = ['say "hi", then\nleave', "back\\slash\\N", "ünïcødé £2.55", "NULL", ",", '"', "\r\n", None]
LINES = 2 * COPY_CHUNK_ROWS + 7


def _lines() -> pd.DataFrame:
    """`LINES` order lines of one day; the lines around each chunk boundary hold the tricky texts."""
    boundaries = {COPY_CHUNK_ROWS * k + offset for k in (1, 2) for offset in range(-4, 4)}
    descriptions = [TRICKY[i % len(TRICKY)] if i in boundaries else f"ITEM {i}" for i in range(LINES)]
    return pd.DataFrame({
        "order_date": "2011-03-01",
        "source_line": range(2, LINES + 2),
        "invoice_no": [f"5{i % 900:05d}" for i in range(LINES)],
        "stock_code": [f"{i % 3000:05d}" for i in range(LINES)],
        "description": pd.array(descriptions, dtype=object),
        "quantity": pd.array([(i % 11) - 2 for i in range(LINES)], dtype="Int64"),
        "invoice_ts": pd.Timestamp("2011-03-01 08:00") + pd.to_timedelta(range(LINES), unit="s"),
        "unit_price": [0.1 * (i % 97) for i in range(LINES)],
        "customer_id": pd.array([None if i % 5 == 0 else str(12000 + i % 400) for i in range(LINES)], dtype=object),
        "country": "United Kingdom",
        "is_return": [(i % 11) < 2 for i in range(LINES)],
        "source_file": "2011-03-01.csv",
    })


def _stored(engine) -> list[tuple]:
    o = schema.orders.c
    with engine.connect() as conn:
        return conn.execute(select(o.source_line, o.description, o.customer_id, o.quantity, o.unit_price, o.invoice_ts)
                            .order_by(o.source_line)).all()


def test_a_load_of_several_chunks_stores_every_row_as_given(warehouse_url: str) -> None:
    engine = warehouse_engine(warehouse_url)
    lines = _lines()
    with engine.begin() as conn:
        bulk_insert(conn, "orders", ORDER_COLUMNS, lines)
    stored = _stored(engine)
    assert len(stored) == LINES
    missing_as_none = lines.astype(object).where(lines.notna(), None)
    expected = list(zip(
        missing_as_none["source_line"], missing_as_none["description"], missing_as_none["customer_id"],
        missing_as_none["quantity"], lines["unit_price"], lines["invoice_ts"].dt.to_pydatetime(),
    ))
    assert stored == expected
    assert {row[1] for row in stored} >= set(TRICKY), "each tricky text, None as NULL, came through"


def test_a_row_refused_in_a_later_chunk_leaves_nothing(warehouse_url: str) -> None:
    engine = warehouse_engine(warehouse_url)
    lines = _lines()
    lines.loc[LINES - 1, "invoice_no"] = None  # the last chunk's last line breaks a NOT NULL
    with pytest.raises(DBAPIError, match="invoice_no"):
        with engine.begin() as conn:
            bulk_insert(conn, "orders", ORDER_COLUMNS, lines)
    assert _stored(engine) == []
