"""The uplift interval against the published reference values (Newcombe, Stat. Med. 1998, 17:873)."""

from __future__ import annotations

import pytest

from marketflow.campaigns.uplift import wilson_interval
from marketflow.ui.uplift import ArmOutcome, uplift


@pytest.mark.parametrize(
    ("treated", "controls", "expected"),
    [
        # Newcombe 1998 (difference of independent proportions), Table II, method 10.
        ((56, 70), (48, 80), (0.0524, 0.3339)),
        ((9, 10), (3, 10), (0.1705, 0.8090)),
        ((6, 7), (2, 7), (0.0582, 0.8062)),
        ((5, 56), (0, 29), (-0.0381, 0.1926)),
        ((0, 10), (0, 20), (-0.1611, 0.2775)),
        ((10, 10), (0, 20), (0.6791, 1.0000)),
    ],
)
def test_newcombe_interval_matches_the_published_table(
    treated: tuple[int, int], controls: tuple[int, int], expected: tuple[float, float]
) -> None:
    result = uplift(ArmOutcome(treated[1], treated[0]), ArmOutcome(controls[1], controls[0]))
    assert result is not None
    assert result.estimate == pytest.approx(treated[0] / treated[1] - controls[0] / controls[1])
    assert (round(result.low, 4), round(result.high, 4)) == expected


def test_wilson_interval_matches_the_published_example() -> None:
    # Newcombe 1998 (single proportion), 81/263: 0.2553 to 0.3662.
    low, high = wilson_interval(81, 263)
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)


def test_swapping_the_arms_mirrors_the_interval() -> None:
    a, b = ArmOutcome(400, 37), ArmOutcome(100, 5)
    forward, backward = uplift(a, b), uplift(b, a)
    assert forward is not None and backward is not None
    assert forward.low == pytest.approx(-backward.high)
    assert forward.high == pytest.approx(-backward.low)


def test_an_empty_arm_has_no_uplift() -> None:
    assert uplift(ArmOutcome(10, 3), ArmOutcome()) is None
    assert uplift(ArmOutcome(), ArmOutcome(10, 3)) is None


def test_significance_is_an_interval_that_excludes_zero() -> None:
    clear = uplift(ArmOutcome(1000, 300), ArmOutcome(1000, 200))
    unclear = uplift(ArmOutcome(50, 12), ArmOutcome(50, 10))
    assert clear is not None and clear.significant
    assert unclear is not None and not unclear.significant


def test_arm_outcomes_add_up_and_rate_revenue_per_member() -> None:
    total = ArmOutcome(10, 2, 50.0) + ArmOutcome(30, 6, 150.0)
    assert total == ArmOutcome(40, 8, 200.0)
    assert total.rate == pytest.approx(0.2)
    assert total.revenue_per_member == pytest.approx(5.0)
    assert ArmOutcome().rate is None


def test_wilson_interval_rejects_impossible_counts() -> None:
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(5, 4)
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(-1, 4)
    assert wilson_interval(0, 0) == (0.0, 1.0), "no trials: the interval says nothing"
