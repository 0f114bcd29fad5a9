"""The campaign run's report: treatment vs control, uplift with 95% intervals, per variant.

Attribution: a member converts when they buy (a purchase line, not a return) in the
`attribution_days` days after the run's logical date D, i.e. order dates D+1 .. D+N (the run
sends right after its data interval ends). Revenue is the net value of their order lines in the
window (returns subtract). Intention to treat: every treatment member counts, whether or not the
e-mail was delivered, against the control group held out of the same audience. A run that
contacted nobody (backfill or dry run) is reported but not "measured": its arms were treated alike.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from typing import Any

from sqlalchemy import Connection, func, select

from marketflow.campaigns.sqlutil import as_date, chunks
from marketflow.campaigns.uplift import mean_difference, rate_difference
from marketflow.warehouse.schema import audience_members, campaign_runs, engagement_events, messages, orders


def _outcomes(
    conn: Connection, customer_ids: list[str], start: dt.date, end: dt.date
) -> tuple[set[str], dict[str, float]]:
    """(converted customers, net revenue per customer) for orders dated start..end."""
    converted: set[str] = set()
    revenue: dict[str, float] = defaultdict(float)
    o = orders.c
    for chunk in chunks(customer_ids):
        stmt = select(o.customer_id, o.is_return, o.quantity, o.unit_price).where(
            o.customer_id.in_(chunk), o.order_date >= start, o.order_date <= end
        )
        for customer_id, is_return, quantity, price in conn.execute(stmt):
            revenue[customer_id] += quantity * price
            if not is_return and quantity > 0:
                converted.add(customer_id)
    return converted, revenue


def _arm(ids: list[str], converted: set[str], revenue: dict[str, float]) -> dict[str, Any]:
    n = len(ids)
    buyers = sum(1 for c in ids if c in converted)
    total = round(sum(revenue.get(c, 0.0) for c in ids), 2)
    return {
        "members": n,
        "converted": buyers,
        "conversion_rate": buyers / n if n else None,
        "revenue": total,
        "revenue_per_customer": total / n if n else None,
    }


def _comparison(treated: list[str], control: list[str], converted: set[str], revenue: dict[str, float]) -> dict:
    rate = rate_difference(
        sum(c in converted for c in treated), len(treated), sum(c in converted for c in control), len(control)
    )
    money = mean_difference([revenue.get(c, 0.0) for c in treated], [revenue.get(c, 0.0) for c in control])
    return {
        "conversion_uplift": rate.to_dict() if rate else None,
        "revenue_per_customer_uplift": money.to_dict() if money else None,
    }


def build_report(conn: Connection, run_key: str, attribution_days: int) -> dict[str, Any]:
    """Compute the run's report from the warehouse (reads only)."""
    run = conn.execute(select(campaign_runs).where(campaign_runs.c.run_key == run_key)).mappings().one()
    day = as_date(run["run_day"])
    start, end = day + dt.timedelta(days=1), day + dt.timedelta(days=attribution_days)
    rows = conn.execute(
        select(audience_members.c.customer_id, audience_members.c.arm, audience_members.c.variant).where(
            audience_members.c.run_key == run_key, audience_members.c.arm.in_(("treatment", "control"))
        )
    ).all()
    treated = sorted(r.customer_id for r in rows if r.arm == "treatment")
    control = sorted(r.customer_id for r in rows if r.arm == "control")
    by_variant: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        if r.arm == "treatment":
            by_variant[r.variant or "(none)"].append(r.customer_id)
    converted, revenue = _outcomes(conn, treated + control, start, end)
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
    newest_order = conn.execute(select(func.max(orders.c.order_date))).scalar_one()
    return {
        "run_key": run_key,
        "send_mode": run["send_mode"],
        "measured": statuses.get("sent", 0) > 0,
        "window": {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "complete": newest_order is not None and as_date(newest_order) >= end,
        },
        "arms": {"treatment": _arm(treated, converted, revenue), "control": _arm(control, converted, revenue)},
        **_comparison(treated, control, converted, revenue),
        "variants": {
            name: {**_arm(ids, converted, revenue), **_comparison(ids, control, converted, revenue)}
            for name, ids in sorted(by_variant.items())
        },
        "messages": dict(sorted(statuses.items())),
        "engagement": dict(sorted(engagement.items())),
    }
