"""Next-month ranker: one LightGBM that ranks a customer's past items and the likeliest new ones together.

The blend adds components' scaled scores with tuned weights, one weight per component for every
customer; whether a customer's next month holds their old items or new ones differs by customer and
by item, which one weight cannot say. Here each customer's candidates are every item they bought
before plus the `new_candidates` items they never bought that the next-window regression
(`transition`) scores highest. A LightGBM classifier learns, as `rebuy` does, at `windows` cutoffs
stepping back from the as-of date, whether each candidate is bought in the `window_days` after the
cutoff (by the customers who bought anything then). Its features: `rebuy`'s pair, customer and item
features (empty for new items), the item's trend (buyers of the last 4 weeks against the 4 before),
the customer's share of new items in their last 90 days, the pair's purchases in the last 4 weeks,
and the pair's transition and EASE scores and ranks. At each cutoff those two models are fitted on
the purchases before it only, so no feature sees the window it is labelled by. Items outside a
customer's candidates score 0. A history without time order leaves no rows to learn from: it then
scores 0 everywhere, and the blend's tuning gives it no weight.
"""

from __future__ import annotations

import logging
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import torch

from marketflow.recommend.interactions import SECONDS_PER_DAY, History
from marketflow.recommend.models.base import Component, target_windows
from marketflow.recommend.models.ease import Ease
from marketflow.recommend.models.rebuy import FEATURES as REBUY_FEATURES
from marketflow.recommend.models.rebuy import bought_in, item_features, pair_features, train_booster
from marketflow.recommend.models.transition import Transition
from marketflow.recommend.params import EaseParams, RankerParams

log = logging.getLogger(__name__)

_CUSTOMER = ("customer_log_baskets", "customer_log_items", "customer_days_since_last", "customer_tenure_days")
_ITEM = ("item_log_buyers", "item_rebuy_share", "item_log_recent_buyers")
FEATURES = (
    *REBUY_FEATURES,
    "is_new",
    "item_trend",
    "customer_new_share_90",
    "pair_purchases_28",
    "transition",
    "transition_rank",
    "new_rank",
    "ease",
)


class CandidateModels:
    """The transition and EASE models a ranker reads its scores from, fitted on one history."""

    def __init__(self, params: RankerParams, device: torch.device, seed: int) -> None:
        self.transition = Transition(params.transition, device, seed)
        self.ease = Ease(EaseParams(l2=params.ease_l2), device, seed)

    def fit(self, history: History) -> CandidateModels:
        self.transition.fit(history)
        self.ease.fit(history)
        return self


def candidates(history: History, users: np.ndarray, models: CandidateModels, new_candidates: int) -> pd.DataFrame:
    """Every (customer, item) candidate of `users` as of `history.as_of`, with FEATURES: their past
    items, then their top `new_candidates` never-bought items by transition score."""
    end = float(history.as_of.value // 10**9)
    past = pair_features(history, end, users)
    if past.empty:
        return past
    users = np.unique(past["user"].to_numpy())  # customers with purchases before `end`
    transition = models.transition.score(history, users)
    bought = history.matrix(binary=True)[users].toarray() > 0
    new_scores = np.where(bought, -np.inf, transition)
    new_order = np.argsort(-new_scores, axis=1, kind="stable")
    top = new_order[:, : min(new_candidates, history.n_items)]
    top_bought = np.take_along_axis(bought, top, axis=1)
    new = pd.DataFrame({"user": np.repeat(users, top.shape[1])[~top_bought.ravel()], "item": top.ravel()[~top_bought.ravel()]})
    customer = past.groupby("user")[list(_CUSTOMER)].first().reindex(new["user"].to_numpy())
    before = history.seconds < end
    events = pd.DataFrame({"user": history.user[before], "item": history.item[before], "s": history.seconds[before]})
    events = events.drop_duplicates()
    items = item_features(events, history.n_items, end)
    new = new.assign(**{c: customer[c].to_numpy() for c in _CUSTOMER}, **{c: items[c][new["item"].to_numpy()] for c in _ITEM})
    rows = pd.concat([past.assign(is_new=0), new.assign(is_new=1)], ignore_index=True)
    item, row = rows["item"].to_numpy(), pd.Index(users).get_indexer(rows["user"].to_numpy())
    rows["item_trend"] = _trend(events, history.n_items, end)[item]
    rows["customer_new_share_90"] = _new_share(events, end).reindex(rows["user"].to_numpy()).to_numpy()
    recent = events[events["s"] >= end - 28 * SECONDS_PER_DAY].groupby(["user", "item"]).size()
    rows["pair_purchases_28"] = recent.reindex(pd.MultiIndex.from_frame(rows[["user", "item"]]), fill_value=0).to_numpy()
    rows["transition"] = transition[row, item]
    rows["transition_rank"] = _ranks(np.argsort(-transition, axis=1, kind="stable"))[row, item]
    rows["new_rank"] = np.where(rows["is_new"].to_numpy() == 1, _ranks(new_order)[row, item], -1)
    rows["ease"] = models.ease.score(history, users)[row, item]
    return rows


def _ranks(order: np.ndarray) -> np.ndarray:
    """Each row's 0-based position of every column, from that row's ordering `order`."""
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(order.shape[1])[None, :].repeat(len(order), axis=0), axis=1)
    return ranks


