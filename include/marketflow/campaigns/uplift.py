"""Treatment vs control: difference in conversion rate and in revenue per customer, with 95% intervals.

- Conversion: Newcombe's hybrid score interval for a difference of two proportions (method 10 in
  Newcombe 1998), built from the two Wilson score intervals: well behaved for the small groups
  and low rates of control groups, where the Wald interval undercovers.
- Revenue per customer: Welch's t interval (unequal variances), over every member including the
  many zeros of customers who did not buy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

#: The 97.5% quantile of the standard normal distribution (scipy.stats.norm.ppf(0.975)).
Z_95 = 1.959963984540054


def wilson_interval(successes: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a proportion; (0, 1), knowing nothing, when n is 0."""
    if not 0 <= successes <= n:
        raise ValueError(f"successes={successes} must lie in [0, n={n}]")
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float]:
        return {"estimate": self.estimate, "low": self.low, "high": self.high}


def rate_difference(x1: int, n1: int, x2: int, n2: int) -> Interval | None:
    """p1 - p2 with Newcombe's hybrid score 95% interval; None when a group is empty."""
    if n1 == 0 or n2 == 0:
        return None
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson_interval(x1, n1)
    l2, u2 = wilson_interval(x2, n2)
    d = p1 - p2
    low = d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2)
    high = d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)
    return Interval(d, low, high)


def mean_difference(a: Sequence[float], b: Sequence[float]) -> Interval | None:
    """mean(a) - mean(b) with Welch's 95% interval; None when a group has fewer than 2 values."""
    return mean_difference_from_sums(
        (len(a), math.fsum(a), math.fsum(x * x for x in a)), (len(b), math.fsum(b), math.fsum(x * x for x in b))
    )


def mean_difference_from_sums(a: tuple[int, float, float], b: tuple[int, float, float]) -> Interval | None:
    """Welch's interval from each group's (count, sum, sum of squares), as SQL can aggregate them;
    None when a group has fewer than 2 values."""
    (n1, s1, q1), (n2, s2, q2) = a, b
    if n1 < 2 or n2 < 2:
        return None
    m1, m2 = s1 / n1, s2 / n2
    v1 = max(q1 - n1 * m1 * m1, 0.0) / (n1 - 1)
    v2 = max(q2 - n2 * m2 * m2, 0.0) / (n2 - 1)
    se2 = v1 / n1 + v2 / n2
    d = m1 - m2
    if se2 <= 1e-18 * max(1.0, d * d):
        return Interval(d, d, d)
    from scipy import stats

    df = se2**2 / ((v1 / n1) ** 2 / (n1 - 1) + (v2 / n2) ** 2 / (n2 - 1))
    half = float(stats.t.ppf(0.975, df)) * math.sqrt(se2)
    return Interval(d, d - half, d + half)
