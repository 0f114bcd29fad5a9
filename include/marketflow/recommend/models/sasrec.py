"""SASRec (Kang & McAuley, 2018): a causal transformer over each customer's purchase sequence.

Trained to predict every next purchase with a softmax over the true item and `negatives` items
sampled per batch (all items when `negatives` = 0). It scores from the last `max_len` purchases,
so it follows a customer's current interests and recent re-orders.

CPU speed matters here (training must fit in minutes on 2 cores): windows are batched by length
so little time goes to padding, and each block has two dropouts, not four (CPU dropout is slow).
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from marketflow.recommend.interactions import History
from marketflow.recommend.models.base import Component
from marketflow.recommend.params import SasrecParams
from marketflow.recommend.runtime import MixedPrecision, seed_everything

log = logging.getLogger(__name__)

PAD = 0  # item i is token i + 1


class _Block(nn.Module):
    """Pre-norm causal self-attention + feed-forward, each added back through dropout."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.attention_norm, self.ff_norm = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.out = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.ff = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, dim = x.shape
        q, k, v = self.qkv(self.attention_norm(x)).view(batch, length, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + F.dropout(self.out(attended.transpose(1, 2).reshape(batch, length, dim)), self.dropout, self.training)
        return x + F.dropout(self.ff(self.ff_norm(x)), self.dropout, self.training)


class _SasRec(nn.Module):
    def __init__(self, n_items: int, p: SasrecParams) -> None:
        super().__init__()
        self.scale, self.dropout = math.sqrt(p.dim), p.dropout
        self.items = nn.Embedding(n_items + 1, p.dim, padding_idx=PAD)
        self.positions = nn.Embedding(p.max_len, p.dim)
        # unit-variance inputs after the sqrt(dim) scale, unit-variance logits with the tied output
        nn.init.normal_(self.items.weight, std=p.dim**-0.5)
        nn.init.normal_(self.positions.weight, std=p.dim**-0.5)
        self.items.weight.data[PAD] = 0.0
        self.blocks = nn.ModuleList(_Block(p.dim, p.heads, p.dropout) for _ in range(p.blocks))
        self.norm = nn.LayerNorm(p.dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Hidden state after each position of left-padded `tokens` (batch, length <= max_len)."""
        real = (tokens != PAD).unsqueeze(-1)
        length = tokens.shape[1]
        positions = torch.arange(self.positions.num_embeddings - length, self.positions.num_embeddings, device=tokens.device)
        x = F.dropout((self.items(tokens) * self.scale + self.positions(positions)) * real, self.dropout, self.training)
        for block in self.blocks:
            x = block(x) * real
        return self.norm(x)

    def item_vectors(self) -> torch.Tensor:
        return self.items.weight[1:]


def _windows(history: History, max_len: int) -> list[np.ndarray]:
    """Each customer's token sequence cut, from the most recent end, into windows of <= max_len + 1."""
    tokens = history.item + 1
    out = []
    for user in range(history.n_users):
        seq = tokens[history.offsets[user] : history.offsets[user + 1]]
        out += [seq[max(0, end - max_len - 1) : end] for end in range(len(seq), 1, -max_len)]
    return out


def _length_batches(windows: list[np.ndarray], batch_size: int) -> list[torch.Tensor]:
    """Windows grouped by length into left-padded batches (padding only up to the batch's longest)."""
    ordered = sorted(windows, key=len)
    batches = []
    for start in range(0, len(ordered), batch_size):
        group = ordered[start : start + batch_size]
        width = max(len(w) for w in group)
        batch = np.zeros((len(group), width), dtype=np.int64)
        for row, window in enumerate(group):
            batch[row, width - len(window) :] = window
        batches.append(torch.from_numpy(batch))
    return batches


def _loss(model: _SasRec, hidden: torch.Tensor, targets: torch.Tensor, negatives: int, generator: torch.Generator) -> torch.Tensor:
    """Cross-entropy of each real position's next item, against all items or sampled negatives."""
    real = targets >= 0
    hidden, targets = hidden[real], targets[real]
    vectors = model.item_vectors()
    if not negatives:
        return F.cross_entropy((hidden @ vectors.T).float(), targets)
    sampled = torch.randint(len(vectors), (negatives,), generator=generator).to(hidden.device)
    positive = (hidden * vectors[targets]).sum(-1, keepdim=True)
    negative = (hidden @ vectors[sampled].T).masked_fill(sampled[None, :] == targets[:, None], float("-inf"))
    logits = torch.cat([positive, negative], dim=1).float()
    return F.cross_entropy(logits, torch.zeros(len(targets), dtype=torch.long, device=hidden.device))


class SasRec(Component):
    name = "sasrec"
    params: SasrecParams

    def fit(self, history: History) -> None:
        generator = seed_everything(self.seed)
        self.n_items = history.n_items
        batches = _length_batches(_windows(history, self.params.max_len), self.params.batch_size)
        model = _SasRec(history.n_items, self.params).to(self.device)
        optimizer = torch.optim.Adam(model.parameters(), lr=self.params.lr, betas=(0.9, 0.98))
        precision = MixedPrecision(self.device)
        targets_per_epoch = sum(int((b[:, 1:] != PAD).sum()) for b in batches)
        model.train()
        with self.throughput.timing():
            for _ in range(self.params.epochs):
                for index in torch.randperm(len(batches), generator=generator).tolist():
                    window = batches[index].to(self.device)
                    with precision.autocast():
                        hidden = model(window[:, :-1])
                        loss = _loss(model, hidden, window[:, 1:] - 1, self.params.negatives, generator)
                    precision.step(loss, optimizer)
                self.throughput.samples += targets_per_epoch
        log.info("sasrec trained on %s: %s", precision.describe(), self.throughput.as_dict())
        self.model = model.eval()

    @torch.no_grad()
    def score(self, history: History, rows: np.ndarray) -> np.ndarray:
        tokens = np.zeros((len(rows), self.params.max_len), dtype=np.int64)
        for n, user in enumerate(rows):
            seq = history.item[history.offsets[user] : history.offsets[user + 1]][-self.params.max_len :] + 1
            if len(seq):
                tokens[n, -len(seq) :] = seq
        out = []
        for chunk in torch.from_numpy(tokens).split(1024):
            with MixedPrecision(self.device).autocast():
                last = self.model(chunk.to(self.device))[:, -1]
                out.append(torch.softmax((last @ self.model.item_vectors().T).float(), dim=-1).cpu())
        return torch.cat(out).numpy() if out else np.zeros((0, self.n_items), dtype=np.float32)

    def state(self) -> dict[str, Any]:
        return {"n_items": self.n_items, "model": {k: v.cpu() for k, v in self.model.state_dict().items()}}

    def load_state(self, state: dict[str, Any]) -> None:
        self.n_items = int(state["n_items"])
        self.model = _SasRec(self.n_items, self.params).to(self.device)
        self.model.load_state_dict(state["model"])
        self.model.eval()