def _trend(events: pd.DataFrame, n_items: int, end: float) -> np.ndarray:
    """Per item: log(1 + buyers of the last 28 days) - log(1 + buyers of the 28 days before)."""
    def buyers(start_days: int, end_days: int) -> np.ndarray:
        window = events[(events["s"] >= end - start_days * SECONDS_PER_DAY) & (events["s"] < end - end_days * SECONDS_PER_DAY)]
        return np.log1p(np.bincount(window.drop_duplicates(["user", "item"])["item"].to_numpy(), minlength=n_items))

    return buyers(28, 0) - buyers(56, 28)


def _new_share(events: pd.DataFrame, end: float) -> pd.Series:
    """Per customer: of the items they bought in the last 90 days, the share they first bought then."""
    since = end - 90 * SECONDS_PER_DAY
    recent = events.loc[events["s"] >= since, ["user", "item"]].drop_duplicates()
    first = events.groupby(["user", "item"], sort=False)["s"].min()
    is_first = first.reindex(pd.MultiIndex.from_frame(recent)).to_numpy() >= since
    return pd.Series(is_first.astype(float), index=recent["user"].to_numpy()).groupby(level=0).mean()


class Ranker(Component):
    name = "ranker"
    params: RankerParams

    def fit(self, history: History) -> None:
        p = self.params
        frames = []
        with self.throughput.timing():
            for _, start, inside, buyers in target_windows(history, p.windows, p.window_days):
                earlier = history.before(start)
                rows = candidates(earlier, buyers, CandidateModels(p, self.device, self.seed).fit(earlier), p.new_candidates)
                if rows.empty:
                    continue
                rows["label"] = bought_in(rows, history, inside)
                frames.append(rows)
            booster = train_booster(pd.concat(frames, ignore_index=True), FEATURES, p, self.seed) if frames else ""
            self.models = CandidateModels(p, self.device, self.seed).fit(history)
            self.booster_text = booster
            self.booster = lgb.Booster(model_str=booster) if booster else None
        self.throughput.samples += sum(len(f) for f in frames)
        log.info("ranker trained on %d candidates at %d cutoffs", self.throughput.samples, len(frames))

    def score(self, history: History, rows: np.ndarray) -> np.ndarray:
        out = np.zeros((len(rows), history.n_items), dtype=np.float32)
        if self.booster is None:
            return out
        pairs = candidates(history, rows, self.models, self.params.new_candidates)
        if pairs.empty:
            return out
        position = pd.Index(rows).get_indexer(pairs["user"].to_numpy())
        out[position, pairs["item"].to_numpy()] = self.booster.predict(pairs[list(FEATURES)], num_threads=1)
        return out

    def associations(self) -> np.ndarray:
        return self.models.ease.associations()

    def state(self) -> dict[str, Any]:
        return {"booster": self.booster_text, "transition": self.models.transition.state(), "ease": self.models.ease.state()}

    def load_state(self, state: dict[str, Any]) -> None:
        self.booster_text = str(state["booster"])
        self.booster = lgb.Booster(model_str=self.booster_text) if self.booster_text else None
        self.models = CandidateModels(self.params, self.device, self.seed)
        self.models.transition.load_state(state["transition"])
        self.models.ease.load_state(state["ease"])
