"""EASE (Steck, 2019): a closed-form item-item ridge regression with a zero diagonal.

One matrix inverse of (items x items); strong at "what else do buyers of these items buy", i.e. the
"new" variant. The learned item-item weights also explain recommendations ("bought with ...").
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from marketflow.recommend.interactions import History
from marketflow.recommend.models.base import Component, decayed
from marketflow.recommend.params import EaseParams


class Ease(Component):
    name = "ease"
    params: EaseParams

    def fit(self, history: History) -> None:
        with self.throughput.timing():
            x = history.matrix(binary=True)
            gram = torch.from_numpy((x.T @ x).toarray()).to(self.device, torch.float64)
            gram.diagonal().add_(self.params.l2)
            precision = torch.cholesky_inverse(torch.linalg.cholesky(gram))  # gram is SPD: 2x faster than inv
            weights = precision / (-precision.diagonal())
            weights.fill_diagonal_(0.0)
            self.weights = weights.to(torch.float32).cpu().numpy()
        self.throughput.samples += history.n_events

    def score(self, history: History, rows: np.ndarray) -> np.ndarray:
        x = history.matrix(decayed(history, self.params.input_half_life_days))[rows]
        x.data = np.minimum(x.data, 1.0)
        return np.asarray(x @ self.weights, dtype=np.float32)

    def associations(self) -> np.ndarray:
        return self.weights

    def state(self) -> dict[str, Any]:
        return {"weights": torch.from_numpy(self.weights)}

    def load_state(self, state: dict[str, Any]) -> None:
        self.weights = state["weights"].numpy()
