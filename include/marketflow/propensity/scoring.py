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
