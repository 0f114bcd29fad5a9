"""What the campaign pages show of an uplift: the difference of conversion rates (treatment -
control) with its 95% interval and both rates.

Outcomes and intervals come from `marketflow.campaigns.outcomes`, so the pages and the stored run
reports use one definition.
"""

from __future__ import annotations

from dataclasses import dataclass

from marketflow.campaigns.outcomes import ArmOutcome, conversion_difference

__all__ = ["ArmOutcome", "Uplift", "uplift"]


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
    difference = conversion_difference(treatment, control)
    if difference is None:
        return None
    return Uplift(
        treatment_rate=treatment.conversions / treatment.members,
        control_rate=control.conversions / control.members,
        estimate=difference.estimate,
        low=difference.low,
        high=difference.high,
    )
