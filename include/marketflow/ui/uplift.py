"""What the campaign pages show of an arm and of its uplift (treatment rate - control rate).

The interval itself comes from `marketflow.campaigns.uplift` (Newcombe's hybrid score interval), so
the pages and the stored run reports use one definition.
"""

from __future__ import annotations

from dataclasses import dataclass

from marketflow.campaigns.uplift import rate_difference


@dataclass(frozen=True)
class ArmOutcome:
    """How many members an arm had, how many of them bought in the window, and what they spent."""

    members: int = 0
    conversions: int = 0
    revenue: float = 0.0

    def __add__(self, other: ArmOutcome) -> ArmOutcome:
        return ArmOutcome(
            self.members + other.members, self.conversions + other.conversions, self.revenue + other.revenue
        )

    @property
    def rate(self) -> float | None:
        return self.conversions / self.members if self.members else None

    @property
    def revenue_per_member(self) -> float | None:
        return self.revenue / self.members if self.members else None


@dataclass(frozen=True)
class Uplift:
    """Difference of conversion rates (treatment - control) and its 95% interval, as fractions."""

    treatment_rate: float
    control_rate: float
    estimate: float
    low: float
    high: float

    @property
    def significant(self) -> bool:
        """True when the interval excludes zero."""
        return self.low > 0 or self.high < 0


def uplift(treatment: ArmOutcome, control: ArmOutcome) -> Uplift | None:
    """Newcombe's interval for treatment rate - control rate; None when an arm is empty."""
    difference = rate_difference(treatment.conversions, treatment.members, control.conversions, control.members)
    if difference is None:
        return None
    return Uplift(
        treatment_rate=treatment.conversions / treatment.members,
        control_rate=control.conversions / control.members,
        estimate=difference.estimate,
        low=difference.low,
        high=difference.high,
    )
