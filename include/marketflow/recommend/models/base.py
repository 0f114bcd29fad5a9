"""What every recommender component implements, so the blend, the evaluation and the artifacts
can treat popularity, repeat purchase, EASE, BPR and SASRec alike."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
import torch

from marketflow.recommend.interactions import SECONDS_PER_DAY, History
from marketflow.recommend.runtime import Throughput


class Component(ABC):
    """A model that scores every item of its vocabulary for users given their purchase history.

    `fit` learns from a History; `score` reads the (possibly newer) history of the same vocabulary,
    so a fitted model serves customers whose latest purchases it never saw.
    """

    name: ClassVar[str]

    def __init__(self, params: Any, device: torch.device, seed: int) -> None:
        self.params = params
        self.device = device
        self.seed = seed
        self.throughput = Throughput()

    @abstractmethod
    def fit(self, history: History) -> None: ...

    @abstractmethod
    def score(self, history: History, rows: np.ndarray) -> np.ndarray:
        """float32 scores (len(rows), n_items) for the users at `rows` of `history`; higher is better."""

    def associations(self) -> np.ndarray | None:
        """(n_items, n_items) weights of how much buying the row item points to the column item, for
        "bought with ..." reasons; None for a model without item-item weights."""
        return None

    @abstractmethod
    def state(self) -> dict[str, Any]:
        """Fitted state as tensors, lists and numbers (what torch.load(weights_only=True) accepts)."""

    @abstractmethod
    def load_state(self, state: dict[str, Any]) -> None: ...


def decayed(history: History, half_life_days: float | None) -> np.ndarray:
    """Each interaction's weight, halved every `half_life_days` of age (unchanged when None)."""
    if half_life_days is None:
        return history.weight
    return (history.weight * np.power(0.5, history.age_days() / half_life_days)).astype(np.float32)


def target_windows(history: History, windows: int, window_days: int) -> Iterator[tuple[int, float, np.ndarray, np.ndarray]]:
    """The windows models learn "what comes next" from, stepping back from the as-of date: for the
    k-th (0 = most recent) with buyers, (k, its start in seconds, mask of its events, its buyers)."""
    as_of = history.as_of.value // 10**9
    length = window_days * SECONDS_PER_DAY
    for k in range(windows):
        start = as_of - (k + 1) * length
        inside = (history.seconds >= start) & (history.seconds < start + length)
        buyers = np.unique(history.user[inside])
        if len(buyers):
            yield k, start, inside, buyers
