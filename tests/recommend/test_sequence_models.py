"""The next-item models (SASRec, GRU4Rec) on sequences whose right answer is planted: they learn
it, attention is causal and blind to padding, and early stopping keeps the best epoch."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch

from marketflow.recommend import models
from marketflow.recommend.interactions import History
from marketflow.recommend.models.gru4rec import _Gru4Rec
from marketflow.recommend.models.sasrec import _SasRec
from marketflow.recommend.models.sequence import (
    SequenceModel,
    SequenceNetwork,
    Validation,
    RecentBuyers,
    future_positions,
    new_targets,
    next_item_loss,
    prefix_items,
    targets_at,
)
from marketflow.recommend.params import Gru4recParams, RecommenderParams, SasrecParams
from marketflow.recommend.runtime import cpu_threads

N_ITEMS = 300
FOLLOW = 0.9  # chance that a customer's next purchase is the planted successor of the current one
#: small networks: the chain is learnt in seconds on one thread
SMALL: dict[str, dict[str, Any]] = {
    "sasrec": {"dim": 32, "heads": 1, "blocks": 1, "max_len": 20, "dropout": 0.1, "lr": 0.005, "epochs": 30, "targets": "next", "distinct": False},
    "gru4rec": {"dim": 32, "max_len": 20, "dropout": 0.1, "lr": 0.005, "epochs": 30, "targets": "next", "distinct": False},
}


def chains(seed: int = 0, users: int = 300, follow: float = FOLLOW) -> pd.DataFrame:
    """Customers walking a fixed successor permutation of the items: with probability `follow` the
    next purchase is the current item's successor, otherwise any item at random."""
    rng = np.random.default_rng(seed)
    successor = rng.permutation(N_ITEMS)
    start = pd.Timestamp("2024-01-01")
    rows = []
    for user in range(users):
        item = int(rng.integers(N_ITEMS))
        for step in range(int(rng.integers(10, 25))):
            rows.append((f"u{user}", f"i{item:03d}", start + pd.Timedelta(hours=step)))
            item = int(successor[item]) if rng.random() < follow else int(rng.integers(N_ITEMS))
    return pd.DataFrame(rows, columns=["user", "item", "timestamp"])


def fitted(name: str, history: History, **overrides: Any) -> SequenceModel:
    params = RecommenderParams.model_validate({name: {**SMALL[name], **overrides}, "device": "cpu"})
    component = models.build(name, params, torch.device("cpu"))
    with cpu_threads(params.cpu_threads):
        component.fit(history)
    assert isinstance(component, SequenceModel)
    return component


def hit_rate(scores: np.ndarray, targets: np.ndarray, k: int = 10) -> float:
    """Share of rows whose target is among the k best-scored items."""
    return float((np.argsort(-scores, axis=1, kind="stable")[:, :k] == targets[:, None]).any(axis=1).mean())


@pytest.mark.parametrize(
    ("name", "overrides"),
    [("sasrec", {}), ("sasrec", {"negatives": 64}), ("gru4rec", {}), ("sasrec", {"targets": "new"}), ("gru4rec", {"targets": "new"})],
    ids=["sasrec", "sasrec-sampled", "gru4rec", "sasrec-new", "gru4rec-new"],
)
def test_the_planted_successor_of_the_last_purchase_is_predicted(name: str, overrides: dict[str, Any]) -> None:
    """Trained without each customer's last purchase, the model ranks it in its top 10 for ~90 % of
    them (the best possible: the 10 % random steps are unpredictable). Measured ~0.90 for all three
    (seed 0); 0.8 leaves room for other seeds and torch versions. Popularity gets ~0.03."""
    frame = chains()
    last = frame.groupby("user").tail(1)
    history = History.from_frame(frame.drop(index=last.index))
    rows = history.positions_of(last["user"].to_numpy())
    targets = pd.Index(history.item_ids).get_indexer(last["item"])
    model = fitted(name, history, **overrides)
    sequential = hit_rate(model.score(history, rows), targets)
    popular = hit_rate(np.tile(np.bincount(history.item, minlength=history.n_items), (len(rows), 1)), targets)
    assert sequential >= 0.8, sequential
    assert sequential > 5 * popular
    assert 1 <= model.best_epoch < model.params.epochs
    assert model.throughput.samples > 0 and model.throughput.per_second > 0


