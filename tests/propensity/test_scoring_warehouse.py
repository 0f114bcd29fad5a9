"""Scoring a day into the warehouse and explaining stored scores, on both backends with a model
trained on real orders: every known customer scored once with the model's own probability, a shard
replaces exactly its rows of the day, a re-run leaves the table identical, and the reasons handed
out for a score are exact TreeSHAP of that very score (contributions + bias = its raw log-odds) or
none at all."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, select, update

from marketflow.propensity.features import feature_matrix
from marketflow.propensity.model import PropensityModel
from marketflow.propensity.scoring import NO_PURCHASE_REASON, top_reasons
from marketflow.shards import shard_of
from marketflow.propensity.warehouse import explain_scores, read_profiles, score_shard, snapshot_home_market
from marketflow.warehouse import schema, warehouse_engine
from tests.propensity.scored_day import AS_OF, SETTINGS, sample_orders, scored_day, trained


@pytest.fixture(scope="module")
def orders(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    return sample_orders(tmp_path_factory.mktemp("sample"))


@pytest.fixture(scope="module")
def model(orders: pd.DataFrame) -> PropensityModel:
    return trained(orders)


@pytest.fixture
def day(warehouse_url: str, orders: pd.DataFrame, model: PropensityModel, tmp_path: Path) -> tuple[Engine, str]:
    engine = warehouse_engine(warehouse_url)
    return engine, scored_day(engine, orders, model, tmp_path / "models")


def stored(engine: Engine) -> list[tuple]:
    table = schema.audience_scores
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(select(table).order_by(*table.primary_key.columns))]


def snapshot_features(engine: Engine, customer_ids: list[str] | None = None) -> pd.DataFrame:
    """The feature rows `score_shard` scores: the stored snapshot, the whole snapshot's home market."""
    with engine.connect() as conn:
        profiles = read_profiles(conn, AS_OF, customer_ids)
        home = snapshot_home_market(conn, AS_OF)
    return feature_matrix(profiles, home).sort_index()


def test_every_known_customer_is_scored_once_with_the_models_probability_and_a_rerun_changes_nothing(
    day: tuple[Engine, str], orders: pd.DataFrame, model: PropensityModel
) -> None:
    engine, model_id = day
    rows = stored(engine)
    scores = pd.Series({row[1]: row[3] for row in rows})
    assert set(scores.index) == set(orders["customer_id"].dropna()) and len(rows) == len(scores)
    assert {(row[0], row[2]) for row in rows} == {(AS_OF, model_id)}
    features = snapshot_features(engine)
    assert 2000 < len(features) < len(scores), "most are scored from their profile, a few have none"
    np.testing.assert_array_equal(scores[features.index].to_numpy(), model.predict(features))
    without = scores.drop(features.index)
    assert (without == model.no_purchase_rate).all()

    for shard in reversed(range(SETTINGS.shards)):
        assert score_shard(engine, AS_OF, model_id, shard, SETTINGS) > 0
    assert stored(engine) == rows


def test_a_shard_replaces_exactly_its_own_rows_of_the_day(day: tuple[Engine, str]) -> None:
    engine, model_id = day
    table = schema.audience_scores
    mine, other = (next(f"GONE{n}" for n in range(100) if shard_of(f"GONE{n}", SETTINGS.shards) == s) for s in (0, 1))
    scored = [row for row in stored(engine) if shard_of(row[1], SETTINGS.shards) == 0]
    with engine.begin() as conn:
        conn.execute(table.insert(), [
            {"as_of_date": AS_OF, "customer_id": mine, "model_id": model_id, "propensity_30d": 0.5},
            {"as_of_date": AS_OF, "customer_id": other, "model_id": model_id, "propensity_30d": 0.5},
            {"as_of_date": AS_OF - dt.timedelta(days=1), "customer_id": scored[0][1], "model_id": model_id,
             "propensity_30d": 0.5},
        ])
        conn.execute(update(table).where(table.c.as_of_date == AS_OF, table.c.customer_id == scored[1][1])
                     .values(propensity_30d=0.5))
    before = stored(engine)

    assert score_shard(engine, AS_OF, model_id, 0, SETTINGS) == len(scored)
    after = stored(engine)
    assert [row for row in after if row[0] == AS_OF and shard_of(row[1], SETTINGS.shards) == 0] == scored, (
        "the shard's customers scored again, the one no longer known removed"
    )
    untouched = [row for row in before if row[0] != AS_OF or shard_of(row[1], SETTINGS.shards) != 0]
    assert [row for row in after if row[0] != AS_OF or shard_of(row[1], SETTINGS.shards) != 0] == untouched
    assert any(row[1] == other for row in after), "another shard's row stays"


def test_the_reasons_of_a_stored_score_are_its_exact_shap_values(day: tuple[Engine, str], model: PropensityModel) -> None:
    engine, _ = day
    rows = stored(engine)
    features = snapshot_features(engine)
    picked = sorted(features.index)[::50]
    without = sorted({row[1] for row in rows} - set(features.index))[:3]
    with engine.connect() as conn:
        explained = explain_scores(conn, AS_OF, [*picked, *without, "NOBODY"], SETTINGS.top_reasons)
    assert set(explained) == {*picked, *without}, "a customer without a score that day is left out"
    assert all(explained[customer] == {NO_PURCHASE_REASON: 0.0} for customer in without)

    chosen = features.loc[picked]
    contributions = model.contributions(chosen)
    raw = contributions.sum(axis=1)  # the features' contributions plus the bias (last column)
    np.testing.assert_allclose(raw, model.raw_log_odds(chosen), rtol=1e-12, atol=1e-12)
    score = {row[1]: row[3] for row in rows}
    np.testing.assert_allclose(model.platt.apply(raw), [score[customer] for customer in picked], rtol=1e-12)
    expected = top_reasons(contributions, model.features, SETTINGS.top_reasons)
    for customer, reasons, row in zip(picked, expected, contributions, strict=True):
        assert explained[customer] == reasons and len(reasons) == SETTINGS.top_reasons
        largest = np.sort(np.abs(row[:-1]))[::-1][: SETTINGS.top_reasons]
        np.testing.assert_allclose([abs(value) for value in reasons.values()], largest, atol=1e-4)


def test_a_score_the_stored_inputs_no_longer_give_gets_no_reasons(
    day: tuple[Engine, str], orders: pd.DataFrame
) -> None:
    engine, _ = day
    profiles, stale = schema.customer_profiles, sorted(snapshot_features(engine).index)[:3]
    with engine.begin() as conn:  # the snapshot rebuilt differently after the day was scored
        conn.execute(update(profiles).where(profiles.c.as_of_date == AS_OF, profiles.c.customer_id == stale[0])
                     .values(recency_days=profiles.c.recency_days + 40, frequency=profiles.c.frequency + 3))
        explained = explain_scores(conn, AS_OF, stale, SETTINGS.top_reasons)
    assert explained[stale[0]] is None, "never reasons that do not add up to the stored score"
    assert all(explained[customer] is not None for customer in stale[1:])
