"""The daily erasure-requests export: what a well-formed file asks, what a malformed one says, and
that applying a day's file twice erases once (the DAG's part is in tests/ingest/test_dag.py)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, insert, select

from marketflow.ingest.landing import Landing
from marketflow.privacy.requests import ErasureRequestsMalformed, apply_erasure_requests, parse_requests
from marketflow.warehouse import schema, warehouse_engine

DAY = dt.date(2011, 3, 1)
URL = "landing/erasure-requests-2011-03-01.csv"


def test_a_file_lists_its_requests_with_their_lines() -> None:
    content = b"\xef\xbb\xbfcustomer_id,requested_at,reference\n17850.0,2011-03-01T09:00:00,ticket 1\n 12345 ,2011-03-01,\n"
    requests = parse_requests(content, URL)
    assert [(r.customer_id, r.requested_at, r.reference, r.line) for r in requests] == [
        ("17850", "2011-03-01T09:00:00", "ticket 1", 2),
        ("12345", "2011-03-01", "", 3),
    ]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"customer,requested_at\n1,2011-03-01\n", "missing column(s) customer_id, reference"),
        (b"customer_id,requested_at,reference\n17850,yesterday,t\n", "line 2: requested_at 'yesterday' is not an ISO date"),
        (b"customer_id,requested_at,reference\n17850,2011-03-01,t,extra\n", "line 2: not one request per line"),
        (b"customer_id,requested_at,reference\n\xff\xfe,2011-03-01,t\n", "not UTF-8 text"),
    ],
)
def test_a_malformed_file_is_refused_naming_the_file_and_problem(content: bytes, problem: str) -> None:
    with pytest.raises(ErasureRequestsMalformed, match=f"^{URL}: .*") as refused:
        parse_requests(content, URL)
    assert problem in str(refused.value)


def test_applying_a_days_file_twice_erases_once_and_a_day_without_a_file_has_no_requests(
    warehouse_url: str, tmp_path: Path
) -> None:
    engine = warehouse_engine(warehouse_url)
    with engine.begin() as conn:
        conn.execute(insert(schema.customers).values(customer_id="17850", first_order_date=DAY, last_order_date=DAY,
                                                     country="United Kingdom"))
    landing = Landing(str(tmp_path))
    (tmp_path / f"erasure-requests-{DAY}.csv").write_text("customer_id,requested_at,reference\n17850,2011-03-01,t 9\n")
    key = b"k" * 40
    first = apply_erasure_requests(engine, landing, DAY, lambda: key, None)
    again = apply_erasure_requests(engine, landing, DAY, lambda: key, None)
    assert (first["erased"], first["already_erased"]) == (1, 0)
    assert (again["erased"], again["already_erased"]) == (0, 1)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(schema.erasures)).scalar_one() == 1
        assert conn.execute(select(func.count()).select_from(schema.customers)).scalar_one() == 0

    def no_key() -> bytes:
        raise AssertionError("a day without requests needs no key")

    assert apply_erasure_requests(engine, landing, DAY + dt.timedelta(days=1), no_key, None)["present"] is False
