"""`prepare_history`'s basket lines: one row per (customer, invoice, product, day) in the order the
per-customer code relies on (customer with guests last, product, day, invoice), quantities and
values summed, whatever order the warehouse returned the lines in."""

from __future__ import annotations

import pandas as pd

from marketflow.profiles.history import prepare_history
from marketflow.profiles.settings import ProfileSettings
from tests.profiles.factories import line, orders

LINES = [
    line("2011-02-01", "300", "10002", 1, 5.00, "2"),
    line("2011-01-03", "100", "10001", 2, 1.10, "1"),
    line("2011-01-03", "C101", "10001", -1, 1.10, "1"),  # a return: not a basket line
    line("2011-02-01", "200", "10001", 1, 1.10, None),  # a guest
    line("2011-01-03", "100", "10001", 3, 1.10, "1"),  # the same product twice in one invoice
    line("2011-01-03", "100", "POST", 1, 18.00, "1"),  # a service: not a basket line
    line("2011-01-10", "102", "10001", 4, 1.20, "1"),
    line("2011-01-03", "100", "10002", 1, 5.00, "1"),
    line("2011-01-03", "099", "10002", 2, 5.00, "1"),  # an earlier invoice number, same day
]


def basket(lines: list[dict]) -> list[tuple]:
    frame = prepare_history(orders(*lines), ProfileSettings()).basket_lines
    assert isinstance(frame["customer_id"].dtype, pd.CategoricalDtype)
    day = pd.Timestamp("1970-01-01")
    return [
        (row.customer_id if isinstance(row.customer_id, str) else None, row.invoice_no, row.stock_code,
         str((day + pd.Timedelta(days=int(row.day))).date()), row.units, row.value)
        for row in frame.itertuples()
    ]


EXPECTED = [
    ("1", "100", "10001", "2011-01-03", 5, 5.5),
    ("1", "102", "10001", "2011-01-10", 4, 4.8),
    ("1", "099", "10002", "2011-01-03", 2, 10.0),
    ("1", "100", "10002", "2011-01-03", 1, 5.0),
    ("2", "300", "10002", "2011-02-01", 1, 5.0),
    (None, "200", "10001", "2011-02-01", 1, 1.1),
]


def test_basket_lines_are_summed_per_invoice_product_and_sorted_with_guests_last() -> None:
    assert basket(LINES) == EXPECTED


def test_basket_lines_do_not_depend_on_the_order_the_lines_come_in() -> None:
    assert basket(LINES[::-1]) == EXPECTED
    assert basket(LINES[3:] + LINES[:3]) == EXPECTED


def test_no_purchases_give_no_basket_lines() -> None:
    assert basket([LINES[2]]) == []