NETWORKS = {
    "sasrec": lambda: _SasRec(50, SasrecParams(dim=16, heads=2, blocks=2, max_len=12, dropout=0.3)),
    "gru4rec": lambda: _Gru4Rec(50, Gru4recParams(dim=16, layers=2, max_len=12, dropout=0.3)),
}


@pytest.mark.parametrize("name", NETWORKS)
def test_a_position_sees_only_itself_and_the_purchases_before_it(name: str) -> None:
    torch.manual_seed(0)
    network: SequenceNetwork = NETWORKS[name]().eval()
    tokens = torch.randint(1, 51, (4, 12))
    changed = tokens.clone()
    changed[:, 7:] = torch.randint(1, 51, (4, 5))
    with torch.no_grad():
        before, after = network(tokens), network(changed)
    torch.testing.assert_close(before[:, :7], after[:, :7], rtol=0, atol=1e-6)
    assert not torch.allclose(before[:, 7:], after[:, 7:])


@pytest.mark.parametrize("name", NETWORKS)
def test_left_padding_changes_no_output_and_a_padding_row_is_finite(name: str) -> None:
    torch.manual_seed(0)
    network: SequenceNetwork = NETWORKS[name]().eval()
    sequence = torch.tensor([5, 9, 2, 33, 17])
    with torch.no_grad():
        alone = network(sequence[None])[0]
        for width in (6, 9, 12):
            padded = torch.zeros(3, width, dtype=torch.long)
            padded[0, width - 5 :] = sequence
            padded[1, -2:] = torch.tensor([3, 4])  # a shorter neighbour in the same batch; row 2 is all padding
            out = network(padded)
            torch.testing.assert_close(out[0, -5:], alone, rtol=0, atol=1e-5)
            assert torch.isfinite(out).all()


def test_early_stopping_stops_on_overfitting_and_keeps_the_best_epoch() -> None:
    """Few customers, weak structure and a large step: validation peaks early, then falls."""
    history = History.from_frame(chains(seed=3, users=60, follow=0.5))
    model = fitted("sasrec", history, dim=64, lr=0.02, dropout=0.0, epochs=30, patience=2, min_epochs=1)
    assert model.best_epoch + model.params.patience == len(model.validation_curve) < model.params.epochs
    assert max(model.validation_curve) == model.validation_curve[model.best_epoch - 1]
    _, validation = Validation.split(history, model.params.max_len)
    recent = RecentBuyers.over(history, model.params.recent_days)  # as the fit validated
    assert validation.ndcg(model.model, torch.device("cpu"), recent) == pytest.approx(max(model.validation_curve), abs=1e-9)
    assert not model.model.training
    # the epoch count travels with the saved state
    reloaded = models.build("sasrec", model_params(model), torch.device("cpu"))
    reloaded.load_state(model.state())
    assert reloaded.best_epoch == model.best_epoch
    rows = np.arange(history.n_users)
    assert np.array_equal(reloaded.score(history, rows), model.score(history, rows))
    # an artifact saved before `recent_days` existed loads without the recent buyers' term
    saved = model.state()
    saved["model"] = {name: value for name, value in saved["model"].items() if name != "recent_weight"}
    legacy = models.build("sasrec", model_params(model), torch.device("cpu"))
    legacy.load_state(saved)
    assert float(legacy.model.recent_weight.detach()) == 0.0


