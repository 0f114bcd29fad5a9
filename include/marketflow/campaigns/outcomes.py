"""What a campaign run earned, per arm and variant: the one definition that the stored run report
and the Campaigns pages share.

Attribution: a member converts when they buy (an order line that is not a return and has a positive
quantity) on days D+1 .. D+N after the run's day D, N being the run's `attribution_days` (recorded on
the run from its campaign's config). The run sends right after its data interval ends, so orders of D
itself came before the message. Revenue is the net value of the member's order lines in those days:
returns subtract, so a member who only sent something back has negative revenue. Intention to treat:
every treatment member counts, delivered or not, against the control group held out of the same
audience and never contacted.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, and_, case, exists, func, select

from marketflow.campaigns.sqlutil import add_days, as_date, chunks
from marketflow.campaigns.uplift import Interval, mean_difference_from_sums, rate_difference
from marketflow.warehouse.schema import audience_members, campaign_runs, orders

MEASURED_ARMS = ("treatment", "control")
NO_VARIANT = "(none)"

#: (arm, variant) -> outcome, for one run.
RunOutcomes = Mapping[tuple[str, str | None], "ArmOutcome"]


@dataclass(frozen=True)
class ArmOutcome:
    """Members of an arm, how many bought in the window, and what they spent (with the sum of squares
    of each member's revenue, so the revenue interval needs no per-member rows)."""

    members: int = 0
    conversions: int = 0
    revenue: float = 0.0
    revenue_squares: float = 0.0

    def __add__(self, other: ArmOutcome) -> ArmOutcome:
        return ArmOutcome(
            self.members + other.members,
            self.conversions + other.conversions,
            self.revenue + other.revenue,
            self.revenue_squares + other.revenue_squares,
        )

    @property
    def rate(self) -> float | None:
        return self.conversions / self.members if self.members else None

    @property
    def revenue_per_member(self) -> float | None:
        return self.revenue / self.members if self.members else None


def latest_order_date(conn: Connection) -> dt.date | None:
    """The newest order day in the warehouse: a window that ends after it is still open."""
    value = conn.execute(select(func.max(orders.c.order_date))).scalar_one()
    return None if value is None else as_date(value)


def attribution_window(day: dt.date, attribution_days: int) -> tuple[dt.date, dt.date]:
    """First and last order day that count for a run of day `day`."""
    return day + dt.timedelta(days=1), day + dt.timedelta(days=attribution_days)


def member_outcomes(conn: Connection, run_keys: Sequence[str]) -> dict[str, dict[tuple[str, str | None], ArmOutcome]]:
    """run_key -> (arm, variant) -> outcome of the measured arms, each run in its own window."""
    am, cr, o = audience_members, campaign_runs, orders
    in_window = and_(
        o.c.customer_id == am.c.customer_id,
        o.c.order_date > cr.c.run_day,
        o.c.order_date <= add_days(cr.c.run_day, cr.c.attribution_days),
    )
    bought = exists().where(in_window, o.c.is_return.is_(False), o.c.quantity > 0)
    spent = select(func.coalesce(func.sum(o.c.quantity * o.c.unit_price), 0.0)).where(in_window).scalar_subquery()
    outcomes: dict[str, dict[tuple[str, str | None], ArmOutcome]] = defaultdict(dict)
    for chunk in chunks(list(run_keys)):
        members = (
            select(am.c.run_key, am.c.arm, am.c.variant, case((bought, 1), else_=0).label("converted"), spent.label("revenue"))
            .select_from(am.join(cr, cr.c.run_key == am.c.run_key))
            .where(am.c.arm.in_(MEASURED_ARMS), am.c.run_key.in_(chunk))
            .subquery()
        )
        stmt = select(
            members.c.run_key,
            members.c.arm,
            members.c.variant,
            func.count().label("members"),
            func.sum(members.c.converted).label("conversions"),
            func.sum(members.c.revenue).label("revenue"),
            func.sum(members.c.revenue * members.c.revenue).label("revenue_squares"),
        ).group_by(members.c.run_key, members.c.arm, members.c.variant)
        for row in conn.execute(stmt):
            outcomes[row.run_key][(row.arm, row.variant)] = ArmOutcome(
                int(row.members), int(row.conversions or 0), float(row.revenue or 0.0), float(row.revenue_squares or 0.0)
            )
    return outcomes


def arm_outcome(outcomes: RunOutcomes, arm: str) -> ArmOutcome:
    """One arm's outcome over its variants."""
    return sum((outcome for (a, _), outcome in outcomes.items() if a == arm), ArmOutcome())


def variant_outcomes(outcomes: RunOutcomes) -> dict[str, ArmOutcome]:
    """The treatment arm per variant (`NO_VARIANT` for members without one), by name."""
    variants: dict[str, ArmOutcome] = defaultdict(ArmOutcome)
    for (arm, variant), outcome in outcomes.items():
        if arm == "treatment":
            variants[variant or NO_VARIANT] += outcome
    return dict(sorted(variants.items()))


def conversion_difference(treatment: ArmOutcome, control: ArmOutcome) -> Interval | None:
    """Treatment rate - control rate with Newcombe's 95% interval; None when an arm is empty."""
    return rate_difference(treatment.conversions, treatment.members, control.conversions, control.members)


def revenue_difference(treatment: ArmOutcome, control: ArmOutcome) -> Interval | None:
    """Revenue per member, treatment - control, with Welch's 95% interval; None below 2 members an arm."""
    return mean_difference_from_sums(
        (treatment.members, treatment.revenue, treatment.revenue_squares),
        (control.members, control.revenue, control.revenue_squares),
    )
