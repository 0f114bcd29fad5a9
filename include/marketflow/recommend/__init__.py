"""Recommender stage: top-k products per customer from any (user, item, timestamp[, weight]) table.

Library (no Airflow, no warehouse):
    from marketflow.recommend import Recommender, RecommenderParams, HoldoutTask
    model = Recommender.fit(interactions, RecommenderParams(), as_of="2011-10-01")
    top = model.recommend(interactions, k=20)          # user, item, rank, score, source
    # ids come back with the type they were fitted with (integer or text); the other type raises
    metrics = HoldoutTask(model.history(interactions), holdout).evaluate(model.score)

Warehouse side (the `train_recommender` DAG calls these): `train` (the job), `registry`
(`model_registry`, champion/challenger), `artifacts` (fsspec model store), `cli` (rollback).
Names are resolved lazily so importing the package (e.g. by the CLI) does not import torch.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_PUBLIC = {
    "Recommender": "marketflow.recommend.blend",
    "RecommenderParams": "marketflow.recommend.params",
    "HoldoutTask": "marketflow.recommend.evaluate",
    "History": "marketflow.recommend.interactions",
}

__all__ = sorted(_PUBLIC)


def __getattr__(name: str) -> Any:
    if name in _PUBLIC:
        return getattr(import_module(_PUBLIC[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
