"""Repeat purchase: the customer's own most-bought items, recent purchases counting more.

In a wholesale gift shop most of next month's basket was bought before; this is the strongest
single signal for the "all" variant. It scores only items the customer already bought.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from marketflow.recommend.interactions import History
from marketflow.recommend.models.base import Component, decayed
from marketflow.recommend.params import RepeatParams


class RepeatPurchase(Component):
    name = "repeat"
    params: RepeatParams

    def fit(self, history: History) -> None:
        """Nothing to learn: the score is read from the history being scored."""

    def score(self, history: History, rows: np.ndarray) -> np.ndarray:
        counts = history.matrix(decayed(history, self.params.half_life_days))
        return counts[rows].toarray()

    def state(self) -> dict[str, Any]:
        return {}

    def load_state(self, state: dict[str, Any]) -> None:
        del state
