"""Ranking metrics for a held-out cut-off: ROC AUC, PR AUC (average precision), top-decile lift."""

from __future__ import annotations

import numpy as np


def top_decile_lift(labels: np.ndarray, scores: np.ndarray) -> float:
    """Buyer rate among the top 10% by score / overall buyer rate.

    Customers tied on the score at the decile's edge share its remaining places: they count with
    their group's buyer rate (the expected lift under a random tie-break), so the figure does not
    depend on row order, and coarse scores (RFM sums, recency days) are cut the same way as ours.
    """
    labels = np.asarray(labels, dtype=float)
    scores = np.asarray(scores, dtype=float)
    size = max(1, int(round(len(labels) * 0.1)))
    edge = np.sort(scores)[::-1][size - 1]
    above, tied = scores > edge, scores == edge
    buyers = labels[above].sum() + (size - above.sum()) * labels[tied].mean()
    return float(buyers / size / labels.mean())


def ranking_metrics(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    return {
        "roc_auc": float(roc_auc_score(labels, scores)),
        "pr_auc": float(average_precision_score(labels, scores)),
        "top_decile_lift": top_decile_lift(labels, scores),
    }
