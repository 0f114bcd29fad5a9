"""`train_recommender` through real Airflow on SQLite and PostgreSQL warehouses holding real orders:
registration, the champion/challenger gate, recommendations with reasons kept per day, and rollback.

A manual run works on the last full week before its logical date: run on a Tuesday, it works on the
Sunday before (the scheduled Monday 03:00 run's day) and trains on the purchases up to that Sunday."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

from marketflow.recommend import cli, registry
from marketflow.recommend.artifacts import MODEL_STORE_ENV
from marketflow.recommend.train import EVALUATION_FILE, SERVING_FILE, cutoff, holdout_start
from marketflow.warehouse import schema, warehouse_engine
from marketflow.profiles.settings import DEFAULT_SERVICE_CODES
from tests.airflow_runner import run_dag, task_states
from tests.conftest import postgres_only
from tests.profiles.real_orders import insert_orders, read_history
from tests.recommend.conftest import FAST_FIXED

pytestmark = pytest.mark.real_data

DAG_ID = "train_recommender"
FIRST, SECOND = dt.date(2011, 10, 2), dt.date(2011, 10, 9)  # Sundays: the days the weekly runs work on
TUESDAY = dt.timedelta(days=2)
TASKS = ["wait_for_inputs", "train_challenger", "evaluate_against_champion", "promote_or_keep", "write_recommendations"]


@pytest.fixture(scope="module")
def summer_orders(real_data_dir: Path) -> pd.DataFrame:
    """Four months of real order lines (guests and returns included), enough to train and evaluate."""
    return read_history(real_data_dir, dt.date(2011, 6, 1), dt.date(2011, 10, 9))


def served(url: str, day: dt.date) -> pd.DataFrame:
    """The recommendations as of `day`."""
    r = schema.recommendations.c
    with warehouse_engine(url).connect() as conn:
        stmt = select(schema.recommendations).where(r.as_of_date == day).order_by(r.customer_id, r.rank)
        return pd.read_sql(stmt, conn)


def run_cli(*argv: str) -> int:
    parser = argparse.ArgumentParser()
    cli.add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(list(argv))
    return args.handler(args)


def _active_customers(orders: pd.DataFrame, day: dt.date) -> int:
    """Customers with a merchandise purchase on or before `day` (postage and fees are no purchase)."""
    merchandise = ~orders["stock_code"].str.upper().isin(DEFAULT_SERVICE_CODES)
    bought = orders["customer_id"].notna() & (orders["quantity"] > 0) & ~orders["is_return"]
    return orders.loc[bought & merchandise & (orders["order_date"] <= day), "customer_id"].nunique()


@postgres_only
def test_train_gate_serve_and_roll_back(
    warehouse_connection_env: str,
    airflow_db: Path,
    summer_orders: pd.DataFrame,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = warehouse_connection_env
    engine = warehouse_engine(url)
    monkeypatch.setenv(MODEL_STORE_ENV, str(tmp_path / "models"))
    insert_orders(engine, summer_orders)

    # 1. the first model has no champion to beat: promoted, recommendations written
    run = run_dag(DAG_ID, FIRST + TUESDAY, conf={"recommender": FAST_FIXED})
    assert task_states(run) == dict.fromkeys(TASKS, "success")
    first = registry.champion(engine)
    assert first is not None and first.trained_as_of == FIRST
    assert first.data_end == FIRST  # the purchases up to and including the run's day
    assert first.metrics["holdout"] == ["2011-09-05", "2011-10-03"]
    assert set(first.metrics["all"]) >= {"ndcg@10", "recall@10", "hitrate@10", "coverage"}
    assert first.metrics["all"]["ndcg@10"] > first.metrics["new"]["ndcg@10"] > 0
    baseline = first.metrics["popularity_baseline"]  # the Models page's verdict compares against it
    assert 0 < baseline["all"]["ndcg@10"] < first.metrics["all"]["ndcg@10"]
    # quality by group: no profile snapshot stored here, so the segments are built from the orders up
    # to the day before the hold-out; countries from `customers` (each one's latest order's country)
    by_group = first.metrics["by_group"]
    assert by_group["segments_as_of"] == str(holdout_start(cutoff(FIRST)) - dt.timedelta(days=1))
    countries = by_group["country"]
    assert sum(group["customers"] for group in countries.values()) == first.metrics["all"]["customers"]
    assert "unknown" not in countries
    assert max(countries, key=lambda country: countries[country]["customers"]) == "United Kingdom"
    segments = by_group["segment"]
    assert len(segments) > 3 and "unknown" not in segments, segments
    assert sum(group["customers"] for group in segments.values()) == first.metrics["all"]["customers"]
    assert first.code_version.startswith("0.")
    assert (Path(first.artifact_uri) / EVALUATION_FILE).is_file() and (Path(first.artifact_uri) / SERVING_FILE).is_file()

    recs = served(url, FIRST)
    active = _active_customers(summer_orders, FIRST)
    assert set(recs["model_id"]) == {first.model_id}
    assert recs["customer_id"].nunique() == active
    assert recs.groupby("customer_id")["rank"].apply(sorted).map(lambda r: r == list(range(1, 21))).all()
    assert recs.groupby("customer_id")["score"].apply(lambda s: s.is_monotonic_decreasing).all()
    assert recs["reason"].str.startswith("bought with ").any()
    assert (recs["reason"] == "you buy this often").any()
    assert "bought with WHITE HANGING HEART T-LIGHT HOLDER" in set(recs["reason"])

    # 2. a challenger that only knows popularity is worse: rejected, the champion keeps serving
    worse = {**FAST_FIXED, "components": ["popularity"], "blend": {"weights": {"popularity": 1.0}}}
    run = run_dag(DAG_ID, SECOND + TUESDAY, conf={"recommender": worse})
    assert set(task_states(run).values()) == {"success"}
    assert registry.champion(engine).model_id == first.model_id
    rejected = [r for r in registry.history(engine) if r.status == registry.REJECTED]
    assert len(rejected) == 1 and rejected[0].trained_as_of == SECOND
    assert f"kept champion {first.model_id}" in rejected[0].decision
    champion_rescored = rejected[0].metrics["champion"]
    assert champion_rescored["model_id"] == first.model_id
    assert champion_rescored["all"]["ndcg@10"] > rejected[0].metrics["all"]["ndcg@10"]
    for dimension in ("country", "segment"):
        groups = champion_rescored["by_group"][dimension].values()
        assert sum(g["customers"] for g in groups) == champion_rescored["all"]["customers"]
    # the champion writes SECOND's lists with the purchases up to SECOND: they follow the latest week,
    # and FIRST's lists stay as they were (a campaign of a day reads the newest set on or before it)
    refreshed = served(url, SECOND)
    assert set(refreshed["model_id"]) == {first.model_id}
    assert refreshed["customer_id"].nunique() == _active_customers(summer_orders, SECOND) > active
    assert served(url, FIRST).equals(recs)

    # 3. rollback is one command: the rejected model serves (from the latest purchases), then the first
    assert run_cli("recommender", "rollback", "--to", rejected[0].model_id) == 0
    assert registry.champion(engine).model_id == rejected[0].model_id
    assert set(served(url, SECOND)["model_id"]) == {rejected[0].model_id}
    assert registry.get(engine, first.model_id).status == registry.RETIRED
    assert run_cli("recommender", "rollback", "--to", first.model_id) == 0
    assert registry.champion(engine).model_id == first.model_id
    with engine.connect() as conn:
        champions = conn.execute(
            select(func.count()).where(schema.model_registry.c.status == registry.CHAMPION)
        ).scalar_one()
    assert champions == 1


def test_invalid_params_fail_the_run_without_registering(
    warehouse_connection_env: str, airflow_db: Path, real_data_dir: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(MODEL_STORE_ENV, str(tmp_path / "models"))
    insert_orders(warehouse_engine(warehouse_connection_env), read_history(real_data_dir, FIRST, FIRST))
    run = run_dag(DAG_ID, FIRST + TUESDAY, conf={"recommender": {"ease": {"lambda": 5}}})
    assert task_states(run)["train_challenger"] == "failed"
    assert registry.history(warehouse_engine(warehouse_connection_env)) == []


def test_a_run_whose_orders_are_not_ingested_waits_then_fails_naming_the_newest_day(
    warehouse_connection_env: str, airflow_db: Path, real_data_dir: Path, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(MODEL_STORE_ENV, str(tmp_path / "models"))
    friday = FIRST - dt.timedelta(days=2)  # Saturday and Sunday are not ingested
    insert_orders(warehouse_engine(warehouse_connection_env), read_history(real_data_dir, friday, friday))
    run = run_dag(DAG_ID, FIRST + TUESDAY, conf={"recommender": FAST_FIXED})
    states = task_states(run)
    assert (states.pop("wait_for_inputs"), set(states.values())) == ("failed", {"upstream_failed"})
    assert (
        f"BLOCKED: stale or missing inputs for {FIRST}: orders as of {friday} is 2 day(s) older than {FIRST}"
    ) in capsys.readouterr().out
    assert registry.history(warehouse_engine(warehouse_connection_env)) == []
