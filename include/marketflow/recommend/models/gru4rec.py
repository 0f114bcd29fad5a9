"""GRU4Rec (Hidasi et al., 2016): a recurrent network over each customer's purchase sequence.

Trained, like SASRec, with cross-entropy over all items (the full-softmax GRU4Rec of Hidasi &
Karatzoglou, 2018, without sampling) and early stopping on each customer's held-out last purchase
(see `sequence`). A GRU's state is changed by padding (its biases act on a zero input), so each
sequence runs from its first real token only (packed), and padded positions come out as zeros.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from marketflow.recommend.models.sequence import PAD, SequenceModel, SequenceNetwork, init_item_embedding
from marketflow.recommend.params import Gru4recParams


class _Gru4Rec(SequenceNetwork):
    def __init__(self, n_items: int, p: Gru4recParams) -> None:
        super().__init__()
        self.scale, self.dropout = p.dim**0.5, p.dropout  # unit-variance GRU inputs, as in SASRec
        self.items = init_item_embedding(n_items, p.dim)
        self.gru = nn.GRU(p.dim, p.dim, p.layers, batch_first=True, dropout=p.dropout if p.layers > 1 else 0.0)
        self.out = nn.Linear(p.dim, p.dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        length = tokens.shape[1]
        real = (tokens != PAD).sum(1)
        # left-padded -> right-padded (a row rotated left by its padding), run packed, rotated back
        shift = length - real
        columns = torch.arange(length, device=tokens.device)
        to_right = (columns[None, :] + shift[:, None]) % length
        x = F.dropout(self.items(tokens.gather(1, to_right)) * self.scale, self.dropout, self.training)
        packed = pack_padded_sequence(x, real.clamp(min=1).cpu(), batch_first=True, enforce_sorted=False)
        hidden, _ = pad_packed_sequence(self.gru(packed)[0], batch_first=True, total_length=length)
        to_left = (columns[None, :] - shift[:, None]) % length
        hidden = hidden.gather(1, to_left[:, :, None].expand_as(hidden))
        return self.out(F.dropout(hidden, self.dropout, self.training))


class Gru4Rec(SequenceModel):
    name = "gru4rec"
    params: Gru4recParams

    def network(self, n_items: int) -> SequenceNetwork:
        return _Gru4Rec(n_items, self.params)
