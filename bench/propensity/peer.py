"""The plain LightGBM peer of the propensity benches, and the paired bootstrap comparisons.

The peer is the bar to beat (issue 14): `lgb.LGBMClassifier` with LightGBM's default parameters (100
trees of 31 leaves, learning rate 0.1; `n_jobs=1` and `verbose=-1` change neither the trees nor the
ranking), trained on exactly our training rows (the same stacked cut-offs, customers and labels: the
rows come out of `marketflow.propensity.dataset` through `PeerBuilder`) but with ten plain RFM-style
features computed from the same profile snapshot and, for the two the profile lacks, from the same
history up to the cut-off. It is a peer, not product code: its features live here.
"""

from __future__ import annotations

import datetime as dt

import lightgbm as lgb
import numpy as np
import pandas as pd

from marketflow.profiles.build import DaySnapshot, SnapshotBuilder
from marketflow.profiles.history import OrderHistory, day_number
from marketflow.propensity.evaluate import METRICS, paired_bootstrap

#: The peer's inputs: the profile's recency, frequency (purchase invoices), monetary (net spend),
#: tenure, mean basket value, returned share of spend and purchases in the last 90 days; distinct
#: products bought and invoices with a return (from the history up to the cut-off); and the mean
#: days between purchases, (last - first purchase day) / (frequency - 1), unknown for one purchase.
PLAIN_FEATURES = (
    "recency_days",
    "frequency",
    "monetary",
    "tenure_days",
    "avg_basket_value",
    "distinct_products",
    "return_invoices",
    "return_rate",
    "mean_days_between_purchases",
    "purchases_90d",
)
PLAIN_NAME = "plain LightGBM (10 RFM features, defaults)"

#: Bootstrap replicates and seed of every interval (customers resampled with replacement).
REPLICATES = 1000
SEED = 2024
LEVEL = 0.95


def plain_features(profiles: pd.DataFrame, history: OrderHistory, as_of: dt.date) -> pd.DataFrame:
    """One row per profile (index customer_id, the profiles' order), float columns `PLAIN_FEATURES`,
    from the snapshot as of `as_of` and the history's facts dated up to `as_of`."""
    today = day_number(as_of)
    ids = pd.Index(profiles["customer_id"].astype(str), name="customer_id")
    frame = pd.DataFrame(index=ids)
    for name in ("recency_days", "frequency", "monetary", "tenure_days", "avg_basket_value", "return_rate"):
        frame[name] = pd.to_numeric(profiles[name], errors="coerce").astype(float).to_numpy()
    frame["purchases_90d"] = pd.to_numeric(profiles["purchases_90d"]).astype(float).to_numpy()

    basket = history.basket_arrays()
    bought = (basket["day"] <= today) & (basket["customer"] >= 0)
    pairs = np.unique(basket["customer"][bought] * len(basket["products"]) + basket["product"][bought])
    per_code = np.bincount(pairs // len(basket["products"]), minlength=len(basket["customers"]))
    distinct = pd.Series(per_code, index=basket["customers"])
    frame["distinct_products"] = distinct.reindex(ids, fill_value=0).astype(float).to_numpy()

    invoices = history.invoices
    returns = invoices[(invoices["day"] <= today) & (invoices["returned_value"] > 0)]
    counts = returns.groupby("customer_id", observed=True).size()
    counts.index = counts.index.astype(str)
    frame["return_invoices"] = counts.reindex(ids, fill_value=0).astype(float).to_numpy()

    repeats = frame["frequency"] - 1
    span = frame["tenure_days"] - frame["recency_days"]  # first to last purchase
    frame["mean_days_between_purchases"] = np.where(repeats > 0, span / repeats.where(repeats > 0, 1), np.nan)
    return frame[list(PLAIN_FEATURES)]


class PeerBuilder:
    """The profile stage's `SnapshotBuilder`, keeping the plain features of every snapshot it builds.
    Pass it where the dataset functions take a builder (`labelled_cutoff`, `stacked_dataset`): our
    rows are built as always, and `rows(ours)` gives the peer the same rows with its own features."""

    def __init__(self, builder: SnapshotBuilder) -> None:
        self.builder = builder
        self.features: dict[dt.date, pd.DataFrame] = {}

    @property
    def history(self) -> OrderHistory:
        return self.builder.history

    def build(self, as_of: dt.date) -> DaySnapshot:
        snapshot = self.builder.build(as_of)
        self.features[as_of] = plain_features(snapshot.profiles, self.history, as_of)
        return snapshot

    def rows(self, ours: pd.DataFrame) -> pd.DataFrame:
        """The peer's features for our labelled rows (one or several stacked cut-offs, column
        `cutoff`), same index, same order, same `label` and `cutoff`."""
        cutoffs = list(dict.fromkeys(ours["cutoff"]))  # in stacking order
        peer = pd.concat([self.features[cutoff] for cutoff in cutoffs])
        if not peer.index.equals(ours.index):
            raise AssertionError("the peer's rows differ from ours")
        return peer.assign(label=ours["label"].to_numpy(), cutoff=ours["cutoff"].to_numpy())


def train_plain(rows: pd.DataFrame) -> lgb.LGBMClassifier:
    """LightGBM's defaults on the peer's rows (one thread, quiet: the same trees)."""
    model = lgb.LGBMClassifier(n_jobs=1, verbose=-1)
    return model.fit(rows[list(PLAIN_FEATURES)], rows["label"].to_numpy())


def plain_scores(model: lgb.LGBMClassifier, features: pd.DataFrame) -> np.ndarray:
    return model.predict_proba(features[list(PLAIN_FEATURES)])[:, 1]


def plain_params(model: lgb.LGBMClassifier) -> dict[str, object]:
    """The peer's parameters (LightGBM's defaults), for the record."""
    return {key: value for key, value in model.get_params().items() if value is not None}


def differences(
    labels: np.ndarray, ours: np.ndarray, peers: dict[str, np.ndarray], replicates: int = REPLICATES, seed: int = SEED
) -> dict[str, dict[str, dict[str, float]]]:
    """peer -> metric -> ours - peer on these customers with its paired bootstrap interval (the same
    `replicates` draws of customers for every peer and metric)."""
    return {
        name: {
            metric: paired_bootstrap(labels, ours, scores, metric, replicates, seed, LEVEL).as_dict()
            for metric in METRICS
        }
        for name, scores in peers.items()
    }


def interval_text(d: dict[str, float], digits: int = 4) -> str:
    """`+0.0123 [+0.0050, +0.0190]`, with `*` when the interval excludes zero."""
    mark = "*" if d["low"] > 0 or d["high"] < 0 else " "
    return f"{d['difference']:+.{digits}f} [{d['low']:+.{digits}f}, {d['high']:+.{digits}f}]{mark}"
