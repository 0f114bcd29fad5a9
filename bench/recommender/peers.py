"""The peers a shop would otherwise pick, each written independently of marketflow's models and
tuned the same way: a small grid scored on the validation window, fitted on data before it.

Each peer's fit returns a scorer `(History, rows) -> scores (len(rows), n_items)`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import sparse

from marketflow.recommend.interactions import History

Scorer = Callable[[History, np.ndarray], np.ndarray]


@dataclass
class Peer:
    name: str
    fit: Callable[[History, dict[str, Any]], Scorer]
    grid: list[dict[str, Any]] = field(default_factory=lambda: [{}])
    samples: Callable[[History, dict[str, Any]], int] = lambda history, config: history.n_events


def _grid(**axes: list[Any]) -> list[dict[str, Any]]:
    return [dict(zip(axes, values, strict=True)) for values in itertools.product(*axes.values())]


def _binary(history: History) -> sparse.csr_matrix:
    return history.matrix(np.ones_like(history.weight), binary=True).astype(np.float32).tocsr()


def _buyers(history: History, window_days: int) -> np.ndarray:
    keep = history.age_days() <= window_days if window_days else np.ones(history.n_events, dtype=bool)
    pairs = np.unique(history.user[keep] * history.n_items + history.item[keep])
    return np.bincount(pairs % history.n_items, minlength=history.n_items).astype(np.float32)


def fit_popularity(history: History, config: dict[str, Any]) -> Scorer:
    counts = _buyers(history, config["window_days"])
    return lambda h, rows: np.broadcast_to(counts, (len(rows), len(counts))).copy()


def fit_own_most_bought(history: History, config: dict[str, Any]) -> Scorer:
    """Items by how often the customer bought them; ties: the more recently bought; then best-sellers."""
    popularity = _buyers(history, 0)
    popularity /= popularity.max()

    def score(h: History, rows: np.ndarray) -> np.ndarray:
        counts = h.matrix(np.ones_like(h.weight))[rows].toarray()
        recency = h.matrix((1.0 / (1.0 + h.age_days())).astype(np.float32))[rows].toarray()
        return counts + 1e-3 * np.minimum(recency, 1.0) + 1e-6 * popularity

    return score


def fit_ease(history: History, config: dict[str, Any]) -> Scorer:
    """EASE (Steck 2019), the reference numpy formulation."""
    x = _binary(history)
    gram = (x.T @ x).toarray().astype(np.float64)
    gram[np.diag_indices_from(gram)] += config["l2"]
    precision = np.linalg.inv(gram)
    weights = (precision / -np.diag(precision)).astype(np.float32)
    np.fill_diagonal(weights, 0.0)
    return lambda h, rows: np.asarray(_binary(h)[rows] @ weights)


def _implicit_scorer(model: Any, user_items: sparse.csr_matrix) -> Scorer:
    def score(h: History, rows: np.ndarray) -> np.ndarray:
        ids, values = model.recommend(
            rows, user_items[rows], N=user_items.shape[1], filter_already_liked_items=False
        )
        out = np.full((len(rows), user_items.shape[1]), -np.inf, dtype=np.float32)
        np.put_along_axis(out, ids, values.astype(np.float32), axis=1)
        return out

    return score


def fit_als(history: History, config: dict[str, Any]) -> Scorer:
    from implicit.als import AlternatingLeastSquares
    from threadpoolctl import threadpool_limits

    user_items = _binary(history)
    model = AlternatingLeastSquares(**config, iterations=15, random_state=42, num_threads=1)
    with threadpool_limits(1, "blas"):  # what implicit asks for: its own threads, single-threaded BLAS
        model.fit(user_items, show_progress=False)
    return _implicit_scorer(model, user_items)


def fit_bpr(history: History, config: dict[str, Any]) -> Scorer:
    from implicit.bpr import BayesianPersonalizedRanking

    user_items = _binary(history)
    model = BayesianPersonalizedRanking(**config, iterations=100, random_state=42, num_threads=1)
    model.fit(user_items, show_progress=False)
    return _implicit_scorer(model, user_items)


def fit_item_knn(history: History, config: dict[str, Any]) -> Scorer:
    from implicit.nearest_neighbours import BM25Recommender, CosineRecommender

    user_items = _binary(history)
    kind = {"cosine": CosineRecommender, "bm25": BM25Recommender}[config["similarity"]]
    model = kind(K=config["K"], num_threads=1)
    model.fit(user_items, show_progress=False)
    return _implicit_scorer(model, user_items)


PEERS = [
    Peer("popularity", fit_popularity, _grid(window_days=[0, 7, 28, 91])),
    Peer("own most-bought", fit_own_most_bought),
    Peer("EASE", fit_ease, _grid(l2=[50.0, 100.0, 200.0, 400.0, 800.0, 1600.0])),
    Peer(
        "implicit ALS",
        fit_als,
        _grid(factors=[64, 128], regularization=[0.01, 0.1], alpha=[1.0, 10.0]),
        samples=lambda h, c: h.n_events * 15,
    ),
    Peer(
        "implicit BPR",
        fit_bpr,
        _grid(factors=[64, 128], learning_rate=[0.01, 0.05], regularization=[0.001, 0.01]),
        samples=lambda h, c: h.n_events * 100,
    ),
    Peer("implicit item-kNN", fit_item_knn, _grid(similarity=["cosine", "bm25"], K=[20, 100, 400])),
]
