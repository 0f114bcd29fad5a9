"""SASRec (Kang & McAuley, 2018): a causal transformer over each customer's purchase sequence.

Trained as "SASRec+CE" (Klenitskiy & Vasilev, 2023): cross-entropy over all items by default,
`negatives` sampled items per batch when set; early stopping on each customer's held-out last
purchase (see `sequence`). It scores from the last `max_len` purchases, so it follows a customer's
current interests and recent re-orders.

Attention is causal and never looks at padding: sequences are left-padded with token 0, whose
hidden state is not neutral (LayerNorm of zeros is its bias), so a position attends to the real
positions up to itself only, and an output does not depend on how much padding precedes it.
Each block has two dropouts, not four (CPU dropout is slow).
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from marketflow.recommend.models.sequence import PAD, SequenceModel, SequenceNetwork, init_item_embedding
from marketflow.recommend.params import SasrecParams


def attention_mask(tokens: torch.Tensor) -> torch.Tensor:
    """(batch, 1, length, length) True where query q may attend key k: k <= q and k is a real token,
    or k == q (a padding row attends to itself, so its softmax is never over nothing, never NaN)."""
    length = tokens.shape[1]
    causal = torch.ones(length, length, dtype=torch.bool, device=tokens.device).tril()
    allowed = causal & (tokens != PAD)[:, None, :]
    return (allowed | torch.eye(length, dtype=torch.bool, device=tokens.device))[:, None]


class _Block(nn.Module):
    """Pre-norm masked self-attention + feed-forward, each added back through dropout."""

    def __init__(self, dim: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.attention_norm, self.ff_norm = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.qkv, self.out = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.ff = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, dim))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        batch, length, dim = x.shape
        q, k, v = self.qkv(self.attention_norm(x)).view(batch, length, 3, self.heads, -1).permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        x = x + F.dropout(self.out(attended.transpose(1, 2).reshape(batch, length, dim)), self.dropout, self.training)
        return x + F.dropout(self.ff(self.ff_norm(x)), self.dropout, self.training)


class _SasRec(SequenceNetwork):
    def __init__(self, n_items: int, p: SasrecParams) -> None:
        super().__init__()
        self.scale, self.dropout = math.sqrt(p.dim), p.dropout
        # unit-variance inputs after the sqrt(dim) scale, unit-variance logits with the tied output
        self.items = init_item_embedding(n_items, p.dim)
        self.positions = nn.Embedding(p.max_len, p.dim)
        nn.init.normal_(self.positions.weight, std=p.dim**-0.5)
        self.blocks = nn.ModuleList(_Block(p.dim, p.heads, p.dropout) for _ in range(p.blocks))
        self.norm = nn.LayerNorm(p.dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        # positions count back from the most recent purchase, so left padding shifts nothing
        length = tokens.shape[1]
        positions = torch.arange(self.positions.num_embeddings - length, self.positions.num_embeddings, device=tokens.device)
        x = F.dropout(self.items(tokens) * self.scale + self.positions(positions), self.dropout, self.training)
        mask = attention_mask(tokens)
        for block in self.blocks:
            x = block(x, mask)
        return self.norm(x)


class SasRec(SequenceModel):
    name = "sasrec"
    params: SasrecParams

    def network(self, n_items: int) -> SequenceNetwork:
        return _SasRec(n_items, self.params)

    @property
    def negatives(self) -> int:
        return self.params.negatives
