"""A real scored day for the scoring and selection tests: the shipped sample's real orders in a
warehouse, the day's profile snapshot built by the profile stage, a model trained on the same orders
registered, and every shard scored as the `score_audiences` DAG scores them."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine

from marketflow.ingest.sample import unpack_sample
from marketflow.ingest.sources.online_retail import read_history
from marketflow.profiles.settings import ProfileSettings
from marketflow.profiles.warehouse import build_days
from marketflow.propensity import library, registry
from marketflow.propensity.model import PropensityModel
from marketflow.propensity.settings import PropensitySettings
from marketflow.propensity.warehouse import score_shard
from tests.profiles.real_orders import insert_orders

FIRST, AS_OF = dt.date(2011, 8, 22), dt.date(2011, 10, 21)
SETTINGS = PropensitySettings(horizon_days=14, min_history_days=14, shards=3)


def sample_orders(folder: Path) -> pd.DataFrame:
    """The sample's order lines dated FIRST..AS_OF."""
    unpack_sample(str(folder))
    orders = read_history(folder, FIRST)
    return orders[(pd.to_datetime(orders["order_date"]) <= pd.Timestamp(AS_OF)).to_numpy()]


def trained(orders: pd.DataFrame) -> PropensityModel:
    return library.train(orders, AS_OF, SETTINGS)[0]


def scored_day(engine: Engine, orders: pd.DataFrame, model: PropensityModel, store: Path) -> str:
    """Load `orders`, build AS_OF's snapshot, register `model` and score every shard; its model id."""
    insert_orders(engine, orders)
    build_days(engine, [AS_OF], ProfileSettings())
    artifact = model.to_json()
    model_id = registry.model_id_for(AS_OF, artifact)
    with engine.begin() as conn:
        registry.register_and_promote(
            conn, model_id=model_id, trained_as_of=AS_OF, data_start=FIRST, data_end=AS_OF, params={}, metrics={},
            artifact_uri=registry.write_artifact(str(store), model_id, artifact),
        )
    for shard in range(SETTINGS.shards):
        score_shard(engine, AS_OF, model_id, shard, SETTINGS)
    return model_id
