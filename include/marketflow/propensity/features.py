"""Model inputs from a profile snapshot: the profile stage's columns as of D plus a few ratios of
them. Everything here is a function of one snapshot, so features as of D can only see data up to D.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

#: Profile columns used as they are.
PROFILE_FEATURES = (
    "recency_days",
    "frequency",
    "monetary",
    "tenure_days",
    "avg_basket_value",
    "return_rate",
    "purchases_30d",
    "purchases_90d",
    "purchases_365d",
    "r_score",
    "f_score",
    "m_score",
    "expected_purchases_90d",
    "expected_spend_90d",
)

#: Derived from the same snapshot: the customer's own rhythm and where they sit in it.
DERIVED_FEATURES = ("mean_gap_days", "recency_over_gap", "price_band_level", "home_market")

FEATURES = PROFILE_FEATURES + DERIVED_FEATURES

_PRICE_BAND_LEVEL = {"budget": 0.0, "mid": 1.0, "premium": 2.0}


def home_market(profiles: pd.DataFrame) -> str | None:
    """The country most of the snapshot's customers are in: the shop's home market, however its
    platform writes countries ("United Kingdom", "GB"); None for an empty snapshot."""
    counts = profiles["country"].value_counts()
    return str(counts.index[0]) if len(counts) else None


def feature_matrix(profiles: pd.DataFrame, home: str | None = None) -> pd.DataFrame:
    """One row per profile (index customer_id, same order), float columns `FEATURES` (NaN = unknown,
    which LightGBM routes natively: e.g. lifetime value before the CLV model has enough history).
    `home`: the home market, by default that of `profiles` (pass the whole snapshot's for a part of it)."""
    home = home_market(profiles) if home is None else home
    frame = pd.DataFrame(index=pd.Index(profiles["customer_id"].astype(str), name="customer_id"))
    for name in PROFILE_FEATURES:
        frame[name] = pd.to_numeric(profiles[name], errors="coerce").astype(float).to_numpy()
    repeats = frame["frequency"] - 1
    frame["mean_gap_days"] = np.where(repeats > 0, frame["tenure_days"] / repeats.where(repeats > 0, 1), np.nan)
    frame["recency_over_gap"] = frame["recency_days"] / frame["mean_gap_days"]
    frame["price_band_level"] = profiles["price_band"].map(_PRICE_BAND_LEVEL).astype(float).to_numpy()
    frame["home_market"] = (profiles["country"] == home).astype(float).to_numpy()
    return frame[list(FEATURES)]
