"""Engagement events feed suppressions at once; the report measures treatment vs control."""

from __future__ import annotations

import datetime as dt
import json
import random
from pathlib import Path
from typing import Any

import pytest
from scipy import stats
from sqlalchemy import func, select

from marketflow.campaigns.pipeline import render_messages, report_run, select_audience
from marketflow.campaigns.runs import plan_run
from marketflow.campaigns.uplift import mean_difference, rate_difference, wilson_interval
from marketflow.channels.events import ingest_drop_folder, unsubscribe_by_token
from marketflow.warehouse import schema, warehouse_engine
from tests.campaigns.seed import DAY, Customer, make_config, order_line, seed_catalogue, seed_customers, seed_orders, seeded_inputs


@pytest.mark.parametrize(
    ("counts", "published"),
    [  # Newcombe (1998), Stat Med 17:873-890, Table II, method 10 (score interval, no continuity correction)
        ((56, 70, 48, 80), (0.0524, 0.3339)),
        ((9, 10, 3, 10), (0.1705, 0.8090)),
        ((6, 7, 2, 7), (0.0582, 0.8062)),
        ((5, 56, 0, 29), (-0.0381, 0.1926)),
    ],
)
def test_rate_difference_interval_matches_newcombes_published_values(counts: tuple[int, ...], published: tuple[float, float]) -> None:
    interval = rate_difference(*counts)
    assert interval is not None
    assert (round(interval.low, 4), round(interval.high, 4)) == published


def test_wilson_interval_and_welch_interval_agree_with_references() -> None:
    low, high = wilson_interval(81, 263)  # Newcombe (1998) single-proportion example: 0.2553 to 0.3662
    assert (round(low, 4), round(high, 4)) == (0.2553, 0.3662)
    rng = random.Random(7)
    a = [rng.expovariate(1 / 20) if rng.random() < 0.2 else 0.0 for _ in range(300)]
    b = [rng.expovariate(1 / 15) if rng.random() < 0.15 else 0.0 for _ in range(120)]
    ours = mean_difference(a, b)
    reference = stats.ttest_ind(a, b, equal_var=False).confidence_interval(0.95)
    assert ours is not None and ours.low == pytest.approx(reference.low) and ours.high == pytest.approx(reference.high)
    assert rate_difference(1, 0, 1, 5) is None and mean_difference([1.0], [1.0, 2.0]) is None


def _live(warehouse_url: str, n: int = 30) -> tuple[Any, Any, Any]:
    engine = warehouse_engine(warehouse_url)
    seed_catalogue(engine)
    seed_customers(engine, [Customer(str(17000 + i)) for i in range(n)])
    config = make_config(audience={"segments": ["at_risk"]}, control_share=0.4, attribution_days=14)
    plan = plan_run(config.name, DAY, today=DAY + dt.timedelta(days=1))
    select_audience(engine, config, plan, seeded_inputs(plan.day))
    render_messages(engine, config, plan, seeded_inputs(plan.day))
    return engine, config, plan


def test_event_drops_are_stored_once_and_unsubscribes_suppress_at_once(warehouse_url: str, tmp_path: Path) -> None:
    engine, config, plan = _live(warehouse_url)
    with engine.connect() as conn:
        ledger = dict(conn.execute(select(schema.messages.c.customer_id, schema.messages.c.message_id)).all())
    (a, mid_a), (b, mid_b), (c, mid_c) = sorted(ledger.items())[:3]
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "esp-2011-10-04.jsonl").write_text("\n".join([
        json.dumps({"event_type": "delivered", "message_id": mid_a, "occurred_at": "2011-10-04T08:00:00Z"}),
        json.dumps({"event_type": "open", "message_id": mid_a, "occurred_at": "2011-10-04T09:12:00+01:00"}),
        json.dumps({"event_type": "unsubscribe", "message_id": mid_a, "occurred_at": "2011-10-04T09:13:00Z"}),
        json.dumps({"event_type": "bounce", "message_id": mid_b, "occurred_at": "2011-10-04T08:01:00Z"}),
        json.dumps({"event_type": "teleport", "message_id": mid_c, "occurred_at": "2011-10-04T08:01:00Z"}),
        '{"event_type": "click", "message_id": "' + mid_c,  # a torn last line: the writer was mid-append
    ]))
    (drop / "complaints.csv").write_text(f"event_type,customer_id,occurred_at\ncomplaint,{c},2011-10-05T10:00:00\nopen,,2011-10-05T10:00:00\n")
    first = ingest_drop_folder(engine, drop)
    assert (first.read, first.inserted, first.suppressed) == (7, 5, 3)
    assert len(first.rejected) == 2 and any("teleport" in r for r in first.rejected)
    again = ingest_drop_folder(engine, drop)
    assert (again.inserted, again.suppressed) == (0, 0), "re-reading a drop changes nothing"
    with engine.connect() as conn:
        suppressed = dict(conn.execute(select(schema.suppressions.c.customer_id, schema.suppressions.c.reason)).all())
        opened = conn.execute(select(schema.engagement_events.c.occurred_at).where(schema.engagement_events.c.event_type == "open")).scalar_one()
        status_b = conn.execute(select(schema.messages.c.status).where(schema.messages.c.customer_id == b)).scalar_one()
    assert suppressed == {a: "unsubscribe", b: "bounce", c: "complaint"}
    assert opened == dt.datetime(2011, 10, 4, 8, 12) and status_b == "bounced"
    next_day = plan_run(config.name, DAY, today=DAY + dt.timedelta(days=1))
    with engine.begin() as conn:
        conn.execute(schema.messages.delete())
    select_audience(engine, config, next_day, seeded_inputs(next_day.day))
    with engine.connect() as conn:
        reasons = dict(conn.execute(select(schema.audience_members.c.customer_id, schema.audience_members.c.exclusion_reason)).all())
    assert (reasons[a], reasons[b], reasons[c]) == ("unsubscribed", "bounced", "complained")


