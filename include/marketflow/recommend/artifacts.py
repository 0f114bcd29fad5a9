"""Save and load fitted recommenders at any fsspec URL (a local folder by default).

One file per model, `torch.save` of tensors, lists and numbers only, so loading uses
`weights_only=True` and never unpickles code from storage.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pandas as pd
import torch

from marketflow.recommend import models
from marketflow.recommend.blend import Recommender
from marketflow.recommend.params import RecommenderParams
from marketflow.recommend.runtime import resolve_device

MODEL_STORE_ENV = "MARKETFLOW_MODEL_STORE"


def model_store() -> str:
    """Where models live: $MARKETFLOW_MODEL_STORE (any fsspec URL) or $AIRFLOW_HOME/models."""
    configured = os.environ.get(MODEL_STORE_ENV)
    if configured:
        return configured.rstrip("/")
    airflow_home = Path(os.environ.get("AIRFLOW_HOME", Path.home() / "airflow"))
    return str(airflow_home / "models")


def save(model: Recommender, url: str) -> None:
    payload = {
        "params": json.dumps(model.params.model_dump(mode="json")),
        "item_ids": [str(i) for i in model.item_ids],
        "weights": dict(model.weights),
        "seen_items": model.seen_items,
        "fitted_as_of": str(model.fitted_as_of),
        "training": json.dumps(model.training, default=str),
        "components": {name: c.state() for name, c in model.components.items()},
    }
    fs, path = fsspec.core.url_to_fs(url)
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    with fs.open(path, "wb") as handle:
        torch.save(payload, handle)


def load(url: str, device: str = "cpu") -> Recommender:
    """A saved recommender, ready to score on `device` (CPU by default: scoring is cheap)."""
    with fsspec.open(url, "rb") as handle:
        payload: dict[str, Any] = torch.load(handle, weights_only=True, map_location="cpu")
    params = RecommenderParams.model_validate({**json.loads(payload["params"]), "device": device})
    target = resolve_device(device)
    components = {}
    for name, state in payload["components"].items():
        component = models.build(name, params, target)
        component.load_state(state)
        components[name] = component
    return Recommender(
        params=params,
        item_ids=np.array(payload["item_ids"], dtype=object),
        components=components,
        weights={k: float(v) for k, v in payload["weights"].items()},
        fitted_as_of=pd.Timestamp(payload["fitted_as_of"]),
        training=json.loads(payload["training"]),
        seen_items=payload.get("seen_items", "rank"),
    )
