"""What the next-item models (SASRec, GRU4Rec) share: windows of each customer's purchase sequence,
length batching, the full-softmax loss, training with early stopping, and scoring.

Training uses cross-entropy over every item ("SASRec+CE", Klenitskiy & Vasilev, RecSys 2023; the
same loss for GRU4Rec): on this shop's catalogue (~3,500 items) it beats sampled negatives at a
cost the CPU can pay.

Early stopping: each customer with >= 3 purchases has the last one held out; the network trains
on the rest and, after every epoch, is scored on predicting the held-out item (NDCG@10 of the
next-item ranking over all items). The best epoch's weights are kept and training stops after
`patience` epochs without improvement; after each epoch without improvement the learning rate is
multiplied by `lr_decay` (when set). Neither acts during the first `min_epochs` epochs: those sit on
a low plateau (SASRec on the shop: validation 0.019-0.022 for 2-4 epochs, then 0.030-0.037 and up),
and one noisy dip there cut the learning rate and stopped a fit on it (dim 32, seed 1: 0.038 "new" on
the shop's October, below popularity's 0.072; with min_epochs 6, 0.079). The optimiser is AdamW (decoupled
`weight_decay`). There is no refit on everything: it would double the fit time for one purchase per
customer, so the held-out items are never trained on (they are still read as input when the model
scores).

Targets (`params.targets`): "next" trains on every next purchase. "new" trains for the "new"
evaluation variant (items the customer never bought, bought ones removed from the ranking): a
position's target counts only if the item does not occur in the window up to and including that
position, and the items that do occur there are masked out of its softmax. Its early stopping holds
out each customer's last purchase of an item new to them (when >= 2 purchases precede it; the
purchases after it, all re-orders, are dropped from training too) and ranks it with the items of the
customer's sequence before it masked. Scoring is the same in every mode (the "new" evaluation and the
blend mask bought items themselves).
"future" is "new" with each position's target drawn (again every epoch) from all the later purchases
of the window that are new to its prefix, not only the next one: on the shop ~96 % of next purchases
have the same timestamp (basket), and "new" rewards the coming weeks' items. On the Sep 2011 hold-out (4
weeks) SASRec's NDCG@10 "new" was 0.054 with "next", 0.052 with "new" and 0.066 with "future" (12
epochs, lr 4e-3), against EASE's 0.103. Its early stopping is "new"'s.

`recent_days` (default 7; 0 = none): each logit also gets a learned weight times log(1 + the
item's buyers on the `recent_days` days before the day of the purchase it is trained on, or before
the as-of date when it scores; a customer counts once a day). What sells at a moment is outside what
one customer's sequence can show, and the coming weeks' new items are largely what sells then. The
weight is not decayed.

`distinct` (the default, with "future"): the models read and learn each customer's sequence of
distinct items, their first purchases only. Re-orders say nothing about what is new to a customer and
fill the window: the last 50 purchases are two or three baskets, the last 150 distinct items most of a
customer's history. See recommend/README.md for what each step gained.

CPU speed matters (a fit takes a few minutes on one thread): windows are batched by length so
little time goes to padding.
"""

from __future__ import annotations

import logging
import math
from abc import abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from marketflow.recommend.interactions import SECONDS_PER_DAY, History
from marketflow.recommend.models.base import Component
from marketflow.recommend.runtime import MixedPrecision, seed_everything

log = logging.getLogger(__name__)

PAD = 0  # item i is token i + 1
VALIDATION_K = 10
_MIN_EVENTS_TO_VALIDATE = 3
_SCORE_CHUNK = 1024


