"""A day's snapshot in the warehouse, on SQLite and PostgreSQL, from the real history: later orders
and consent changes never alter it, building it within a range of days gives the same rows as
building it alone, and rebuilding it is a no-op."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from marketflow.profiles.settings import ProfileSettings
from marketflow.profiles.warehouse import build_days
from marketflow.warehouse import schema, upgrade_to_head, warehouse_engine
from tests.profiles.real_orders import insert_orders

pytestmark = pytest.mark.real_data

DAY = dt.date(2011, 1, 20)
START = dt.date(2010, 12, 1)
# CLV from 30 days of history, so the January snapshot has lifetime values to compare
SETTINGS = ProfileSettings(clv_min_history_days=30)
SNAPSHOT_TABLES = (schema.customer_profiles, schema.product_groups, schema.product_stats)


def stored(engine: Engine, day: dt.date) -> dict[str, list[tuple]]:
    """Every stored row of the day's snapshot, in primary-key order."""
    rows = {}
    with engine.connect() as conn:
        for table in SNAPSHOT_TABLES:
            query = select(table).where(table.c.as_of_date == day).order_by(*table.primary_key.columns)
            rows[table.name] = [tuple(row) for row in conn.execute(query)]
    return rows


def add_consent(engine: Engine, events: list[tuple[str, dt.date, bool]]) -> None:
    with engine.begin() as conn:
        conn.execute(
            schema.consent_events.insert(),
            [
                {"customer_id": c, "effective_date": d, "marketing_consent": v, "source_file": f"customers-{d}.csv"}
                for c, d, v in events
            ],
        )


def orders_between(real_orders: pd.DataFrame, first: dt.date, last: dt.date) -> pd.DataFrame:
    return real_orders[(real_orders["order_date"] >= first) & (real_orders["order_date"] <= last)]


def test_later_orders_and_consent_changes_leave_an_earlier_snapshot_unchanged(
    warehouse_url: str, real_orders: pd.DataFrame
) -> None:
    engine = warehouse_engine(warehouse_url)
    insert_orders(engine, orders_between(real_orders, START, DAY))
    add_consent(engine, [("17850", START, True), ("13047", dt.date(2011, 1, 5), True)])
    build_days(engine, [DAY - dt.timedelta(days=2), DAY - dt.timedelta(days=1), DAY], SETTINGS)
    before = stored(engine, DAY)
    assert len(before["customer_profiles"]) > 800
    assert all(row[-2] is not None for row in before["customer_profiles"]), "CLV columns should be filled"
    consent = {row[1]: row[15] for row in before["customer_profiles"]}
    assert consent["17850"] is True and consent["13047"] is True

    later = orders_between(real_orders, DAY + dt.timedelta(days=1), dt.date(2011, 2, 28))
    insert_orders(engine, later)
    add_consent(engine, [("17850", DAY + dt.timedelta(days=1), False), ("12347", dt.date(2011, 2, 1), True)])
    # built alone this time: also proves a day built within a range equals the day built alone
    build_days(engine, [DAY], SETTINGS)
    assert stored(engine, DAY) == before
    with engine.connect() as conn:
        assert conn.execute(select(func.max(schema.orders.c.order_date))).scalar_one() > DAY


def test_rebuilding_a_day_replaces_it_with_identical_rows(warehouse_url: str, real_orders: pd.DataFrame) -> None:
    engine = warehouse_engine(warehouse_url)
    insert_orders(engine, orders_between(real_orders, START, DAY))
    build_days(engine, [DAY], SETTINGS)
    first = stored(engine, DAY)
    build_days(engine, [DAY], SETTINGS)
    assert stored(engine, DAY) == first
    with engine.connect() as conn:
        count = conn.execute(select(func.count()).select_from(schema.customer_profiles)).scalar_one()
    assert count == len(first["customer_profiles"])


@pytest.mark.postgres
def test_sqlite_and_postgresql_warehouses_give_the_same_snapshot(
    postgres_warehouse: str, tmp_path: Path, real_orders: pd.DataFrame
) -> None:
    day = dt.date(2011, 1, 4)  # lifetime values fitted on 1 January: compared too
    sqlite_url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    upgrade_to_head(warehouse_engine(sqlite_url))
    snapshots = []
    for url in (sqlite_url, postgres_warehouse):
        engine = warehouse_engine(url)
        insert_orders(engine, orders_between(real_orders, START, day))
        build_days(engine, [day], SETTINGS)
        snapshots.append(stored(engine, day))
    assert len(snapshots[0]["customer_profiles"]) > 800
    assert all(row[-1] is not None for row in snapshots[0]["customer_profiles"])
    assert snapshots[0] == snapshots[1]
