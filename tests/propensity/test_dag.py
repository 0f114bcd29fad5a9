"""`score_audiences` through real Airflow (`dag.test`) on SQLite and PostgreSQL, on the real orders
of December 2010 to February 2011: trains and registers a model, scores three mapped shards of the
day's profile snapshot, publishes the asset; a second run reuses the model and leaves identical rows;
a day without a snapshot fails at once, naming it (the profile stage is the snapshots' one writer).

In production the profiles asset starts it; here a manual run with the range params names the day."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select

from marketflow.assets import AUDIENCE_SCORES
from marketflow.profiles.settings import ProfileSettings
from marketflow.profiles.warehouse import build_days
from marketflow.shards import shard_of
from marketflow.warehouse import schema, warehouse_engine
from tests.airflow_runner import run_dag, task_states
from tests.conftest import postgres_only
from tests.profiles.real_orders import insert_orders

pytestmark = pytest.mark.real_data

DAG_ID = "score_audiences"
SHARDS = 3
AS_OF = dt.date(2011, 2, 28)
TASKS = {"resolve_days", "ensure_models", "shard_numbers", "publish_scores"} | {
    f"score_shard[{shard}]" for shard in range(SHARDS)
}


def latest_scores_event_extra() -> dict:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session

    with create_session() as session:
        event = session.scalars(
            select(AssetEvent)
            .join(AssetModel, AssetEvent.asset_id == AssetModel.id)
            .where(AssetModel.uri == AUDIENCE_SCORES.uri)
            .order_by(AssetEvent.id.desc())
        ).first()
        return dict(event.extra)


def stored(url: str, table) -> list:
    with warehouse_engine(url).connect() as conn:
        return list(conn.execute(select(table).order_by(*table.primary_key.columns)).all())


@postgres_only
def test_score_audiences_scores_every_customer_once_and_reruns_identically(
    warehouse_connection_env: str, airflow_db: Path, real_orders: pd.DataFrame, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = warehouse_connection_env
    monkeypatch.setenv("MARKETFLOW_PROPENSITY_SHARDS", str(SHARDS))
    monkeypatch.setenv("MARKETFLOW_PROPENSITY_MODEL_STORE", str(tmp_path / "models"))
    insert_orders(warehouse_engine(url), real_orders[real_orders["order_date"] <= AS_OF])
    day = {"score_from": str(AS_OF), "score_to": str(AS_OF)}

    missing = run_dag(DAG_ID, AS_OF + dt.timedelta(days=2), conf=day)
    assert task_states(missing)["resolve_days"] == "failed"
    assert stored(url, schema.customer_profiles) == [] and stored(url, schema.model_registry) == []

    build_days(warehouse_engine(url), [AS_OF], ProfileSettings())
    run = run_dag(DAG_ID, AS_OF + dt.timedelta(days=2), conf=day)
    assert task_states(run) == {task: "success" for task in TASKS}

    profiles = stored(url, schema.customer_profiles)
    scores = stored(url, schema.audience_scores)
    ordering = set(real_orders.loc[real_orders["order_date"] <= AS_OF, "customer_id"].dropna())
    profiled = {row[1] for row in profiles}
    assert sorted(row[1] for row in scores) == sorted(ordering), "every customer with an order line, once"
    unprofiled = [row for row in scores if row[1] not in profiled]
    assert len({row[3] for row in unprofiled}) <= 1, "those without a purchase: the model's one no-purchase rate"
    assert {row[0] for row in scores} == {AS_OF}
    assert {shard_of(row[1], SHARDS) for row in scores} == set(range(SHARDS))
    assert all(0.0 < row[3] < 1.0 for row in scores)

    models = stored(url, schema.model_registry)
    assert len(models) == 1
    model = models[0]
    assert (model.model_kind, model.trained_as_of, model.status) == ("propensity", AS_OF, "champion")
    assert {row[2] for row in scores} == {model.model_id}
    assert model.metrics["calibration_cutoffs"] == ["2011-01-22", "2011-01-29"]
    assert latest_scores_event_extra() == {"partition_date": AS_OF.isoformat(), "partition_dates": [AS_OF.isoformat()]}

    rerun = run_dag(DAG_ID, AS_OF + dt.timedelta(days=2), conf=day)
    assert task_states(rerun) == {task: "success" for task in TASKS}
    assert stored(url, schema.audience_scores) == scores
    assert stored(url, schema.model_registry) == models, "a young champion is reused, not retrained"
