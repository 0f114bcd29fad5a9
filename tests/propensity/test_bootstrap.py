"""Paired bootstrap intervals of a metric difference, and the fast metric forms they resample."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score

from marketflow.propensity.evaluate import (
    EvaluationSet,
    average_precision,
    paired_bootstrap,
    paired_bootstrap_mean,
    roc_auc,
)


def _customers(rows: int = 400, seed: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, an informative score and a noise score; both scores coarse, so they tie often."""
    rng = np.random.default_rng(seed)
    labels = (rng.random(rows) < 0.3).astype(int)
    good = np.round(labels * 1.0 + rng.normal(size=rows), 1)
    noise = np.round(rng.normal(size=rows), 1)
    return labels, good, noise


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fast_metrics_match_sklearn_with_ties(seed: int) -> None:
    labels, good, noise = _customers(seed=seed)
    for scores in (good, noise, np.round(good), np.zeros(len(labels))):
        assert roc_auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
        assert average_precision(labels, scores) == pytest.approx(average_precision_score(labels, scores), abs=1e-12)


@pytest.mark.parametrize("metric", ["roc_auc", "pr_auc", "top_decile_lift"])
def test_identical_scores_give_a_zero_interval(metric: str) -> None:
    labels, good, _ = _customers()
    interval = paired_bootstrap(labels, good, good.copy(), metric, n=200, seed=5)
    assert (interval.difference, interval.low, interval.high) == (0.0, 0.0, 0.0)
    assert interval.verdict == "neither"


@pytest.mark.parametrize("metric", ["roc_auc", "pr_auc", "top_decile_lift"])
def test_a_clearly_better_score_gives_an_interval_above_zero(metric: str) -> None:
    labels, good, noise = _customers()
    better = paired_bootstrap(labels, good, noise, metric, n=200, seed=5)
    assert 0 < better.low <= better.difference <= better.high
    assert better.verdict == "a"
    assert paired_bootstrap(labels, noise, good, metric, n=200, seed=5).verdict == "b"


def test_the_interval_is_deterministic_for_a_seed() -> None:
    labels, good, noise = _customers()
    first = paired_bootstrap(labels, good, noise, "roc_auc", n=100, seed=11)
    again = paired_bootstrap(labels, good, noise, "roc_auc", n=100, seed=11)
    other = paired_bootstrap(labels, good, noise, "roc_auc", n=100, seed=12)
    assert np.array_equal(first.replicates, again.replicates)
    assert (first.low, first.high) == (again.low, again.high)
    assert not np.array_equal(first.replicates, other.replicates)


def test_a_metric_function_can_be_passed() -> None:
    labels, good, noise = _customers()
    named = paired_bootstrap(labels, good, noise, "roc_auc", n=50, seed=3)
    passed = paired_bootstrap(labels, good, noise, roc_auc_score, n=50, seed=3)
    assert np.allclose(named.replicates, passed.replicates, atol=1e-12)


def _sets() -> list[EvaluationSet]:
    """Two cut-offs sharing half their customers."""
    sets = []
    for offset, seed in ((0, 1), (200, 2)):
        labels, good, noise = _customers(seed=seed)
        ids = np.array([f"c{offset + i}" for i in range(len(labels))])
        sets.append(EvaluationSet(ids, labels, good, noise))
    return sets


def test_the_mean_over_cutoffs_is_the_mean_of_their_differences() -> None:
    sets = _sets()
    interval = paired_bootstrap_mean(sets, "pr_auc", n=100, seed=4)
    per_set = [average_precision(s.labels, s.scores_a) - average_precision(s.labels, s.scores_b) for s in sets]
    assert interval.difference == pytest.approx(np.mean(per_set))
    assert 0 < interval.low <= interval.difference <= interval.high


def test_the_mean_over_cutoffs_gives_zero_for_identical_scores_and_repeats_for_a_seed() -> None:
    same = [EvaluationSet(s.customer_ids, s.labels, s.scores_a, s.scores_a) for s in _sets()]
    zero = paired_bootstrap_mean(same, "top_decile_lift", n=50, seed=4)
    assert (zero.difference, zero.low, zero.high) == (0.0, 0.0, 0.0)
    first = paired_bootstrap_mean(_sets(), "roc_auc", n=50, seed=4)
    again = paired_bootstrap_mean(_sets(), "roc_auc", n=50, seed=4)
    assert np.array_equal(first.replicates, again.replicates)


def test_a_customer_on_several_cutoffs_is_drawn_once_for_all_of_them() -> None:
    """Each replicate's rows per cut-off follow one draw of customers: a metric that counts the rows
    of customer c0 sees the same count on both cut-offs."""
    counts: list[float] = []

    def rows_of_c0(labels: np.ndarray, scores: np.ndarray) -> float:
        counts.append(float((scores == -99.0).sum()))
        return 0.0

    sets = []
    for seed in (1, 2):
        labels, good, _ = _customers(seed=seed)
        ids = np.array([f"c{i}" for i in range(len(labels))])
        marked = np.where(ids == "c0", -99.0, good)
        sets.append(EvaluationSet(ids, labels, marked, marked))
    paired_bootstrap_mean(sets, rows_of_c0, n=30, seed=9)
    per_replicate = np.array(counts[: 30 * 4]).reshape(30, 2, 2)  # replicate, cut-off, model
    assert np.array_equal(per_replicate[:, 0, 0], per_replicate[:, 1, 0])
    assert per_replicate[:, 0, 0].max() > 1  # some draws took c0 more than once
