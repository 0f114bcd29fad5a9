"""The campaign run's stored report: treatment vs control, uplift with 95% intervals, per variant.

Outcomes are defined once, in `marketflow.campaigns.outcomes` (attribution window, conversions,
revenue, intention to treat). A run that contacted nobody (backfill or dry run) is reported but not
"measured": its arms were treated alike.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import Connection, func, select

from marketflow.campaigns.outcomes import (
    ArmOutcome,
    arm_outcome,
    attribution_window,
    conversion_difference,
    latest_order_date,
    member_outcomes,
    revenue_difference,
    variant_outcomes,
)
from marketflow.campaigns.sqlutil import as_date
from marketflow.warehouse.schema import campaign_runs, engagement_events, messages


def _arm(outcome: ArmOutcome) -> dict[str, Any]:
    return {
        "members": outcome.members,
        "converted": outcome.conversions,
        "conversion_rate": outcome.rate,
        "revenue": round(outcome.revenue, 2),
        "revenue_per_customer": outcome.revenue_per_member,
    }


def _comparison(treatment: ArmOutcome, control: ArmOutcome) -> dict[str, Any]:
    rate = conversion_difference(treatment, control)
    money = revenue_difference(treatment, control)
    return {
        "conversion_uplift": rate.to_dict() if rate else None,
        "revenue_per_customer_uplift": money.to_dict() if money else None,
    }


def build_report(conn: Connection, run_key: str) -> dict[str, Any]:
    """Compute the run's report from the warehouse (reads only)."""
    run = conn.execute(select(campaign_runs).where(campaign_runs.c.run_key == run_key)).mappings().one()
    start, end = attribution_window(as_date(run["run_day"]), run["attribution_days"])
    outcomes = member_outcomes(conn, [run_key]).get(run_key, {})
    treatment, control = arm_outcome(outcomes, "treatment"), arm_outcome(outcomes, "control")
    statuses = dict(
        conn.execute(
            select(messages.c.status, func.count()).where(messages.c.run_key == run_key).group_by(messages.c.status)
        ).all()
    )
    engagement = Counter(
        kind
        for (kind,) in conn.execute(
            select(engagement_events.c.event_type)
            .join(messages, messages.c.message_id == engagement_events.c.message_id)
            .where(messages.c.run_key == run_key)
        )
    )
    newest_order = latest_order_date(conn)
    return {
        "run_key": run_key,
        "send_mode": run["send_mode"],
        "measured": statuses.get("sent", 0) > 0,
        "window": {
            "attribution_days": run["attribution_days"],
            "start": start.isoformat(),
            "end": end.isoformat(),
            "complete": newest_order is not None and newest_order >= end,
        },
        "arms": {"treatment": _arm(treatment), "control": _arm(control)},
        **_comparison(treatment, control),
        "variants": {
            name: {**_arm(outcome), **_comparison(outcome, control)}
            for name, outcome in variant_outcomes(outcomes).items()
        },
        "messages": dict(sorted(statuses.items())),
        "engagement": dict(sorted(engagement.items())),
    }
