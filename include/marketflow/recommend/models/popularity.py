"""Popularity: the items most customers bought recently; the cold-start fallback of the blend."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from marketflow.recommend.interactions import History
from marketflow.recommend.models.base import Component
from marketflow.recommend.params import PopularityParams

_ALL_TIME_TIE_BREAK = 1e-3


class Popularity(Component):
    """Distinct buyers per item in the last `window_days` before the fit's as-of date; all-time buyers
    break ties, so items nobody bought lately still rank by their history."""

    name = "popularity"
    params: PopularityParams

    def fit(self, history: History) -> None:
        with self.throughput.timing():
            pairs = np.unique(history.user * history.n_items + history.item)
            all_time = np.bincount(pairs % history.n_items, minlength=history.n_items).astype(np.float64)
            recent = history.age_days() <= self.params.window_days if self.params.window_days else slice(None)
            pairs = np.unique(history.user[recent] * history.n_items + history.item[recent])
            window = np.bincount(pairs % history.n_items, minlength=history.n_items).astype(np.float64)
            counts = window + _ALL_TIME_TIE_BREAK * all_time / max(all_time.max(), 1.0)
            self.counts = (counts / max(counts.max(), 1e-12)).astype(np.float32)
        self.throughput.samples += history.n_events

    def score(self, history: History, rows: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.counts, (len(rows), len(self.counts))).copy()

    def state(self) -> dict[str, Any]:
        return {"counts": torch.from_numpy(self.counts)}

    def load_state(self, state: dict[str, Any]) -> None:
        self.counts = state["counts"].numpy()