class SequenceNetwork(nn.Module):
    """A network reading left-padded token sequences; its hidden states are dotted with the item
    vectors of its token embedding `items` (tied input and output)."""

    items: nn.Embedding

    def __init__(self) -> None:
        super().__init__()
        #: the weight of the recent buyers' log count in every logit (0 and untrained without `recent_days`)
        self.recent_weight = nn.Parameter(torch.zeros(()))

    @abstractmethod
    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Hidden state (batch, length, dim) after each position of left-padded `tokens`."""

    def item_vectors(self) -> torch.Tensor:
        """(n_items, dim): the logit of item i after a position is hidden . vectors[i] (PAD left out)."""
        return self.items.weight[1:]


def init_item_embedding(n_items: int, dim: int) -> nn.Embedding:
    """Token embedding with a zero PAD row and std dim^-0.5, so tied output logits start near unit variance."""
    items = nn.Embedding(n_items + 1, dim, padding_idx=PAD)
    nn.init.normal_(items.weight, std=dim**-0.5)
    items.weight.data[PAD] = 0.0
    return items


def day_numbers(seconds: np.ndarray) -> np.ndarray:
    """Days since 1970-01-01 (UTC) of event times in seconds."""
    return (np.asarray(seconds) // SECONDS_PER_DAY).astype(np.int64)


def as_of_day(history: History) -> int:
    """The day number of the history's as-of date (its first day left out)."""
    return int(day_numbers(np.array([history.as_of.value // 10**9]))[0])


@dataclass(frozen=True)
class RecentBuyers:
    """log(1 + the buyers of each item on the `window` days before each day of first..first +
    len(table) - 1 (day numbers), the day itself left out; a customer counts once a day, so one who
    bought the item on two of those days counts twice (sums of daily counts, one cumulative sum)."""

    first: int
    table: torch.Tensor  # (days, n_items)

    @classmethod
    def of(cls, history: History, window: int, first: int, last: int) -> RecentBuyers:
        day = day_numbers(history.seconds)
        inside = (day >= first - window) & (day < last)
        # a customer counts once per item and day
        keys = pd.DataFrame({"d": day[inside] - (first - window), "i": history.item[inside], "u": history.user[inside]})
        keys = keys.drop_duplicates()
        daily = np.zeros((last - first + window, history.n_items), dtype=np.float32)
        np.add.at(daily, (keys["d"].to_numpy(), keys["i"].to_numpy()), 1.0)
        before = np.concatenate([np.zeros((1, history.n_items), np.float32), np.cumsum(daily, axis=0)])
        days = last - first + 1
        return cls(first, torch.from_numpy(np.log1p(before[window : window + days] - before[:days])))

    def on(self, days: torch.Tensor) -> torch.Tensor:
        """(*days.shape, n_items) rows for day numbers `days`."""
        return self.table[days - self.first]

    @classmethod
    def over(cls, history: History, window: int) -> RecentBuyers | None:
        """The table for every day from the history's first purchase to its as-of date, counted over
        every purchase (re-orders too); None without a window or purchases."""
        if not window or not history.n_events:
            return None
        return cls.of(history, window, int(day_numbers(history.seconds).min()), as_of_day(history))


def sequences(history: History, keep: np.ndarray | None = None, values: np.ndarray | None = None) -> list[np.ndarray]:
    """Each customer's token sequence (oldest first), limited to events where `keep` is True; with
    `values` (one per event) those values in the same places instead of the tokens."""
    tokens = history.item + 1 if values is None else values
    out = []
    for user in range(history.n_users):
        span = slice(history.offsets[user], history.offsets[user + 1])
        out.append(tokens[span] if keep is None else tokens[span][keep[span]])
    return out


def windows(seqs: list[np.ndarray], max_len: int) -> list[np.ndarray]:
    """Each sequence cut, from the most recent end, into windows of <= max_len + 1 tokens
    (consecutive windows share one token, so every purchase after the first is a target once)."""
    return [seq[max(0, end - max_len - 1) : end] for seq in seqs for end in range(len(seq), 1, -max_len)]


def length_batches(chunks: list[np.ndarray], batch_size: int) -> list[torch.Tensor]:
    """Token lists grouped by length into left-padded batches (padding only up to the batch's longest)."""
    ordered = sorted(chunks, key=len)
    batches = []
    for start in range(0, len(ordered), batch_size):
        group = ordered[start : start + batch_size]
        batches.append(left_padded(group, max(len(w) for w in group)))
    return batches


def left_padded(seqs: list[np.ndarray], width: int) -> torch.Tensor:
    """The last `width` tokens of each sequence, right-aligned in a PAD-filled (len(seqs), width) tensor."""
    batch = np.zeros((len(seqs), width), dtype=np.int64)
    for row, seq in enumerate(seqs):
        tail = seq[len(seq) - width :] if len(seq) > width else seq
        if len(tail):
            batch[row, width - len(tail) :] = tail
    return torch.from_numpy(batch)


def new_targets(window: torch.Tensor) -> torch.Tensor:
    """(batch, length - 1) target item of each position of `window` (input window[:, :-1], next token
    window[:, 1:]), -1 where there is none: padding, or an item already in window[:, : position + 1]."""
    following, inputs = window[:, 1:], window[:, :-1]
    length = inputs.shape[1]
    earlier = torch.ones(length, length, dtype=torch.bool, device=window.device).tril()
    repeat = ((following[:, :, None] == inputs[:, None, :]) & earlier).any(-1)
    return torch.where(repeat | (following == PAD), -1, following - 1)


def future_positions(window: torch.Tensor, masked: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """targets="future": per real position t of window[:, :-1], a position drawn uniformly from those
    after t in window[:, 1:] whose item is not True in masked[:, t] (its prefix items), -1 where none
    (`targets_at` reads the items; the position also gives the purchase's day)."""
    following = window[:, 1:]
    batch, length = following.shape
    index = (following.clamp(min=1) - 1)[:, None, :].expand(batch, length, length)
    later = torch.ones(length, length, dtype=torch.bool, device=window.device).triu()
    candidate = later & (following != PAD)[:, None, :] & (window[:, :-1] != PAD)[:, :, None] & ~masked.gather(2, index)
    draw = torch.rand(batch, length, length, generator=generator).to(window.device).masked_fill(~candidate, -1.0)
    return torch.where(candidate.any(-1), draw.argmax(-1), -1)


def targets_at(window: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """The item at each position of window[:, 1:] (-1 where the position is -1)."""
    return torch.where(positions >= 0, window[:, 1:].gather(1, positions.clamp(min=0)) - 1, -1)


def prefix_items(tokens: torch.Tensor, n_items: int) -> torch.Tensor:
    """(batch, length, n_items) True where item i occurs in tokens[b, : t + 1] (padding marks nothing).
    Each position's prefix is scattered at once (length^2 writes; ~50x faster on CPU than a one-hot
    cummax over time, whose cost is length x n_items per row)."""
    length = tokens.shape[1]
    earlier = torch.ones(length, length, dtype=torch.bool, device=tokens.device).tril()
    prefixes = torch.where(earlier, tokens[:, None, :], PAD)  # (batch, position, key): keys <= position
    seen = torch.zeros(*tokens.shape, n_items + 1, dtype=torch.bool, device=tokens.device)
    return seen.scatter_(2, prefixes, True)[:, :, 1:]


def next_item_loss(
    hidden: torch.Tensor,
    vectors: torch.Tensor,
    targets: torch.Tensor,
    negatives: int,
    generator: torch.Generator,
    masked: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
) -> torch.Tensor:
    """Cross-entropy of each real position's next item (target >= 0), against all items or
    `negatives` items sampled once per batch; items True in `masked` (batch, length, n_items) are
    left out of that position's softmax; `bias` (real positions, n_items) is added to the logits."""
    real = targets >= 0
    hidden, targets = hidden[real], targets[real]
    masked = masked[real] if masked is not None else None
    if not negatives:
        logits = (hidden @ vectors.T).float()
        logits = logits if bias is None else logits + bias
        return F.cross_entropy(logits if masked is None else logits.masked_fill(masked, float("-inf")), targets)
    sampled = torch.randint(len(vectors), (negatives,), generator=generator).to(hidden.device)
    positive = (hidden * vectors[targets]).sum(-1, keepdim=True)
    excluded = sampled[None, :] == targets[:, None]
    if masked is not None:
        excluded = excluded | masked[:, sampled]
    negative = hidden @ vectors[sampled].T
    if bias is not None:
        positive = positive + bias.gather(1, targets[:, None])
        negative = negative + bias[:, sampled]
    negative = negative.masked_fill(excluded, float("-inf"))
    logits = torch.cat([positive, negative], dim=1).float()
    return F.cross_entropy(logits, torch.zeros(len(targets), dtype=torch.long, device=hidden.device))


@dataclass(frozen=True)
class Validation:
    """Each validated customer's input sequence and held-out next item (an item index) with its day
    number; with `seen` (customers x items, the items of each customer's whole input sequence) those
    are not ranked."""

    inputs: torch.Tensor
    targets: torch.Tensor
    days: torch.Tensor
    seen: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.targets)

    @classmethod
    def split(cls, history: History, max_len: int, targets: str = "next") -> tuple[np.ndarray, Validation]:
        """(events kept for training, the hold-out of every customer with >= 3 purchases' last one);
        targets="new" or "future": of each customer's last purchase of an item new to them with >= 2
        purchases before it, ranked with those purchases' items masked (it and the purchases after it
        are not trained on)."""
        if targets in ("new", "future"):
            return cls._split_new(history, max_len)
        counts = np.diff(history.offsets)
        validated = np.flatnonzero(counts >= _MIN_EVENTS_TO_VALIDATE)
        last = history.offsets[validated + 1] - 1
        keep = np.ones(history.n_events, dtype=bool)
        keep[last] = False
        inputs = left_padded([history.item[history.offsets[u] : end] + 1 for u, end in zip(validated, last)], max_len)
        return keep, cls(inputs, torch.from_numpy(history.item[last]), torch.from_numpy(day_numbers(history.seconds[last])))

    @classmethod
    def _split_new(cls, history: History, max_len: int) -> tuple[np.ndarray, Validation]:
        events = np.arange(history.n_events)
        first = history.is_first_purchase()
        position = events - history.offsets[history.user]
        candidate = np.where(first & (position >= _MIN_EVENTS_TO_VALIDATE - 1), events, -1)
        held = np.full(history.n_users, -1)
        np.maximum.at(held, history.user, candidate)
        validated = np.flatnonzero(held >= 0)
        held = held[validated]
        keep = np.ones(history.n_events, dtype=bool)
        seen = torch.zeros(len(validated), history.n_items, dtype=torch.bool)
        prefixes = []
        for row, (user, event) in enumerate(zip(validated, held)):
            keep[event : history.offsets[user + 1]] = False
            prefix = history.item[history.offsets[user] : event]
            seen[row, torch.from_numpy(prefix)] = True
            prefixes.append(prefix + 1)
        days = torch.from_numpy(day_numbers(history.seconds[held]))
        return keep, cls(left_padded(prefixes, max_len), torch.from_numpy(history.item[held]), days, seen)

    def ndcg(self, network: SequenceNetwork, device: torch.device, recent: RecentBuyers | None = None) -> float:
        """Mean NDCG@10 of the held-out item in the ranking of all items but the `seen` ones (one relevant
        item); with `recent`, the recent buyers of the held-out purchase's day weigh in as in training."""
        training = network.training
        network.eval()
        logits = next_logits(network, self.inputs, device)
        if recent is not None:
            weight = float(network.recent_weight.detach())
            logits = [chunk + weight * recent.on(days) for chunk, days in zip(logits, self.days.split(_SCORE_CHUNK))]
        if self.seen is not None:
            logits = [chunk.masked_fill(seen, float("-inf")) for chunk, seen in zip(logits, self.seen.split(_SCORE_CHUNK))]
        ranks = torch.cat([_rank_of(chunk, targets) for chunk, targets in zip(logits, self.targets.split(_SCORE_CHUNK))])
        network.train(training)
        gains = torch.where(ranks < VALIDATION_K, 1.0 / torch.log2(ranks.double() + 2), 0.0)
        return float(gains.mean()) if len(gains) else 0.0


def _rank_of(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """0-based rank of each target among its row's logits (ties count against it)."""
    return (logits > logits.gather(1, targets[:, None])).sum(1)


@torch.no_grad()
def next_logits(network: SequenceNetwork, tokens: torch.Tensor, device: torch.device) -> list[torch.Tensor]:
    """float32 CPU logits of the item after the last position of each row of `tokens`, in chunks."""
    precision = MixedPrecision(device)
    out = []
    for chunk in tokens.split(_SCORE_CHUNK):
        with precision.autocast():
            last = network(chunk.to(device))[:, -1]
            out.append((last @ network.item_vectors().T).float().cpu())
    return out


class SequenceModel(Component):
    """A component that learns to predict each next purchase from the ones before it."""

    best_epoch: int
    validation_curve: list[float]  # validation NDCG@10 after each epoch trained
    learning_rates: list[float]  # the learning rate each epoch trained with

    @abstractmethod
    def network(self, n_items: int) -> SequenceNetwork: ...

    @property
    def negatives(self) -> int:
        """Sampled negatives per batch; 0 = softmax over all items."""
        return 0

    def fit(self, history: History) -> None:
        generator = seed_everything(self.seed)
        p = self.params
        self.n_items = history.n_items
        recent = RecentBuyers.over(history, p.recent_days)
        if p.distinct:
            history = history.first_purchases()
        new = p.targets in ("new", "future")
        keep, validation = Validation.split(history, p.max_len, p.targets)
        batches = length_batches(windows(sequences(history, keep), p.max_len), p.batch_size)
        # each token's day number, batched alike (the sort by length is stable)
        days = length_batches(windows(sequences(history, keep, day_numbers(history.seconds)), p.max_len), p.batch_size)
        # per batch: (tokens, days, each position's target item or -1); "new" drops batches without a target
        steps = [(b, d, new_targets(b) if new else torch.where(b[:, 1:] == PAD, -1, b[:, 1:] - 1)) for b, d in zip(batches, days)]
        steps = [(b, d, t) for b, d, t in steps if bool((t >= 0).any())]
        model = self.network(history.n_items).to(self.device)
        decayed = [q for name, q in model.named_parameters() if name != "recent_weight"]
        optimizer = torch.optim.AdamW(
            [{"params": decayed}, {"params": [model.recent_weight], "weight_decay": 0.0}],
            lr=p.lr, betas=(0.9, 0.98), weight_decay=p.weight_decay,
        )
        on_device = RecentBuyers(recent.first, recent.table.to(self.device)) if recent is not None else None
        precision = MixedPrecision(self.device)
        targets_per_epoch = sum(int((t >= 0).sum()) for _, _, t in steps)
        best, self.best_epoch, best_state, self.validation_curve, self.learning_rates = -math.inf, 0, None, [], []
        model.train()
        with self.throughput.timing():
            for epoch in range(1, p.epochs + 1):
                self.learning_rates.append(optimizer.param_groups[0]["lr"])
                for index in torch.randperm(len(steps), generator=generator).tolist():
                    window, window_days, targets = (t.to(self.device) for t in steps[index])
                    masked = prefix_items(window[:, :-1], self.n_items) if new else None
                    positions = None
                    if p.targets == "future":  # drawn again every epoch
                        positions = future_positions(window, masked, generator)
                        targets = targets_at(window, positions)
                    bias = None
                    if on_device is not None:
                        target_days = window_days[:, 1:] if positions is None else window_days[:, 1:].gather(1, positions.clamp(min=0))
                        bias = model.recent_weight * on_device.on(target_days[targets >= 0])
                    with precision.autocast():
                        hidden = model(window[:, :-1])
                        loss = next_item_loss(hidden, model.item_vectors(), targets, self.negatives, generator, masked, bias)
                    precision.step(loss, optimizer)
                self.throughput.samples += targets_per_epoch
                # with nobody to validate on (every customer has < 3 purchases) the last epoch is kept
                score = validation.ndcg(model, self.device, recent) if len(validation) else float(epoch)
                self.validation_curve.append(score)
                if score > best:
                    best, self.best_epoch = score, epoch
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                elif epoch <= p.min_epochs:  # still leaving the first plateau
                    continue
                elif epoch - self.best_epoch >= p.patience:
                    break
                elif p.lr_decay is not None:  # a plateau: smaller steps before giving up
                    for group in optimizer.param_groups:
                        group["lr"] *= p.lr_decay
        model.load_state_dict(best_state)
        log.info(
            "%s trained on %s: best epoch %d of %d (validation NDCG@%d per epoch %s), recent buyers' weight %.3f %s",
            self.name, precision.describe(), self.best_epoch, len(self.validation_curve), VALIDATION_K,
            [round(score, 4) for score in self.validation_curve], float(model.recent_weight.detach()), self.throughput.as_dict(),
        )
        self.model = model.eval()

    def score(self, history: History, rows: np.ndarray) -> np.ndarray:
        """Softmax over items after each customer's last `max_len` purchases (`distinct`: distinct items),
        with the recent buyers of the days before the as-of date weighing in (`recent_days`)."""
        weight = float(self.model.recent_weight.detach())
        bias = None
        if self.params.recent_days and weight:
            today = as_of_day(history)
            bias = weight * RecentBuyers.of(history, self.params.recent_days, today, today).table[0]
        if self.params.distinct:
            history = history.first_purchases()
        seqs = [history.item[history.offsets[user] : history.offsets[user + 1]] + 1 for user in rows]
        logits = next_logits(self.model, left_padded(seqs, self.params.max_len), self.device)
        if not logits:
            return np.zeros((0, self.n_items), np.float32)
        logits = torch.cat(logits)
        return torch.softmax(logits if bias is None else logits + bias, dim=-1).numpy()

    def state(self) -> dict[str, Any]:
        return {
            "n_items": self.n_items,
            "best_epoch": self.best_epoch,
            "model": {k: v.cpu() for k, v in self.model.state_dict().items()},
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.n_items = int(state["n_items"])
        self.best_epoch = int(state.get("best_epoch", 0))  # 0: saved before early stopping existed
        self.model = self.network(self.n_items).to(self.device)
        # saved before `recent_days` existed: no recent buyers' term
        self.model.load_state_dict({"recent_weight": torch.zeros(()), **state["model"]})
        self.model.eval()
