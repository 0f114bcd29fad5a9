"""Scores with reasons: a calibrated probability per customer and the features that moved it most.

Reasons are TreeSHAP (`pred_contrib`), ~30x the cost of the score itself on every row (~3x through
`treeshap`, one row per decision pattern of each tree), so the warehouse stores scores alone for
every customer and explains a stored score when someone needs it (a campaign run's selected
customers, `warehouse.explain_scores`): `exact_reasons` proves each explanation adds up to the
score it explains before handing it out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from marketflow.propensity.model import PropensityModel
from marketflow.propensity.treeshap import booster_contributions


def top_reasons(contributions: np.ndarray, features: tuple[str, ...], count: int) -> list[dict[str, float]]:
    """Per row: the `count` features with the largest |contribution| (log-odds), largest first, signed,
    as {feature: contribution} (ties broken by feature order, so the output is stable)."""
    values = contributions[:, : len(features)]
    order = np.argsort(-np.abs(values), axis=1, kind="stable")[:, :count]
    names = np.asarray(features, dtype=object)
    reasons = []
    for row, picks in zip(values, order, strict=True):
        reasons.append({str(names[i]): round(float(row[i]), 4) for i in picks})
    return reasons


#: A recomputed probability matches the stored one when within this relative difference (the sum of
#: the contributions equals the boosters' log-odds to ~1e-15; a changed input moves it far more).
SCORE_RTOL = 1e-9


def exact_reasons(
    model: PropensityModel, features: pd.DataFrame, scores: np.ndarray, count: int
) -> list[dict[str, float] | None]:
    """Per row: its `top_reasons` when the row's contributions plus the bias, calibrated, give back
    its stored score `scores` (so they explain exactly that score); None when they do not (the
    features are no longer those that were scored). The contributions are `model.contributions`
    (LightGBM's `pred_contrib`) computed once per decision pattern of each tree (`treeshap`): ~10x
    faster on a campaign's 100,000 selected customers."""
    matrix = features[list(model.features)].to_numpy(dtype=np.float64)
    contributions = np.mean([booster_contributions(booster, matrix) for booster in model.boosters], axis=0)
    reproduced = model.platt.apply(contributions.sum(axis=1))
    exact = np.isclose(reproduced, scores, rtol=SCORE_RTOL, atol=0.0)
    reasons = top_reasons(contributions, model.features, count)
    return [found if ok else None for found, ok in zip(reasons, exact.tolist(), strict=True)]


def score_customers(model: PropensityModel, features: pd.DataFrame, reasons: int) -> pd.DataFrame:
    """customer_id, propensity_30d, top_reasons for every row of `features` (index customer_id): the
    library's scores, reasons for everyone (the warehouse stores `model.predict` alone)."""
    return pd.DataFrame(
        {
            "customer_id": features.index.astype(str),
            "propensity_30d": model.predict(features),
            "top_reasons": top_reasons(model.contributions(features), model.features, reasons),
        }
    )


#: The reason beside the score of a known customer without a product purchase yet.
NO_PURCHASE_REASON = "no product purchases yet"


def score_without_purchases(model: PropensityModel, customer_ids: list[str]) -> pd.DataFrame:
    """The same columns for known customers who have no profile to score (only service lines, or
    only a CRM record): the model's `no_purchase_rate`, with that as the reason."""
    if model.no_purchase_rate is None:
        raise ValueError("the model predates no_purchase_rate: retrain it to score customers without purchases")
    return pd.DataFrame(
        {
            "customer_id": pd.Series(customer_ids, dtype=object),
            "propensity_30d": np.full(len(customer_ids), model.no_purchase_rate),
            "top_reasons": [{NO_PURCHASE_REASON: 0.0} for _ in customer_ids],
        }
    )
