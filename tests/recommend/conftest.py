"""Fixtures of the recommender's tests: real purchases read once, settings small enough for CI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from marketflow.recommend.datasets import online_retail_purchases

#: Small models: the tests check behaviour and floors; full-size training is the bench's job.
FAST: dict[str, Any] = {
    "sasrec": {"epochs": 1, "dim": 16, "heads": 1, "blocks": 1, "max_len": 10},
    "gru4rec": {"epochs": 1, "dim": 16, "max_len": 10},
    "bpr": {"epochs": 20, "dim": 32},
    "lightgcn": {"epochs": 2, "dim": 16},
    "item2vec": {"epochs": 2, "dim": 16},
    "rebuy": {"windows": 3, "rounds": 30},
    "ranker": {"windows": 3, "rounds": 60, "new_candidates": 20, "transition": {"windows": 3}},
    "transition": {"windows": 3},
    "device": "cpu",
}
#: FAST with the blend weights the full-size default list's tuning gave as of 2011-09-03, so DAG tests skip the
#: tuning fit (covered elsewhere).
FAST_FIXED: dict[str, Any] = {
    **FAST,
    "blend": {
        "weights": {
            "popularity": 0.25, "ease": 0.5, "ranker": 4.0, "bpr": 1.0, "content": 1.0
        }
    },
}


@pytest.fixture(scope="session")
def real_purchases(real_data_dir: Path) -> pd.DataFrame:
    """Every purchase of the real history as interactions (user, item, timestamp, weight)."""
    return online_retail_purchases(real_data_dir)


def planted_interactions(seed: int = 0, users: int = 300, groups: int = 6, per_group: int = 8) -> pd.DataFrame:
    """A shop where each customer buys only from their own product group, over 20 weeks.

    A model that learns co-purchase recommends the customer's group; popularity cannot.
    """
    rng = np.random.default_rng(seed)
    start = pd.Timestamp("2024-01-01")
    rows = []
    for user in range(users):
        group = user % groups
        for _ in range(rng.integers(6, 14)):
            item = group * per_group + rng.integers(per_group)
            day = rng.integers(0, 140)
            rows.append((f"customer-{user}", f"sku-{item:03d}", start + pd.Timedelta(days=int(day), hours=int(rng.integers(24)))))
    # a best-seller everybody buys now and then, so popularity has something to rank first
    for user in range(0, users, 2):
        rows.append((f"customer-{user}", "sku-hit", start + pd.Timedelta(days=int(rng.integers(0, 140)))))
    return pd.DataFrame(rows, columns=["user", "item", "timestamp"])
