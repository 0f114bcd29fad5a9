"""Scores with reasons: a calibrated probability per customer and the features that moved it most."""

from __future__ import annotations

import numpy as np
import pandas as pd

from marketflow.propensity.model import PropensityModel


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


def score_customers(model: PropensityModel, features: pd.DataFrame, reasons: int) -> pd.DataFrame:
    """customer_id, propensity_30d, top_reasons for every row of `features` (index customer_id)."""
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