def test_report_compares_treatment_with_control_in_the_attribution_window(warehouse_url: str) -> None:
    engine, config, plan = _live(warehouse_url, n=40)
    with engine.connect() as conn:
        arms = conn.execute(select(schema.audience_members.c.customer_id, schema.audience_members.c.arm,
                                   schema.audience_members.c.variant)).all()
    treated = sorted(c for c, arm, _ in arms if arm == "treatment")
    control = sorted(c for c, arm, _ in arms if arm == "control")
    with engine.begin() as conn:
        conn.execute(schema.messages.update().values(status="sent"))
    buys = treated[:6] + control[:2]
    lines = [order_line(c, DAY + dt.timedelta(days=1 + i % 14), "22423", i, quantity=2) for i, c in enumerate(buys)]
    lines.append(order_line(treated[6], DAY, "22423", 100))  # on the run's own day: before the send
    lines.append(order_line(treated[7], DAY + dt.timedelta(days=15), "22423", 101))  # after the window
    lines.append(order_line(treated[0], DAY + dt.timedelta(days=3), "22423", 102, quantity=-1))  # a return
    lines.append(order_line(control[3], DAY + dt.timedelta(days=30), "71053", 103))  # makes the window complete
    seed_orders(engine, lines)
    summary = report_run(engine, config, plan)
    with engine.connect() as conn:
        run = conn.execute(select(schema.campaign_runs)).mappings().one()
    report = run["report"]
    assert run["status"] == "reported" and summary["measured"] is True
    assert config.attribution_days == 14 and run["attribution_days"] == 14  # recorded on the run when it started
    assert report["window"] == {"attribution_days": 14, "start": "2011-10-04", "end": "2011-10-17", "complete": True}
    t, c = report["arms"]["treatment"], report["arms"]["control"]
    assert (t["members"], t["converted"], c["members"], c["converted"]) == (len(treated), 6, len(control), 2)
    assert t["revenue"] == pytest.approx(6 * 2 * 12.75 - 12.75) and c["revenue"] == pytest.approx(2 * 2 * 12.75)
    expected = rate_difference(6, len(treated), 2, len(control))
    assert report["conversion_uplift"] == pytest.approx(expected.to_dict())
    revenue = {cid: 0.0 for cid in treated + control}
    for cid in buys:
        revenue[cid] += 25.5
    revenue[treated[0]] -= 12.75
    expected_money = mean_difference([revenue[x] for x in treated], [revenue[x] for x in control])
    assert report["revenue_per_customer_uplift"] == pytest.approx(expected_money.to_dict())
    variants = {v for c_, arm, v in arms if arm == "treatment"}
    assert set(report["variants"]) == variants
    assert sum(v["members"] for v in report["variants"].values()) == len(treated)
    assert report["messages"] == {"sent": len(treated)}


def test_the_one_click_unsubscribe_token_suppresses_exactly_its_customer(warehouse_url: str) -> None:
    engine, _config, _plan = _live(warehouse_url, n=5)
    with engine.connect() as conn:
        customer, message_id = conn.execute(select(schema.messages.c.customer_id, schema.messages.c.message_id).limit(1)).one()
    token = message_id.strip("<>").split("@")[0]
    when = dt.datetime(2011, 10, 4, 12, 0)
    assert unsubscribe_by_token(engine, token, when) == customer
    assert unsubscribe_by_token(engine, token, when) == customer  # a second click changes nothing
    assert unsubscribe_by_token(engine, "0" * 32, when) is None
    assert unsubscribe_by_token(engine, "%", when) is None, "wildcards are not tokens"
    with engine.connect() as conn:
        assert conn.execute(select(schema.suppressions.c.customer_id, schema.suppressions.c.reason)).all() == [(customer, "unsubscribe")]
        assert conn.execute(select(func.count()).select_from(schema.engagement_events)).scalar_one() == 1
