"""Ranking metrics for a held-out cut-off: ROC AUC, PR AUC (average precision), top-decile lift;
and paired bootstrap intervals for the difference of two models' metric on the same customers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

#: The metrics `ranking_metrics` reports, by name.
METRICS = ("roc_auc", "pr_auc", "top_decile_lift")

#: Draws without both buyers and non-buyers are drawn again, at most this many times in a row.
_MAX_REDRAWS = 100


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


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """sklearn's `roc_auc_score` in its rank form (the chance that a buyer outranks a non-buyer,
    ties counting half), without its input checks: the bootstrap calls it thousands of times."""
    from scipy.stats import rankdata

    buyer = np.asarray(labels).astype(bool)
    positives = int(buyer.sum())
    negatives = len(buyer) - positives
    if positives == 0 or negatives == 0:
        raise ValueError("ROC AUC needs buyers and non-buyers")
    ranks = rankdata(np.asarray(scores, dtype=float))
    return float((ranks[buyer].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """sklearn's `average_precision_score` (PR AUC): the precision at each distinct score, weighted
    by the recall it adds (tied customers enter together), without its input checks."""
    labels = np.asarray(labels, dtype=float)
    scores = np.asarray(scores, dtype=float)
    order = np.argsort(-scores, kind="stable")
    ordered, hits = scores[order], labels[order]
    ends = np.r_[np.flatnonzero(ordered[1:] != ordered[:-1]), len(ordered) - 1]
    true_positives = np.cumsum(hits)[ends]
    if true_positives[-1] == 0:
        raise ValueError("average precision needs buyers")
    recall_added = np.diff(np.r_[0.0, true_positives]) / true_positives[-1]
    return float(np.sum(recall_added * true_positives / (ends + 1)))


#: The metrics' fast forms, by name (same values as `ranking_metrics`, to floating-point rounding).
FAST_METRICS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {
    "roc_auc": roc_auc,
    "pr_auc": average_precision,
    "top_decile_lift": top_decile_lift,
}

Metric = str | Callable[[np.ndarray, np.ndarray], float]


@dataclass(frozen=True)
class PairedInterval:
    """metric(a) - metric(b) on the rows as they are, and the percentile interval of the bootstrap
    replicates of that difference."""

    difference: float
    low: float
    high: float
    level: float
    replicates: np.ndarray = field(repr=False, compare=False)

    @property
    def verdict(self) -> str:
        """"a" when the whole interval is above zero, "b" when below, "neither" when it holds zero."""
        return "a" if self.low > 0 else "b" if self.high < 0 else "neither"

    def as_dict(self) -> dict[str, float]:
        return {"difference": self.difference, "low": self.low, "high": self.high}


def _measure(metric: Metric) -> Callable[[np.ndarray, np.ndarray], float]:
    return FAST_METRICS[metric] if isinstance(metric, str) else metric


def _both_classes(labels: np.ndarray) -> bool:
    return 0 < labels.sum() < len(labels)


def _interval(difference: float, replicates: np.ndarray, level: float) -> PairedInterval:
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(replicates, [tail, 100 - tail])
    return PairedInterval(float(difference), float(low), float(high), level, replicates)


def paired_bootstrap(
    labels: np.ndarray,
    scores_a: np.ndarray,
    scores_b: np.ndarray,
    metric: Metric,
    n: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> PairedInterval:
    """metric(a) - metric(b) with a paired bootstrap interval: `n` times, draw the rows (customers)
    with replacement and measure both models on the same draw. `metric` is a name in `METRICS` or
    a function (labels, scores) -> float. A draw without both buyers and non-buyers is drawn again.
    The draws depend only on `seed` and the row count, so every pair compared with one seed on one
    set of customers sees the same resamples."""
    measure = _measure(metric)
    labels = np.asarray(labels, dtype=float)
    scores_a, scores_b = np.asarray(scores_a, dtype=float), np.asarray(scores_b, dtype=float)
    rng = np.random.default_rng(seed)
    replicates = np.empty(n)
    for i in range(n):
        for _ in range(_MAX_REDRAWS):
            rows = rng.integers(0, len(labels), len(labels))
            if _both_classes(labels[rows]):
                break
        else:
            raise ValueError("bootstrap draws keep missing buyers or non-buyers: too few rows")
        replicates[i] = measure(labels[rows], scores_a[rows]) - measure(labels[rows], scores_b[rows])
    return _interval(measure(labels, scores_a) - measure(labels, scores_b), replicates, level)


@dataclass(frozen=True)
class EvaluationSet:
    """One held-out cut-off: its customers and, row for row, their labels and two models' scores."""

    customer_ids: np.ndarray
    labels: np.ndarray
    scores_a: np.ndarray
    scores_b: np.ndarray


def paired_bootstrap_mean(
    sets: Sequence[EvaluationSet], metric: Metric, n: int = 1000, seed: int = 0, level: float = 0.95
) -> PairedInterval:
    """The mean over several evaluation sets (cut-offs) of metric(a) - metric(b), with a bootstrap
    interval that resamples customers jointly: each replicate draws customers with replacement from
    all the sets' customers, and every set keeps the rows of the drawn customers, each as many times
    as drawn, so one customer's rows on different cut-offs (which are not independent) move together.
    A replicate in which a set lacks buyers or non-buyers is drawn again."""
    measure = _measure(metric)
    prepared = [
        (
            np.asarray(s.customer_ids).astype(str),
            np.asarray(s.labels, dtype=float),
            np.asarray(s.scores_a, dtype=float),
            np.asarray(s.scores_b, dtype=float),
        )
        for s in sets
    ]
    customers = np.unique(np.concatenate([ids for ids, *_ in prepared]))
    positions = [np.searchsorted(customers, ids) for ids, *_ in prepared]
    rng = np.random.default_rng(seed)
    replicates = np.empty(n)
    for i in range(n):
        for _ in range(_MAX_REDRAWS):
            counts = np.bincount(rng.integers(0, len(customers), len(customers)), minlength=len(customers))
            draws = [np.repeat(np.arange(len(where)), counts[where]) for where in positions]
            if all(_both_classes(labels[rows]) for rows, (_, labels, _, _) in zip(draws, prepared, strict=True)):
                break
        else:
            raise ValueError("bootstrap draws keep missing buyers or non-buyers: too few customers")
        replicates[i] = np.mean(
            [
                measure(y[rows], a[rows]) - measure(y[rows], b[rows])
                for rows, (_, y, a, b) in zip(draws, prepared, strict=True)
            ]
        )
    difference = np.mean([measure(y, a) - measure(y, b) for _, y, a, b in prepared])
    return _interval(float(difference), replicates, level)
