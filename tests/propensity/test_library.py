"""The library entry point on a plain orders table (the shipped sample's real orders, no warehouse):
it trains only on orders up to its as-of day, scores every customer (those without a product purchase
yet at the model's estimated rate, with that reason), and is the same model and the same scores the
warehouse path (`ensure_model`, `score_shard`: what the DAG runs) produces."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest

from marketflow.ingest.sample import unpack_sample
from marketflow.ingest.sources.online_retail import read_history
from marketflow.profiles.settings import ProfileSettings
from marketflow.profiles.warehouse import build_days
from marketflow.propensity import library, registry
from marketflow.propensity.scoring import NO_PURCHASE_REASON
from marketflow.propensity.settings import PropensitySettings
from marketflow.propensity.warehouse import ensure_model, score_shard
from marketflow.warehouse import schema, upgrade_to_head, warehouse_engine
from tests.profiles.real_orders import insert_orders


FIRST, AS_OF = dt.date(2011, 8, 22), dt.date(2011, 10, 21)


@pytest.fixture(scope="module")
def sample_orders(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    folder = tmp_path_factory.mktemp("sample")
    unpack_sample(str(folder))
    return read_history(folder, FIRST)


def test_the_library_trains_point_in_time_and_scores_as_the_warehouse_path_does(
    sample_orders: pd.DataFrame, tmp_path: Path
) -> None:
    settings = PropensitySettings(horizon_days=14, min_history_days=14, shards=2, model_store=str(tmp_path / "models"))
    model, report = library.train(sample_orders, AS_OF, settings)
    earlier = sample_orders[pd.to_datetime(sample_orders["order_date"]) <= pd.Timestamp(AS_OF)]
    assert len(earlier) < len(sample_orders), "the sample goes on after the as-of day"
    assert library.train(earlier, AS_OF, settings)[0].to_json() == model.to_json(), "later orders are never read"
    assert report.train_cutoffs[-1] <= AS_OF - dt.timedelta(days=settings.horizon_days)

    scores = library.score(model, sample_orders, AS_OF, settings)
    customers = set(earlier["customer_id"].dropna())
    assert len(scores) > 2000 and scores["customer_id"].is_unique and set(scores["customer_id"]) == customers
    assert scores["propensity_30d"].between(0, 1).all() and scores["propensity_30d"].std() > 0.05
    without = scores[scores["top_reasons"].map(lambda reasons: reasons == {NO_PURCHASE_REASON: 0.0})]
    assert 0 < len(without) < 0.05 * len(scores) and (without["propensity_30d"] == model.no_purchase_rate).all()
    assert all(len(r) == settings.top_reasons for r in scores.loc[~scores.index.isin(without.index), "top_reasons"])
    assert 0 < model.no_purchase_rate < 1

    engine = warehouse_engine(f"sqlite:///{tmp_path / 'warehouse.db'}")
    upgrade_to_head(engine)
    insert_orders(engine, earlier)
    build_days(engine, [AS_OF], ProfileSettings())
    choice = ensure_model(engine, AS_OF, settings, ProfileSettings())
    assert choice.model_id == registry.model_id_for(AS_OF, model.to_json()), "the DAG trains the same model"
    for shard in range(settings.shards):
        score_shard(engine, AS_OF, choice.model_id, shard, settings)
    with engine.connect() as conn:
        stored = pd.read_sql(schema.audience_scores.select(), conn).set_index("customer_id")
    assert sorted(stored.index) == sorted(scores["customer_id"])
    ours = scores.set_index("customer_id")["propensity_30d"]
    assert (stored["propensity_30d"] - ours.reindex(stored.index)).abs().max() < 1e-9
