"""What a `build_profiles` run checks before building and what it logs (which days it builds:
tests/test_days.py)."""

from __future__ import annotations

import datetime as dt

from marketflow.profiles.runs import missing_orders, segment_summary
from marketflow.warehouse import schema, warehouse_engine

DAY = dt.date(2011, 3, 4)


def _record(url: str, day: dt.date, kinds: tuple[str, ...], status: str = "loaded") -> None:
    with warehouse_engine(url).begin() as conn:
        conn.execute(
            schema.ingest_days.insert(),
            [{"file_date": day, "file_kind": kind, "status": status, "rows_read": 0, "rows_loaded": 0,
              "rows_quarantined": 0} for kind in kinds],
        )


def test_a_day_is_profiled_only_once_both_exports_are_ingested_or_it_was_closed(warehouse_url: str) -> None:
    engine = warehouse_engine(warehouse_url)
    saturday, sunday = DAY + dt.timedelta(days=1), DAY + dt.timedelta(days=2)
    _record(warehouse_url, DAY, ("orders",))
    _record(warehouse_url, saturday, ("orders", "customers"), status="no_trading")
    _record(warehouse_url, sunday, ("orders", "customers"), status="failed")
    problem = missing_orders(engine, [DAY, saturday, sunday])
    assert problem is not None
    assert "orders of 2 day(s) are not ingested: 2011-03-04, 2011-03-06" in problem
    assert "ingest_orders" in problem
    _record(warehouse_url, DAY, ("customers",))
    assert missing_orders(engine, [DAY, saturday]) is None


def test_segment_summary_lists_counts_and_shares() -> None:
    text = segment_summary(dt.date(2011, 10, 31), {"champions": 30, "lost": 10})
    assert "40 customers" in text
    assert "champions" in text and "75.0%" in text and "25.0%" in text
