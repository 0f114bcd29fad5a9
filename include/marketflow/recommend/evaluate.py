"""Top-k metrics on a temporal hold-out, in the two variants the shop cares about.

Definitions (binary relevance; k = 10 unless told):
- the relevant set of a customer is the set of items they bought in the hold-out window;
- "all": every hold-out item counts and the ranking may contain items bought before;
- "new": only items the customer had never bought before the hold-out count, and items bought
  before are removed from the ranking (re-recommending them cannot hit);
- customers are those with history before the hold-out (cold-start customers are counted, not
  scored) and with at least one relevant item in the variant;
- Recall@k = hits / |relevant|; NDCG@k = DCG / ideal DCG with gain 1 and discount log2(rank + 1);
  HitRate@k = share of customers with at least one hit; coverage = distinct items in any top-k
  list / items in the model's catalogue;
- by group (`evaluate_groups`): the same metrics over each group's customers only, so a group's
  figure is comparable with the overall one; customers without a group are in "unknown".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Literal

import numpy as np
import pandas as pd
import torch

from marketflow.recommend.interactions import ITEM, USER, History, normalise_frame

Variant = Literal["all", "new"]
VARIANTS: tuple[Variant, ...] = ("all", "new")
Scorer = Callable[[History, np.ndarray], np.ndarray]
UNKNOWN_GROUP = "unknown"


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the k best scores per row, best first; equal scores in column order."""
    k = min(k, scores.shape[1])
    values, columns = torch.topk(torch.from_numpy(np.ascontiguousarray(scores)), k, dim=1)
    values, columns = values.numpy(), columns.numpy()
    order = np.lexsort((columns, -values), axis=1)
    return np.take_along_axis(columns, order, axis=1)


def seen_mask(history: History, rows: np.ndarray) -> np.ndarray:
    """Boolean (len(rows), n_items): items each customer bought within `history`."""
    return history.matrix(binary=True)[rows].toarray() > 0


class HoldoutTask:
    """A hold-out window's relevant sets for the customers of `history`, ready to score many models."""

    def __init__(self, history: History, holdout: pd.DataFrame) -> None:
        holdout = normalise_frame(holdout)
        self.history = history
        known = history.positions_of(holdout[USER].unique())
        self.customers_in_holdout = int(holdout[USER].nunique())
        self.cold_start_customers = int((known < 0).sum())
        self.rows = np.sort(known[known >= 0])
        item_pos = pd.Index(history.item_ids).get_indexer(holdout[ITEM])
        user_pos = history.positions_of(holdout[USER].to_numpy())
        # item -1 stands for any item outside the catalogue: relevant, but no model can show it
        pairs = pd.DataFrame({"row": user_pos, "item": np.where(item_pos >= 0, item_pos, -1)})
        pairs["key"] = np.where(item_pos >= 0, item_pos.astype(str), "x" + holdout[ITEM].to_numpy(dtype=str))
        pairs = pairs[pairs["row"] >= 0].drop_duplicates(["row", "key"])
        relevant = {row: group["item"].to_numpy() for row, group in pairs.groupby("row")}
        self.seen = seen_mask(history, self.rows)
        # per variant: relevance as a (rows x items) matrix, and |relevant| counting unreachable items
        self.relevance: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for variant in VARIANTS:
            matrix = np.zeros((len(self.rows), history.n_items), dtype=bool)
            counts = np.zeros(len(self.rows), dtype=np.int64)
            for n, row in enumerate(self.rows):
                items = relevant[row]
                inside = items[items >= 0]
                if variant == "new":
                    inside = inside[~self.seen[n, inside]]
                matrix[n, inside] = True
                counts[n] = len(inside) + int((items < 0).sum())
            self.relevance[variant] = (matrix, counts)

    def evaluate_scores(self, scores: np.ndarray, k: int = 10) -> dict[str, dict[str, float]]:
        """Metrics of precomputed scores (len(rows), n_items) in both variants."""
        return {variant: self._metrics(scores, variant, k) for variant in VARIANTS}

    def evaluate(self, scorer: Scorer, k: int = 10) -> dict[str, dict[str, float]]:
        return self.evaluate_scores(scorer(self.history, self.rows), k)

    def evaluate_groups(
        self, scores: np.ndarray, groups: Mapping[str, str], k: int = 10
    ) -> dict[str, dict[str, dict[str, float]]]:
        """Metrics of precomputed scores per group of customers (customer id -> group name), in both
        variants: {group: {variant: metrics}}; customers missing from `groups` are "unknown"."""
        names = np.array([groups.get(customer, UNKNOWN_GROUP) for customer in self.history.user_ids[self.rows]])
        return {
            name: {variant: self._metrics(scores, variant, k, within=names == name) for variant in VARIANTS}
            for name in sorted(set(names.tolist()))
        }

    def _metrics(
        self, scores: np.ndarray, variant: Variant, k: int, within: np.ndarray | None = None
    ) -> dict[str, float]:
        """Metrics over the customers with a relevant item in `variant` (and in the `within` mask of rows)."""
        relevant, counts = self.relevance[variant]
        scored = counts > 0 if within is None else (counts > 0) & within
        scores = scores[scored]
        if variant == "new":
            scores = np.where(self.seen[scored], -np.inf, scores)
        ranked = top_k(scores, k)
        hits = np.take_along_axis(relevant[scored], ranked, axis=1)
        counts = counts[scored]
        discounts = 1.0 / np.log2(np.arange(2, ranked.shape[1] + 2))
        ideal = np.cumsum(discounts)[np.minimum(counts, ranked.shape[1]) - 1]
        return {
            f"ndcg@{k}": float(((hits * discounts).sum(axis=1) / ideal).mean()) if len(counts) else 0.0,
            f"recall@{k}": float((hits.sum(axis=1) / counts).mean()) if len(counts) else 0.0,
            f"hitrate@{k}": float(hits.any(axis=1).mean()) if len(counts) else 0.0,
            "coverage": np.unique(ranked).size / self.history.n_items,
            "customers": int(len(counts)),
        }
