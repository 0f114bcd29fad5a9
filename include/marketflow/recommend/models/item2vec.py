"""item2vec (Barkan & Koenigstein, 2016): word2vec's skip-gram with negative sampling over purchases.

A "sentence" is the customer's purchase sequence (items within `window` purchases of each other are
context) or one invoice (the items bought at the same moment). Each item gets
an input vector (as a target) and an output vector (as context); their dot product is skip-gram's
own estimate of how likely one is bought near the other. A customer's vector is the recency-weighted
mean of the input vectors of what they bought, and an item scores its dot product with the item's
output vector. On the September 2011 validation window, from the same vectors (window 5), this
scored NDCG@10 0.245 ("all") and 0.067 ("new") where the cosine of input vectors, the paper's
similarity, scored 0.06 and 0.006: cosine ignores how often an item sells. Invoices as sentences did
worse (best tried 0.17 / 0.05).
Customers are not trained, so new customers and new purchases are scored without refitting.

Trained by gensim's Word2Vec on one worker with the run's seed: repeatable bit for bit on the CPU."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import torch

from marketflow.recommend.interactions import History
from marketflow.recommend.models.base import Component, decayed
from marketflow.recommend.params import Item2vecParams

log = logging.getLogger(__name__)


def sentences(history: History, basket: bool) -> list[list[str]]:
    """Item positions (as strings, gensim's tokens) per invoice or per customer, in purchase order;
    an item repeated within a sentence is kept once, a sentence of one item is dropped (no context)."""
    group = history.user * (history.seconds.max(initial=0) + 1) + history.seconds if basket else history.user
    starts = np.flatnonzero(np.r_[True, group[1:] != group[:-1]])  # events are sorted by user, then time
    out = []
    for items in np.split(history.item, starts[1:]):
        distinct = items[np.sort(np.unique(items, return_index=True)[1])]
        if len(distinct) > 1:
            out.append(distinct.astype(str).tolist())
    return out


class Item2Vec(Component):
    name = "item2vec"
    params: Item2vecParams

    def fit(self, history: History) -> None:
        corpus = sentences(history, basket=self.params.sentence == "basket")
        with self.throughput.timing():
            from gensim.models import Word2Vec  # imported here: loading the library stays cheap
            model = Word2Vec(
                corpus,
                vector_size=self.params.dim,
                window=self.params.window,
                shrink_windows=False,  # every item within the window is context, however far
                sg=1,
                negative=self.params.negative,
                ns_exponent=self.params.ns_exponent,
                sample=0.0,  # no down-sampling of best-sellers: they are what customers buy
                min_count=1,
                epochs=self.params.epochs,
                workers=1,
                seed=self.seed,
            )
        self.throughput.samples += sum(map(len, corpus)) * self.params.epochs
        log.info("item2vec trained on %d sentences: %s", len(corpus), self.throughput.as_dict())
        trained = np.array(model.wv.index_to_key, dtype=np.int64)
        self.item_vectors = np.zeros((history.n_items, self.params.dim), dtype=np.float32)
        self.context_vectors = np.zeros_like(self.item_vectors)
        self.item_vectors[trained] = model.wv.vectors
        self.context_vectors[trained] = model.syn1neg

    def score(self, history: History, rows: np.ndarray) -> np.ndarray:
        """Customer vector . each item's output vector; an item never trained (never bought near another)
        gets the customer's lowest score."""
        bought = history.matrix(decayed(history, self.params.half_life_days))[rows]
        weights = np.maximum(np.asarray(bought.sum(axis=1)), 1e-12)
        scores = (np.asarray(bought @ self.item_vectors) / weights) @ self.context_vectors.T
        untrained = ~self.context_vectors.any(axis=1)
        scores[:, untrained] = scores.min(axis=1, keepdims=True)
        return scores.astype(np.float32)

    def state(self) -> dict[str, Any]:
        return {
            "item_vectors": torch.from_numpy(self.item_vectors),
            "context_vectors": torch.from_numpy(self.context_vectors),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.item_vectors = state["item_vectors"].numpy()
        self.context_vectors = state["context_vectors"].numpy()
