"""The profile build sizes its shard count by the history's order lines, so a growing shop's shards
stay within a task's memory without anyone raising `MARKETFLOW_PROFILES_SHARDS`: the lines come from
ingest's log, and the sized build stores the rows of a build with the configured count."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from marketflow.ingest import IngestSettings, ingest_history
from marketflow.profiles.queries import read_history_lines
from marketflow.profiles.settings import MAX_SHARDS, ProfileSettings
from marketflow.profiles.warehouse import build_days, prepare_days
from marketflow.warehouse import schema, warehouse_engine
from tests.conftest import copy_days
from tests.profiles.test_snapshots import stored

FIRST, LAST = dt.date(2011, 3, 1), dt.date(2011, 3, 10)
MIDDLE = dt.date(2011, 3, 4)


def test_the_configured_count_is_the_least_and_each_shard_holds_at_most_lines_per_shard() -> None:
    settings = ProfileSettings(shards=4, lines_per_shard=1_000)
    assert [settings.shards_for(lines) for lines in (0, 4_000, 4_001, 9_999, 10_000)] == [4, 4, 5, 10, 10]
    assert ProfileSettings(shards=1, lines_per_shard=1_000).shards_for(2_500) == 3
    assert settings.shards_for(10**12) == MAX_SHARDS


def test_a_lines_per_shard_below_the_floor_names_the_field_and_the_variable() -> None:
    with pytest.raises(ValueError, match=r"lines_per_shard \(from \$MARKETFLOW_PROFILES_LINES_PER_SHARD\)"):
        ProfileSettings.from_env({"MARKETFLOW_PROFILES_LINES_PER_SHARD": "10"})


def _order_lines_through(engine: Engine, day: dt.date) -> int:
    with engine.connect() as conn:
        query = select(func.count()).select_from(schema.orders).where(schema.orders.c.order_date <= day)
        return conn.execute(query).scalar_one()


@pytest.mark.real_data
def test_the_build_adds_shards_for_a_longer_history_and_stores_the_same_rows(
    warehouse_url: str, real_landing: Path, tmp_path: Path
) -> None:
    days = [FIRST + dt.timedelta(days=n) for n in range((LAST - FIRST).days + 1)]
    landing = copy_days(real_landing, tmp_path / "landing", [d for d in days if (real_landing / f"{d}.csv").exists()])
    engine = warehouse_engine(warehouse_url)
    ingest_history(engine, str(landing), FIRST, LAST, IngestSettings.from_env(landing_url=str(landing)))

    lines = {day: _order_lines_through(engine, day) for day in (MIDDLE, LAST)}
    assert 4_000 < lines[MIDDLE] < lines[LAST]
    assert {day: read_history_lines(engine, day) for day in lines} == lines, "ingest's log counts every line"

    sized = ProfileSettings(lines_per_shard=1_000)
    assert prepare_days(engine, [MIDDLE], sized).shards == -(-lines[MIDDLE] // 1_000)
    assert prepare_days(engine, [MIDDLE, LAST], sized).shards == -(-lines[LAST] // 1_000)
    assert prepare_days(engine, [LAST], sized, shards=2).shards == 2, "an explicit count wins"
    assert prepare_days(engine, [LAST], ProfileSettings()).shards == 4, "a short history keeps the configured count"

    build_days(engine, [LAST], ProfileSettings(), shards=4)
    four = stored(engine, LAST)
    assert len(four["customer_profiles"]) > 300
    build_days(engine, [LAST], sized)
    assert stored(engine, LAST) == four
