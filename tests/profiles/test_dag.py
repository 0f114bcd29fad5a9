"""`build_profiles` through real Airflow (`dag.test`), on SQLite and PostgreSQL warehouses.

A daily run whose logical date is D+1 has the data interval [D, D+1) under `dag.test` (as the
scheduler's run of D has), so it builds D. Rebuild runs over a range: tests/profiles/test_real_history.py.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

from marketflow.assets import CUSTOMER_PROFILES
from marketflow.profiles.segments import SEGMENTS
from marketflow.profiles.settings import ProfileSettings
from marketflow.profiles.warehouse import stored_segment_counts
from marketflow.warehouse import schema, warehouse_engine
from tests.airflow_runner import run_dag, task_states
from tests.profiles.real_orders import insert_orders

pytestmark = pytest.mark.real_data

DAG_ID = "build_profiles"
SHARDS = ProfileSettings().shards
TASKS = {"resolve_as_of_dates", "prepare_days", "shard_numbers", "build_snapshots", "summarise_segments"} | {
    f"build_shard[{shard}]" for shard in range(SHARDS)
}


def load_december_and_january(url: str, real_orders: pd.DataFrame) -> None:
    wanted = (real_orders["order_date"] >= dt.date(2010, 12, 1)) & (real_orders["order_date"] <= dt.date(2011, 1, 31))
    insert_orders(warehouse_engine(url), real_orders[wanted])


def latest_profiles_event_extra() -> dict:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        event = session.scalars(
            select(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.uri == CUSTOMER_PROFILES.uri)
            .order_by(AssetEvent.id.desc())
        ).first()
        return dict(event.extra)


def days_stored(url: str) -> list[dt.date]:
    table = schema.customer_profiles
    with warehouse_engine(url).connect() as conn:
        return list(conn.execute(select(table.c.as_of_date).distinct().order_by(table.c.as_of_date)).scalars())


def test_a_daily_run_builds_its_day_logs_segments_and_publishes_the_profiles_asset(
    warehouse_connection_env: str, airflow_db: Path, real_orders: pd.DataFrame
) -> None:
    load_december_and_january(warehouse_connection_env, real_orders)
    day = dt.date(2011, 1, 20)
    run = run_dag(DAG_ID, day + dt.timedelta(days=1))
    assert task_states(run) == {task: "success" for task in TASKS}
    assert days_stored(warehouse_connection_env) == [day]
    counts = stored_segment_counts(warehouse_engine(warehouse_connection_env), day)
    assert set(counts) == set(SEGMENTS)
    orders = schema.orders.c
    merchandise = ~func.upper(orders.stock_code).in_(ProfileSettings().service_codes) & ~orders.stock_code.like("gift%")
    with warehouse_engine(warehouse_connection_env).connect() as conn:
        customers = conn.execute(
            select(func.count(func.distinct(orders.customer_id))).where(
                orders.order_date <= day, ~orders.is_return, orders.quantity > 0, merchandise
            )
        ).scalar_one()
    assert sum(counts.values()) == customers
    assert latest_profiles_event_extra() == {"partition_date": "2011-01-20", "partition_dates": ["2011-01-20"]}


def test_a_bad_rebuild_range_fails_the_run_at_once_without_building(
    warehouse_connection_env: str, airflow_db: Path
) -> None:
    run = run_dag(DAG_ID, dt.date(2011, 3, 1), conf={"rebuild_from": "2011-02-02", "rebuild_to": "2011-01-29"})
    states = task_states(run)
    assert states["resolve_as_of_dates"] == "failed"
    assert states["build_snapshots"] == "upstream_failed"
    assert days_stored(warehouse_connection_env) == []
