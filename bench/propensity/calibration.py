"""Calibration of the propensity benches: how far the mean calibrated probability is from the observed
buyer rate of a cut-off (issue 14 asks for within 10% relative on each validation cut-off), and the
expected calibration error over 10 equal-count bins.

Both are bench measurements, not product code: the model's calibration is `model.Platt`.
"""

from __future__ import annotations

import numpy as np

#: The issue's bar: |mean prediction / observed buyer rate - 1| at most this on each cut-off.
TOLERANCE = 0.10
#: Equal-count bins of the expected calibration error.
BINS = 10


def relative_error(labels: np.ndarray, predictions: np.ndarray) -> float:
    """mean prediction / observed buyer rate - 1 (positive: the model expects more buyers than came)."""
    return float(np.mean(predictions) / np.mean(labels) - 1.0)


def absolute_relative_error(labels: np.ndarray, predictions: np.ndarray) -> float:
    return abs(relative_error(labels, predictions))


def expected_calibration_error(labels: np.ndarray, predictions: np.ndarray, bins: int = BINS) -> float:
    """sum over `bins` equal-count bins (customers sorted by prediction; sizes differ by at most one,
    ties cut by row order) of bin share x |mean prediction - buyer rate in the bin|."""
    labels = np.asarray(labels, dtype=float)
    predictions = np.asarray(predictions, dtype=float)
    groups = np.array_split(np.argsort(predictions, kind="stable"), bins)
    gaps = [len(g) * abs(predictions[g].mean() - labels[g].mean()) for g in groups if len(g)]
    return float(np.sum(gaps) / len(labels))


def calibration_row(labels: np.ndarray, predictions: np.ndarray) -> dict[str, float | bool]:
    """The observed buyer rate, the mean calibrated prediction, their relative error, whether it is
    within `TOLERANCE`, and the expected calibration error."""
    labels = np.asarray(labels, dtype=float)
    predictions = np.asarray(predictions, dtype=float)
    error = relative_error(labels, predictions)
    return {
        "buyer_rate": float(labels.mean()),
        "mean_prediction": float(predictions.mean()),
        "relative_error": error,
        "within_tolerance": bool(abs(error) <= TOLERANCE),
        "ece": expected_calibration_error(labels, predictions),
    }


def calibration_text(row: dict) -> str:
    """`observed 0.2780, predicted 0.2650 (-4.7%, within 10%), ECE 0.0123`."""
    verdict = "within" if row["within_tolerance"] else "OUTSIDE"
    return (
        f"observed {row['buyer_rate']:.4f}, predicted {row['mean_prediction']:.4f} "
        f"({row['relative_error']:+.1%}, {verdict} {TOLERANCE:.0%}), ECE {row['ece']:.4f}"
    )
