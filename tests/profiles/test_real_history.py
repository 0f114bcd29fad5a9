"""Profiles on the real history built through Airflow, on PostgreSQL (the production backend).

With every order of the history (2010-12-01..2011-10-31) in the warehouse, one `rebuild_from`/`rebuild_to`
run builds the snapshots of its last month (each from all the orders up to its day), then the
daily run of 2011-10-31 must reproduce the rows the range run stored. SQLite gives the same
snapshots (tests/profiles/test_snapshots.py compares the two backends' rows).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

from marketflow.profiles.segments import SEGMENTS
from marketflow.profiles.warehouse import stored_segment_counts
from marketflow.warehouse import schema, warehouse_engine
from tests.airflow_runner import run_dag, task_states
from tests.conftest import postgres_only
from tests.profiles.real_orders import insert_orders

pytestmark = [pytest.mark.real_data, pytest.mark.slow]

FIRST, LAST = dt.date(2011, 10, 1), dt.date(2011, 10, 31)  # the days rebuilt


def rows_per_day(url: str, table) -> dict[dt.date, int]:
    with warehouse_engine(url).connect() as conn:
        query = select(table.c.as_of_date, func.count()).group_by(table.c.as_of_date)
        return dict(conn.execute(query).all())


def last_day_rows(url: str) -> list[tuple]:
    table = schema.customer_profiles
    with warehouse_engine(url).connect() as conn:
        query = select(table).where(table.c.as_of_date == LAST).order_by(table.c.customer_id)
        return [tuple(row) for row in conn.execute(query)]


@postgres_only
def test_profiles_of_the_real_history_build_through_airflow(
    warehouse_connection_env: str, airflow_db: Path, real_orders: pd.DataFrame
) -> None:
    url = warehouse_connection_env
    insert_orders(warehouse_engine(url), real_orders)
    conf = {"rebuild_from": str(FIRST), "rebuild_to": str(LAST)}
    run = run_dag("build_profiles", LAST + dt.timedelta(days=1), conf=conf)
    assert set(task_states(run).values()) == {"success"}

    days = [FIRST + dt.timedelta(days=offset) for offset in range((LAST - FIRST).days + 1)]
    for table in (schema.customer_profiles, schema.product_groups, schema.product_stats):
        counts = rows_per_day(url, table)
        assert sorted(counts) == days, table.name
    customers = rows_per_day(url, schema.customer_profiles)
    assert all(customers[a] <= customers[b] for a, b in zip(days, days[1:])), "customers only accumulate"
    assert customers[LAST] > 3900
    segments = stored_segment_counts(warehouse_engine(url), LAST)
    assert sum(segments.values()) == customers[LAST]
    assert all(segments[name] > 0 for name in SEGMENTS)

    range_built = last_day_rows(url)
    run = run_dag("build_profiles", LAST + dt.timedelta(days=1))
    assert set(task_states(run).values()) == {"success"}
    assert last_day_rows(url) == range_built
