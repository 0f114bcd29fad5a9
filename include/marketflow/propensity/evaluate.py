"""Ranking metrics for a held-out cut-off: ROC AUC, PR AUC (average precision), top-decile lift."""

from __future__ import annotations

import numpy as np


def top_decile_lift(labels: np.ndarray, scores: np.ndarray) -> float:
    """Buyer rate among the top 10% by score / overall buyer rate (ties broken by position, stably)."""
    labels = np.asarray(labels, dtype=float)
    top = np.argsort(-np.asarray(scores, dtype=float), kind="stable")[: max(1, int(round(len(labels) * 0.1)))]
    return float(labels[top].mean() / labels.mean())


def ranking_metrics(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    return {
        "roc_auc": float(roc_auc_score(labels, scores)),
        "pr_auc": float(average_precision_score(labels, scores)),
        "top_decile_lift": top_decile_lift(labels, scores),
    }
