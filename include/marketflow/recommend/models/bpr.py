"""BPR matrix factorisation (Rendle et al., 2009) in PyTorch: the collaborative-filtering component.

Learns a vector per customer and per item so that bought items outrank random ones. Customers who
first bought after the fit have no vector and get the item biases (popularity) only.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from marketflow.recommend.interactions import History
from marketflow.recommend.models.base import Component
from marketflow.recommend.params import BprParams
from marketflow.recommend.runtime import MixedPrecision, seed_everything

log = logging.getLogger(__name__)


class _Factors(nn.Module):
    def __init__(self, n_users: int, n_items: int, dim: int) -> None:
        super().__init__()
        self.users = nn.Embedding(n_users, dim)
        self.items = nn.Embedding(n_items, dim)
        self.item_bias = nn.Embedding(n_items, 1)
        for table in (self.users, self.items):
            nn.init.normal_(table.weight, std=0.1)
        nn.init.zeros_(self.item_bias.weight)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return (self.users(users) * self.items(items)).sum(-1) + self.item_bias(items).squeeze(-1)


class Bpr(Component):
    name = "bpr"
    params: BprParams

    def fit(self, history: History) -> None:
        generator = seed_everything(self.seed)
        pairs = np.unique(history.user * history.n_items + history.item)
        users = torch.from_numpy(pairs // history.n_items)
        items = torch.from_numpy(pairs % history.n_items)
        model = _Factors(history.n_users, history.n_items, self.params.dim).to(self.device)
        optimizer = torch.optim.Adam(model.parameters(), lr=self.params.lr)
        precision = MixedPrecision(self.device)
        model.train()
        with self.throughput.timing():
            for _ in range(self.params.epochs):
                order = torch.randperm(len(pairs), generator=generator)
                negatives = torch.randint(history.n_items, (len(pairs),), generator=generator)
                for start in range(0, len(pairs), self.params.batch_size):
                    batch = order[start : start + self.params.batch_size]
                    u = users[batch].to(self.device)
                    i = items[batch].to(self.device)
                    j = negatives[batch].to(self.device)
                    with precision.autocast():
                        margin = model(u, i) - model(u, j)
                        penalty = sum(p.pow(2).sum() for p in (model.users(u), model.items(i), model.items(j)))
                        loss = -nn.functional.logsigmoid(margin).mean() + self.params.l2 * penalty / len(batch)
                    precision.step(loss, optimizer)
                self.throughput.samples += len(pairs)
        log.info("bpr trained on %s: %s", precision.describe(), self.throughput.as_dict())
        self.user_ids = history.user_ids
        self.user_factors = model.users.weight.detach().float().cpu().numpy()
        self.item_factors = model.items.weight.detach().float().cpu().numpy()
        self.item_bias = model.item_bias.weight.detach().float().cpu().numpy()[:, 0]

    def score(self, history: History, rows: np.ndarray) -> np.ndarray:
        known = pd.Index(self.user_ids).get_indexer(history.user_ids[rows])
        factors = np.where((known >= 0)[:, None], self.user_factors[known], 0.0).astype(np.float32)
        return factors @ self.item_factors.T + self.item_bias

    def state(self) -> dict[str, Any]:
        return {
            "user_ids": [str(u) for u in self.user_ids],
            "user_factors": torch.from_numpy(self.user_factors),
            "item_factors": torch.from_numpy(self.item_factors),
            "item_bias": torch.from_numpy(self.item_bias),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.user_ids = np.array(state["user_ids"], dtype=object)
        self.user_factors = state["user_factors"].numpy()
        self.item_factors = state["item_factors"].numpy()
        self.item_bias = state["item_bias"].numpy()
