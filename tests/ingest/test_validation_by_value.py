"""GX judges each distinct value (or value pair) of a batch once; every row holding a failing value
must still be quarantined with that rule, nulls included, across the days of the batch."""

from __future__ import annotations

from marketflow.ingest.parsing import parse_orders
from marketflow.ingest.sources.online_retail import ORDERS_CHECKS, ORDERS_COLUMNS, read_orders
from marketflow.quality import validate_files
from marketflow.quality.suites import orders_suite

HEADER = ",".join(ORDERS_COLUMNS)


def _day(day: str, lines: list[str]) -> object:
    export = read_orders(("\n".join([HEADER, *lines]) + "\n").encode(), f"{day}.csv", "GBP")
    frame = parse_orders(export)
    frame.insert(1, "file_date", day)
    return frame


def test_every_row_with_a_failing_value_is_quarantined_on_its_own_day() -> None:
    import pandas as pd

    first = _day("2011-03-01", [
        "540001,22139,TEA SET,6,2011-03-01 09:00:00,2.5,abc,United Kingdom",   # 2: bad customer
        "540001,22139,TEA SET,x,2011-03-01 09:00:00,2.5,17850,United Kingdom",  # 3: quantity not a number
        "540002,22140,MUG,2,2011-03-01 09:05:00,1.0,17850,",                     # 4: no country
        "540003,22141,JUG,1,2011-03-02 09:05:00,1.0,17850,France",              # 5: not the file's day
        "540004,22142,CUP,3,2011-03-01 10:00:00,0.5,12345,France",              # 6: fine
    ])
    second = _day("2011-03-02", [
        "540005,22139,TEA SET,6,2011-03-02 09:00:00,2.5,abc,United Kingdom",   # 2: the same bad customer
        "540006,22143,PLATE,y,2011-03-02 09:00:00,2.5,12345,France",           # 3: quantity not a number
        "540007,22144,BOWL,1,2011-03-02 09:30:00,-1.0,12345,",                  # 4: no country, negative price
        "540008,22145,SPOON,1,2011-03-02 11:00:00,1.0,12345,France",            # 5: fine (its own day)
    ])
    verdicts = validate_files(orders_suite(ORDERS_CHECKS), pd.concat([first, second], ignore_index=True))
    failing = {verdict.rule: verdict.failing for verdict in verdicts.verdicts if verdict.failing}

    assert failing == {
        "customer_id_format": {"2011-03-01": (2,), "2011-03-02": (2,)},
        "quantity_is_whole_number": {"2011-03-01": (3,), "2011-03-02": (3,)},
        "country_present": {"2011-03-01": (4,), "2011-03-02": (4,)},
        "invoice_date_is_file_date": {"2011-03-01": (5,)},
        "unit_price_not_negative": {"2011-03-02": (4,)},
    }