def test_each_epoch_without_improvement_cuts_the_learning_rate() -> None:
    """lr_decay: after an epoch that does not beat the best validation score, the next epoch trains
    at lr_decay times the rate; after an improvement the rate stays. Without it the rate is constant."""
    history = History.from_frame(chains(seed=3, users=60, follow=0.5))
    model = fitted("sasrec", history, dim=64, lr=0.02, dropout=0.0, epochs=30, patience=3, lr_decay=0.5, min_epochs=1)
    curve, rates = model.validation_curve, model.learning_rates
    assert len(rates) == len(curve) > model.best_epoch
    for epoch in range(1, len(curve)):
        improved = curve[epoch - 1] > max(curve[: epoch - 1], default=-1.0)
        assert rates[epoch] == pytest.approx(rates[epoch - 1] * (1.0 if improved else 0.5))
    assert min(rates) < 0.02
    constant = fitted("sasrec", history, dim=64, lr=0.02, dropout=0.0, epochs=30, patience=3, lr_decay=None)
    assert set(constant.learning_rates) == {0.02}


def test_no_plateau_cuts_the_rate_or_stops_training_before_min_epochs() -> None:
    """The first epochs sit on a plateau whose noise must not end the fit: through epoch
    min_epochs the rate stays and training goes on, whatever the validation does."""
    history = History.from_frame(chains(seed=3, users=60, follow=0.5))
    settings = {"dim": 64, "lr": 0.02, "dropout": 0.0, "epochs": 30, "patience": 2, "lr_decay": 0.5}
    eager = fitted("sasrec", history, **settings, min_epochs=1)
    assert min(eager.learning_rates) < 0.02  # without the hold this fit cuts its rate, then stops
    held = fitted("sasrec", history, **settings, min_epochs=len(eager.validation_curve) + 2)
    assert len(held.validation_curve) > held.params.min_epochs
    assert set(held.learning_rates[: held.params.min_epochs + 1]) == {0.02}


def model_params(model: SequenceModel) -> RecommenderParams:
    return RecommenderParams.model_validate({model.name: model.params.model_dump(), "device": "cpu"})


def test_new_targets_skip_repeats_of_the_prefix_and_mask_its_items() -> None:
    """targets="new": a position's target counts only if its item is not in the tokens up to and
    including the position, those tokens' items leave its softmax, and padding (token 0) masks no item
    (item 0 is token 1)."""
    window = torch.tensor([[0, 0, 3, 5, 3, 7, 5, 1], [2, 2, 2, 2, 2, 2, 2, 2]])
    targets = new_targets(window)
    assert targets.tolist() == [[-1, 2, 4, -1, 6, -1, 0], [-1] * 7]  # item = token - 1; row 2 only repeats
    masked = prefix_items(window[:, :-1], 8)
    assert masked[0, 1].sum() == 0  # two padding tokens: nothing masked, item 0 included
    assert torch.nonzero(masked[0, 6]).flatten().tolist() == [2, 4, 6]  # items of tokens 3, 5, 7
    assert torch.equal(masked[1], torch.zeros(7, 8, dtype=torch.bool).index_fill_(1, torch.tensor([1]), True))

    torch.manual_seed(0)
    hidden = torch.randn(2, 7, 4, requires_grad=True)
    vectors = torch.randn(8, 4)
    loss = next_item_loss(hidden, vectors, targets, 0, torch.Generator(), masked)
    expected = []
    for position, item in [(1, 2), (2, 4), (4, 6), (6, 0)]:
        logits = vectors @ hidden[0, position]
        allowed = [i for i in range(8) if i not in {2: [], 4: [2], 6: [2, 4], 0: [2, 4, 6]}[item]]
        expected.append(torch.logsumexp(logits[allowed], 0) - logits[item])
    torch.testing.assert_close(loss, torch.stack(expected).mean())
    loss.backward()
    # the repeat positions and the all-repeats row get no gradient
    assert hidden.grad[0, [0, 3, 5]].abs().sum() == 0 and hidden.grad[1].abs().sum() == 0
    # sampled negatives: the masked items are never negatives (no gradient reaches their vectors)
    last = torch.full_like(targets, -1)
    last[0, 6] = targets[0, 6]  # item 0, after tokens 3, 5, 7 (items 2, 4, 6)
    vectors.requires_grad_(True)
    next_item_loss(hidden, vectors, last, 64, torch.Generator().manual_seed(0), masked).backward()
    assert vectors.grad[[2, 4, 6]].abs().sum() == 0 and (vectors.grad[[0, 1, 3, 5, 7]].abs().sum(1) > 0).all()


