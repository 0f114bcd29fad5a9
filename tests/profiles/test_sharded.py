"""The sharded build (`warehouse.build_days`: day-level step, shard tasks, finishing step) stores
exactly the rows of the unsharded in-memory build (`SnapshotBuilder` on every order line), on
SQLite and PostgreSQL, whatever the shard count; a re-run shard changes nothing, and a day whose
shards are not all staged is not published."""

from __future__ import annotations

import datetime as dt
import json

import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from marketflow.profiles.build import SnapshotBuilder
from marketflow.profiles.history import prepare_history
from marketflow.profiles.settings import ProfileSettings
from marketflow.profiles.warehouse import (
    DayPlan,
    build_days,
    build_shard,
    finish_days,
    prepare_days,
    read_consent_events,
    read_orders,
    write_snapshot,
)
from marketflow.warehouse import schema, warehouse_engine
from tests.profiles.factories import line
from tests.profiles.real_orders import insert_orders
from tests.profiles.test_snapshots import add_consent, orders_between, stored


START = dt.date(2010, 12, 1)
# the history's first day (groups fitted on it), a month's last day and the next month's first
# (two CLV fits and group fits), a mid-month day
DAYS = [START, dt.date(2011, 1, 31), dt.date(2011, 2, 1), dt.date(2011, 2, 10)]
SETTINGS = ProfileSettings(clv_min_history_days=30)


def unsharded(engine: Engine, days: list[dt.date]) -> dict[dt.date, dict[str, list[tuple]]]:
    """What the build stored before issue 17: one history of every line, one snapshot per day."""
    history = prepare_history(read_orders(engine, days[-1]), SETTINGS)
    builder = SnapshotBuilder(history, read_consent_events(engine, days[-1]), SETTINGS)
    for day in days:
        write_snapshot(engine, builder.build(day))
    return {day: stored(engine, day) for day in days}


def staged_rows(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(schema.customer_profiles_staging)).scalar_one()


@pytest.fixture
def loaded(warehouse_url: str, real_orders: pd.DataFrame) -> Engine:
    engine = warehouse_engine(warehouse_url)
    insert_orders(engine, orders_between(real_orders, START, DAYS[-1]))
    add_consent(engine, [("17850", START, True), ("13047", dt.date(2011, 1, 5), True), ("12347", DAYS[-1], True)])
    return engine


@pytest.mark.real_data
def test_every_shard_count_stores_the_rows_of_the_unsharded_build(loaded: Engine) -> None:
    expected = unsharded(loaded, DAYS)
    profiles = expected[DAYS[-1]]["customer_profiles"]
    assert len(profiles) > 1400
    assert all(row[-1] is not None for row in profiles), "CLV columns should be filled"
    assert {row[15] for row in profiles} == {True, False}, "consent of some customers"
    assert len(expected[START]["product_groups"]) > 1000 and len(expected[DAYS[-1]]["product_stats"]) > 1000
    for shards in (1, 3, 4):
        summaries = build_days(loaded, DAYS, SETTINGS, shards=shards)
        assert {day: stored(loaded, day) for day in DAYS} == expected, f"{shards} shards"
        assert [s.customers for s in summaries] == [len(expected[day]["customer_profiles"]) for day in DAYS]
        assert staged_rows(loaded) == 0


@pytest.mark.real_data
def test_a_rerun_shard_leaves_the_rows_identical_and_a_missing_shard_publishes_nothing(loaded: Engine) -> None:
    expected = unsharded(loaded, DAYS[-2:])
    plan = prepare_days(loaded, DAYS[-2:], SETTINGS, shards=3)
    rows = [build_shard(loaded, plan, shard, SETTINGS) for shard in range(3)]
    assert all(min(shard_rows.values()) > 300 for shard_rows in rows), "customers spread over the shards"
    assert build_shard(loaded, plan, 1, SETTINGS) == rows[1]  # a retried shard replaces its own rows
    finish_days(loaded, plan.days, rows)
    assert {day: stored(loaded, day) for day in DAYS[-2:]} == expected

    build_shard(loaded, plan, 2, SETTINGS)  # a stray re-run after the finish: staged, never published
    assert {day: stored(loaded, day) for day in DAYS[-2:]} == expected

    plan = prepare_days(loaded, DAYS[-2:], SETTINGS, shards=3)  # clears the stray rows
    assert staged_rows(loaded) == 0
    partial = [build_shard(loaded, plan, shard, SETTINGS) for shard in (0, 2)]
    with pytest.raises(RuntimeError, match="staged profiles"):
        finish_days(loaded, plan.days, [*partial, rows[1]])
    assert {day: stored(loaded, day) for day in DAYS[-2:]} == expected, "the published day is left as it was"


@pytest.mark.real_data
def test_a_plan_travels_through_xcom_json_unchanged(loaded: Engine) -> None:
    plan = prepare_days(loaded, DAYS, SETTINGS, shards=4)
    assert plan.clv_model(DAYS[-1]) is not None and plan.clv_model(START) is None
    assert DayPlan.from_xcom(json.loads(json.dumps(plan.as_xcom()))) == plan


def test_a_month_without_product_groups_takes_descriptions_from_every_sale(warehouse_url: str) -> None:
    """One product on the history's first day: no groups that month, so the shards read the shop's
    descriptions themselves; a guest's later sale renames the product for everybody."""
    engine = warehouse_engine(warehouse_url)
    first, second = dt.date(2011, 3, 15), dt.date(2011, 3, 16)
    insert_orders(
        engine,
        pd.DataFrame(
            [
                line(str(first), "500001", "22001", 2, 1.25, "14001", description="RED MUG"),
                line(str(first), "500002", "22001", 1, 1.25, "14002", description="RED MUG"),
                line(str(second), "500003", "22002", 5, 0.85, "14002", description="TEA TOWEL"),
                line(str(second), "500004", "22001", 1, 1.25, None, description="RED MUG WITH LID"),
            ]
        ),
    )
    expected = unsharded(engine, [first, second])
    assert expected[second]["product_groups"] == []
    favourites = {row[1]: row[12] for row in expected[second]["customer_profiles"]}
    assert favourites["14001"] == [{"stock_code": "22001", "description": "RED MUG WITH LID", "purchases": 1}]
    for shards in (1, 3):
        build_days(engine, [first, second], SETTINGS, shards=shards)
        assert {day: stored(engine, day) for day in (first, second)} == expected, f"{shards} shards"
