"""Top-decile lift: the cut at the decile's edge does not depend on row order when scores tie."""

from __future__ import annotations

import numpy as np
import pytest

from marketflow.propensity.evaluate import top_decile_lift


def test_lift_is_the_buyer_rate_of_the_top_tenth_over_the_overall_rate() -> None:
    labels = np.array([1, 1, 0, 0, 0, 0, 0, 0, 0, 0] * 2)
    scores = np.arange(20, 0, -1, dtype=float)  # the first two rows (both buyers) score highest
    assert top_decile_lift(labels, scores) == pytest.approx(1.0 / 0.2)


def test_customers_tied_at_the_edge_share_its_places_whatever_their_order() -> None:
    # 20 customers, top 10% = 2 places: one clear leader (a buyer), then four tied (one buyer).
    labels = np.array([1, 1, 0, 0, 0] + [0] * 15)
    scores = np.array([9.0, 5.0, 5.0, 5.0, 5.0] + [1.0] * 15)
    expected = (1 + 1 * 1 / 4) / 2 / labels.mean()
    assert top_decile_lift(labels, scores) == pytest.approx(expected)
    reordered = np.array([0, 4, 3, 2, 1] + list(range(5, 20)))
    assert top_decile_lift(labels[reordered], scores[reordered]) == pytest.approx(expected)