def test_future_targets_are_later_purchases_new_to_the_prefix() -> None:
    window = torch.tensor([[0, 0, 3, 5, 3, 7, 5, 1], [2, 2, 2, 2, 2, 2, 2, 2]])
    masked = prefix_items(window[:, :-1], 8)
    generator = torch.Generator().manual_seed(0)
    drawn = torch.stack([targets_at(window, future_positions(window, masked, generator)) for _ in range(200)])
    possible = [{-1}, {-1}, {4, 6, 0}, {6, 0}, {6, 0}, {0}, {0}]  # positions reading padding have none
    assert [set(drawn[:, 0, position].tolist()) for position in range(7)] == possible
    assert (drawn[:, 1] == -1).all()


def test_new_validation_holds_out_the_last_new_item_and_masks_the_sequence_before_it() -> None:
    rows = [("a", i, t) for t, i in enumerate(["x", "y", "x", "z", "y", "x"])]  # last new item: z (position 3)
    rows += [("b", i, t) for t, i in enumerate(["x", "w", "w"])]  # w is new at position 1 only: < 2 before it
    rows += [("c", i, t) for t, i in enumerate(["y", "x", "w", "w"])]  # w at position 2
    frame = pd.DataFrame(rows, columns=["user", "item", "timestamp"])
    frame["timestamp"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(frame["timestamp"], unit="h")
    history = History.from_frame(frame)
    keep, validation = Validation.split(history, max_len=4, targets="new")
    item = {name: n for n, name in enumerate(history.item_ids)}
    assert validation.targets.tolist() == [item["z"], item["w"]]
    assert validation.inputs.tolist() == [[0, item["x"] + 1, item["y"] + 1, item["x"] + 1], [0, 0, item["y"] + 1, item["x"] + 1]]
    assert validation.seen is not None
    assert [set(np.flatnonzero(row.numpy())) for row in validation.seen] == [{item["x"], item["y"]}, {item["x"], item["y"]}]
    # the held-out purchase and every one after it are left out of training; b keeps everything
    assert keep.tolist() == [True] * 3 + [False] * 3 + [True] * 3 + [True] * 2 + [False] * 2
    # their days (each purchase an hour apart, all on 2024-01-01: day 19723 since 1970-01-01)
    assert validation.days.tolist() == [19723, 19723]


def test_first_purchases_keep_each_customers_distinct_items_in_order() -> None:
    frame = pd.DataFrame(
        [("a", "x", 0), ("a", "y", 1), ("a", "x", 2), ("a", "z", 3), ("b", "y", 0), ("b", "y", 1), ("b", "x", 2)],
        columns=["user", "item", "timestamp"],
    )
    frame["timestamp"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(frame["timestamp"], unit="h")
    history = History.from_frame(frame)
    distinct = history.first_purchases()
    names = [[history.item_ids[i] for i in distinct.item[distinct.offsets[u] : distinct.offsets[u + 1]]] for u in range(2)]
    assert names == [["x", "y", "z"], ["y", "x"]]
    assert distinct.seconds.tolist() == history.seconds[[0, 1, 3, 4, 6]].tolist()
    assert distinct.as_of == history.as_of and distinct.n_items == history.n_items


def test_distinct_sequences_see_the_chain_behind_runs_of_reorders() -> None:
    """After every planted step the customer re-orders their first item six times, so the last six
    purchases are that staple alone: a model reading them cannot know the chain's position, one reading
    the last six distinct items can. Measured (seed 0): 0.88 distinct, 0.03 without."""
    frame = chains()
    reorders = []
    for user, purchases in frame.groupby("user", sort=False):
        staple = purchases["item"].iloc[0]
        for time in purchases["timestamp"].iloc[:-1]:
            reorders += [(user, staple, time + pd.Timedelta(minutes=1 + k)) for k in range(6)]
    frame = pd.concat([frame, pd.DataFrame(reorders, columns=frame.columns)], ignore_index=True).sort_values(["user", "timestamp"])
    last = frame.groupby("user").tail(1)
    history = History.from_frame(frame.drop(index=last.index))
    rows = history.positions_of(last["user"].to_numpy())
    targets = pd.Index(history.item_ids).get_indexer(last["item"])
    hits = {
        distinct: hit_rate(fitted("sasrec", history, max_len=6, distinct=distinct).score(history, rows), targets)
        for distinct in (True, False)
    }
    assert hits[True] >= 0.8, hits
    assert hits[False] <= 0.3, hits


def test_recent_buyers_count_each_customer_once_a_day_on_the_days_before_each_day() -> None:
    day = pd.Timestamp("2024-01-10")  # day number 19732
    rows = [
        ("a", "x", day - pd.Timedelta(days=1)), ("a", "x", day - pd.Timedelta(days=1, hours=-2)),  # once
        ("b", "x", day - pd.Timedelta(days=3)), ("b", "x", day - pd.Timedelta(days=2)),  # two days: twice
        ("c", "x", day - pd.Timedelta(days=4)),  # outside a 3-day window
        ("a", "y", day), ("b", "y", day + pd.Timedelta(days=1)),  # on the day itself: not before it
    ]
    history = History.from_frame(pd.DataFrame(rows, columns=["user", "item", "timestamp"]), as_of=day + pd.Timedelta(days=2))
    recent = RecentBuyers.of(history, 3, 19732, 19734)
    x, y = (list(history.item_ids).index(name) for name in ("x", "y"))
    counts = np.expm1(recent.table.numpy()).round().astype(int)
    # windows [7, 10), [8, 11), [9, 12) of January
    assert counts[:, x].tolist() == [3, 2, 1] and counts[:, y].tolist() == [0, 1, 2]
    assert torch.equal(recent.on(torch.tensor([19734, 19732])), recent.table[[2, 0]])


def weekly_hits(seed: int = 0, users: int = 400, weeks: int = 8) -> pd.DataFrame:
    """Each customer buys six items at random on the days of one week and, at a random place among
    them, that week's hit (a random item, another each week): nothing before the hit in a sequence
    says which it is, only the week does."""
    rng = np.random.default_rng(seed)
    hits = rng.permutation(N_ITEMS)[:weeks]
    start = pd.Timestamp("2024-01-01")
    rows = []
    for user in range(users):
        week = int(rng.integers(weeks))
        items = [int(i) for i in rng.integers(N_ITEMS, size=6)]
        items.insert(int(rng.integers(7)), int(hits[week]))
        for step, item in enumerate(items):
            rows.append((f"u{user}", f"i{item:03d}", start + pd.Timedelta(days=7 * week + step, hours=step)))
    return pd.DataFrame(rows, columns=["user", "item", "timestamp"])


def test_the_recent_buyers_weight_learns_what_sells_this_week() -> None:
    """Every customer's next purchase could be this week's hit, and only the week tells which item
    that is. With `recent_days` the model learns a positive weight and ranks the last week's hit in
    most customers' top 10; without it, it cannot. Measured: weight 0.30, hit rate@10 0.75 against
    0.045 (seed 0, 10 epochs)."""
    frame = weekly_hits()
    as_of = pd.Timestamp("2024-01-01") + pd.Timedelta(weeks=8)
    history = History.from_frame(frame, as_of=as_of)
    last_week = frame[frame["timestamp"] >= as_of - pd.Timedelta(days=7)]
    this_weeks_hit = list(history.item_ids).index(last_week["item"].value_counts().index[0])
    target = np.full(history.n_users, this_weeks_hit)
    rows = np.arange(history.n_users)
    with_recent = fitted("sasrec", history, recent_days=7, epochs=10, min_epochs=1)
    without = fitted("sasrec", history, recent_days=0, epochs=10, min_epochs=1)
    assert float(with_recent.model.recent_weight.detach()) > 0.1
    assert float(without.model.recent_weight.detach()) == 0.0
    assert hit_rate(with_recent.score(history, rows), target) > 0.5
    assert hit_rate(without.score(history, rows), target) < 0.15
