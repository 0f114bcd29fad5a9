"""Buy again: which of the items a customer already bought they buy in the next four weeks.

Most of a wholesale gift shop's next-month basket was bought before, but not every past item comes
back: a customer's recent, frequent items and the items everybody re-orders do. Count and recency
alone (the `repeat` component) weigh these by hand; here a LightGBM classifier learns them from the
history itself. Training rows are, at each of `windows` cutoffs stepping back from the as-of date,
the (customer, item) pairs bought before the cutoff by the customers who bought anything in the
`window_days` after it; the label is whether they bought the item again in that window, the task
the "all" variant of the evaluation sets. Features describe the pair (purchases, first and last
purchase), the customer (baskets, items, recency) and the item (buyers, their share who re-bought,
recent buyers), all read before the cutoff. Items a customer never bought score 0: new items are
EASE's and the transition model's job. A history without time order leaves no rows to learn from
(no window has buyers with earlier purchases): the component then falls back to the log of the
purchase count.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from marketflow.recommend.interactions import SECONDS_PER_DAY, History
from marketflow.recommend.models.base import Component, target_windows
from marketflow.recommend.params import BoostedParams, RebuyParams

log = logging.getLogger(__name__)

RECENT_DAYS = 90
FEATURES = (
    "log_purchases",
    "purchases_recent",
    "days_since_last",
    "days_since_first",
    "share_of_baskets",
    "customer_log_baskets",
    "customer_log_items",
    "customer_days_since_last",
    "customer_tenure_days",
    "item_log_buyers",
    "item_rebuy_share",
    "item_log_recent_buyers",
)


def pair_features(history: History, end: float, users: np.ndarray | None = None) -> pd.DataFrame:
    """Features of every (customer, item) pair bought before `end` (seconds), for `users` (all
    when None); columns user, item and FEATURES. A purchase is one (customer, item, moment)."""
    before = history.seconds < end
    every = pd.DataFrame({"user": history.user[before], "item": history.item[before], "s": history.seconds[before]})
    every = every.drop_duplicates()
    items = item_features(every, history.n_items, end)
    events = every if users is None else every[np.isin(every["user"].to_numpy(), users)]
    grouped = events.groupby(["user", "item"], sort=False)["s"]
    pairs = grouped.agg(purchases="size", last="max", first="min").reset_index()
    recent = events[events["s"] >= end - RECENT_DAYS * SECONDS_PER_DAY].groupby(["user", "item"]).size()
    baskets = events.drop_duplicates(["user", "s"]).groupby("user")["s"].agg(["size", "max", "min"])
    customer = baskets.reindex(pairs["user"].to_numpy())
    distinct = events.groupby("user")["item"].nunique().reindex(pairs["user"].to_numpy()).to_numpy()
    day = SECONDS_PER_DAY
    features = {
        "log_purchases": np.log1p(pairs["purchases"].to_numpy()),
        "purchases_recent": recent.reindex(pd.MultiIndex.from_frame(pairs[["user", "item"]]), fill_value=0).to_numpy(),
        "days_since_last": (end - pairs["last"].to_numpy()) / day,
        "days_since_first": (end - pairs["first"].to_numpy()) / day,
        "share_of_baskets": pairs["purchases"].to_numpy() / customer["size"].to_numpy(),
        "customer_log_baskets": np.log1p(customer["size"].to_numpy()),
        "customer_log_items": np.log1p(distinct),
        "customer_days_since_last": (end - customer["max"].to_numpy()) / day,
        "customer_tenure_days": (end - customer["min"].to_numpy()) / day,
        **{name: values[pairs["item"].to_numpy()] for name, values in items.items()},
    }
    return pd.DataFrame({"user": pairs["user"].to_numpy(), "item": pairs["item"].to_numpy(), **features})


def item_features(events: pd.DataFrame, n_items: int, end: float) -> dict[str, np.ndarray]:
    """Per item: buyers, the share of them who bought it more than once, buyers of the last 28 days."""
    per_pair = events.groupby(["user", "item"], sort=False).size()
    item_of_pair = per_pair.index.get_level_values("item").to_numpy()
    buyers = np.bincount(item_of_pair, minlength=n_items).astype(np.float64)
    rebuyers = np.bincount(item_of_pair, weights=(per_pair.to_numpy() > 1), minlength=n_items)
    recent = events[events["s"] >= end - 28 * SECONDS_PER_DAY].drop_duplicates(["user", "item"])
    recent_buyers = np.bincount(recent["item"].to_numpy(), minlength=n_items)
    return {
        "item_log_buyers": np.log1p(buyers),
        "item_rebuy_share": np.divide(rebuyers, buyers, out=np.zeros(n_items), where=buyers > 0),
        "item_log_recent_buyers": np.log1p(recent_buyers),
    }


def bought_in(rows: pd.DataFrame, history: History, inside: np.ndarray) -> np.ndarray:
    """For each (user, item) row, whether that customer bought that item among the events `inside`."""
    bought = pd.MultiIndex.from_arrays([history.user[inside], history.item[inside]])
    return pd.MultiIndex.from_frame(rows[["user", "item"]]).isin(bought)


def train_booster(rows: pd.DataFrame, features: Sequence[str], p: BoostedParams, seed: int) -> str:
    """A binary LightGBM of `rows`' label on `features`, as text; one thread, deterministic, so a
    seed gives one model."""
    settings = {
        "objective": "binary",
        "learning_rate": p.learning_rate,
        "num_leaves": p.num_leaves,
        "min_data_in_leaf": p.min_data_in_leaf,
        "feature_fraction": 0.9,
        "seed": seed,
        "deterministic": True,
        "num_threads": 1,
        "verbose": -1,
    }
    data = lgb.Dataset(rows[list(features)], label=rows["label"].astype(int))
    return lgb.train(settings, data, num_boost_round=p.rounds).model_to_string()


class Rebuy(Component):
    name = "rebuy"
    params: RebuyParams

    def fit(self, history: History) -> None:
        frames = []
        with self.throughput.timing():
            for _, start, inside, buyers in target_windows(history, self.params.windows, self.params.window_days):
                rows = pair_features(history, start, buyers)
                if rows.empty:
                    continue
                rows["label"] = bought_in(rows, history, inside)
                frames.append(rows)
            booster = train_booster(pd.concat(frames, ignore_index=True), FEATURES, self.params, self.seed) if frames else ""
            self.load_state({"booster": booster})
        self.throughput.samples += sum(len(f) for f in frames)
        log.info("rebuy trained on %d pairs at %d cutoffs", self.throughput.samples, len(frames))

    def score(self, history: History, rows: np.ndarray) -> np.ndarray:
        out = np.zeros((len(rows), history.n_items), dtype=np.float32)
        pairs = pair_features(history, float(history.as_of.value // 10**9), rows)
        if pairs.empty:
            return out
        if self.booster is not None:
            values = self.booster.predict(pairs[list(FEATURES)], num_threads=1)
        else:
            values = pairs["log_purchases"].to_numpy()
        position = pd.Index(rows).get_indexer(pairs["user"].to_numpy())
        out[position, pairs["item"].to_numpy()] = values
        return out

    def state(self) -> dict[str, Any]:
        return {"booster": self.booster_text}

    def load_state(self, state: dict[str, Any]) -> None:
        self.booster_text = str(state["booster"])
        self.booster = lgb.Booster(model_str=self.booster_text) if self.booster_text else None
