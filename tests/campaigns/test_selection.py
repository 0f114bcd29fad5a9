"""Audience selection on both backends: every rule, every exclusion reason, caps, consent, ordering."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select

from marketflow.audiences.selection import AudienceInputsMissing, compute_audience
from marketflow.campaigns.pipeline import select_audience
from marketflow.campaigns.runs import plan_run
from marketflow.warehouse import schema, warehouse_engine
from tests.campaigns.seed import DAY, Customer, make_config, order_line, seed_catalogue, seed_customers, seed_orders, seeded_inputs

PEOPLE = [
    Customer("12346", segment="at_risk", recency_days=120, frequency=2, monetary=150.0, propensity=0.10),
    Customer("12347", segment="cant_lose", recency_days=200, frequency=9, monetary=2400.0, propensity=0.45,
             country="Iceland", favourite_group="cake stands"),
    Customer("12348", segment="champions", recency_days=5, frequency=12, monetary=3100.0, propensity=0.80),
    Customer("12349", segment="at_risk", recency_days=95, frequency=4, monetary=900.0, propensity=None, country="Italy"),
    Customer("12350", segment="hibernating", recency_days=300, frequency=1, monetary=40.0, propensity=0.02),
]


def _ids(audience: Any, arm: str | None = None) -> set[str]:
    return {m.customer_id for m in audience.members if arm is None or m.arm == arm}


def _reasons(audience: Any) -> dict[str, str | None]:
    return {m.customer_id: m.exclusion_reason for m in audience.members}


def _audience(engine: Any, day: dt.date = DAY, inputs: dict[str, str] | None = None, **overrides: Any) -> Any:
    config = make_config(**overrides)
    with engine.connect() as conn:
        return compute_audience(conn, config, day, f"{config.name}:{day}", seeded_inputs(day) if inputs is None else inputs)


@pytest.fixture
def engine(warehouse_url: str) -> Any:
    engine = warehouse_engine(warehouse_url)
    seed_catalogue(engine)
    seed_customers(engine, PEOPLE)
    return engine


RULE_CASES = [
    ({"segments": ["at_risk"]}, {"12346", "12349"}),
    ({"segments": ["at_risk", "cant_lose"]}, {"12346", "12347", "12349"}),
    ({"recency_days": {"min": 100}}, {"12346", "12347", "12350"}),
    ({"recency_days": {"min": 95, "max": 120}}, {"12346", "12349"}),
    ({"frequency": {"min": 4, "max": 9}}, {"12347", "12349"}),
    ({"monetary": {"min": 900}}, {"12347", "12348", "12349"}),
    ({"favourite_groups": ["cake stands"]}, {"12347"}),
    ({"countries": ["Italy", "Iceland"]}, {"12347", "12349"}),
    ({"propensity_30d": {"min": 0.1, "max": 0.5}}, {"12346", "12347"}),
    ({"segments": ["at_risk", "cant_lose"], "propensity_30d": {"min": 0.2}}, {"12347"}),
]


def test_every_audience_rule_selects_exactly_the_matching_profiles(engine: Any) -> None:
    for rules, expected in RULE_CASES:
        audience = _audience(engine, audience=rules, control_share=0.0)
        assert _ids(audience) == expected, rules
        assert _ids(audience, "treatment") == expected, rules


def test_a_segment_the_profiles_never_assign_is_refused(engine: Any) -> None:
    with pytest.raises(ValueError, match=r"audience.segments: unknown segment\(s\) \['at_rsk'\]"):
        _audience(engine, audience={"segments": ["at_rsk", "cant_lose"]})


def test_values_from_the_file_are_data_never_sql(engine: Any) -> None:
    hostile = ["at_risk' OR '1'='1", "x'); DROP TABLE orders; --"]
    audience = _audience(engine, audience={"countries": hostile})
    assert audience.members == []
    audience = _audience(engine, audience={"favourite_groups": ["candles & lanterns'; DELETE FROM customer_profiles; --"]})
    assert audience.members == []
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(schema.customer_profiles)).scalar_one() == len(PEOPLE)
        assert "orders" in schema.metadata.tables and conn.execute(select(func.count()).select_from(schema.orders)).scalar_one() == 0


def test_ordering_and_max_size_keep_the_best_and_record_the_rest(engine: Any) -> None:
    audience = _audience(engine, audience={"segments": ["at_risk", "cant_lose", "champions"], "max_size": 2}, control_share=0.0)
    reasons = _reasons(audience)
    assert {c for c, r in reasons.items() if r is None} == {"12348", "12347"}  # highest propensity
    assert reasons["12346"] == reasons["12349"] == "over_max_size"
    by_recency = _audience(engine, audience={"segments": ["at_risk", "cant_lose", "champions"], "max_size": 1, "order_by": "recency_desc"})
    assert [m.customer_id for m in by_recency.members if m.exclusion_reason is None] == ["12347"]


def test_unscored_customers_sort_last_by_propensity(engine: Any) -> None:
    audience = _audience(engine, audience={"segments": ["at_risk"], "max_size": 1})
    assert _reasons(audience) == {"12346": None, "12349": "over_max_size"}


def test_control_members_are_recorded_not_contacted_and_treatment_gets_variants(engine: Any) -> None:
    audience = _audience(engine, audience={"segments": ["at_risk", "cant_lose", "champions", "hibernating"]}, control_share=0.5)
    arms = {m.arm for m in audience.members}
    assert arms <= {"treatment", "control"}
    assert all(m.variant in {"a", "b"} for m in audience.treatment)
    assert all(m.variant is None for m in audience.control)
    again = _audience(engine, audience={"segments": ["at_risk", "cant_lose", "champions", "hibernating"]}, control_share=0.5)
    assert [(m.customer_id, m.arm, m.variant) for m in again.members] == [
        (m.customer_id, m.arm, m.variant) for m in audience.members
    ]


def _suppress(engine: Any, customer_id: str, reason: str) -> None:
    with engine.begin() as conn:
        conn.execute(schema.suppressions.insert().values(customer_id=customer_id, reason=reason, since=dt.datetime(2011, 9, 1), source="test"))


def _consent(engine: Any, customer_id: str, day: dt.date, consent: bool) -> None:
    with engine.begin() as conn:
        conn.execute(schema.consent_events.insert().values(customer_id=customer_id, effective_date=day, marketing_consent=consent, source_file="crm.csv"))


def test_consent_and_suppressions_always_win(warehouse_url: str) -> None:
    engine = warehouse_engine(warehouse_url)
    seed_catalogue(engine)
    people = [
        Customer("13001"), Customer("13002"), Customer("13003", consent=None), Customer("13004", consent=False),
        Customer("13005"), Customer("13006"), Customer("13007", email=""), Customer("13008"), Customer("13009"),
    ]
    seed_customers(engine, people)
    _suppress(engine, "13001", "unsubscribe")
    _suppress(engine, "13002", "bounce")
    _suppress(engine, "13002", "manual")
    _suppress(engine, "13004", "complaint")  # complaint also beats their opt-out
    _consent(engine, "13005", dt.date(2011, 9, 20), False)  # opted out after opting in
    _consent(engine, "13006", dt.date(2011, 9, 20), False)
    _consent(engine, "13006", dt.date(2011, 9, 30), True)  # and back in: latest wins
    _consent(engine, "13008", dt.date(2011, 10, 20), False)  # after the run's date: not yet known
    audience = _audience(engine, audience={"segments": ["at_risk"]}, control_share=0.0)
    assert _reasons(audience) == {
        "13001": "unsubscribed", "13002": "bounced", "13003": "no_consent", "13004": "complained",
        "13005": "opted_out", "13006": None, "13007": "no_email", "13008": None, "13009": None,
    }
    soft = _audience(engine, audience={"segments": ["at_risk"]}, control_share=0.0, consent="soft_opt_in")
    assert _reasons(soft)["13003"] is None, "soft opt-in: a customer who never opted out may be e-mailed"
    assert _reasons(soft)["13005"] == "opted_out"


def _live_run_with_messages(engine: Any, campaign: str, day: dt.date, statuses: dict[str, str], arm: str = "treatment") -> None:
    plan = plan_run(campaign, day, today=day)
    with engine.begin() as conn:
        conn.execute(schema.campaign_runs.insert().values(run_key=plan.run_key, campaign=campaign, run_day=day, send_mode="live",
                                                          status="sent", audience_size=0, treatment_size=0, control_size=0))
        conn.execute(schema.audience_members.insert(), [{"run_key": plan.run_key, "customer_id": c, "arm": arm} for c in statuses])
        rows = [{"run_key": plan.run_key, "customer_id": c, "channel": "email", "status": s, "attempts": 1, "message_id": f"<{c}{day}@x>"}
                for c, s in statuses.items() if arm == "treatment"]
        if rows:
            conn.execute(schema.messages.insert(), rows)


def test_frequency_cap_counts_messages_possibly_sent_in_the_window_across_campaigns(engine: Any) -> None:
    _live_run_with_messages(engine, "cross_sell", DAY - dt.timedelta(days=2), {"12346": "sent", "12349": "sent", "12347": "rendered"})
    _live_run_with_messages(engine, "reorder", DAY - dt.timedelta(days=6), {"12346": "unknown", "12349": "failed", "12347": "sent"})
    _live_run_with_messages(engine, "old_one", DAY - dt.timedelta(days=7), {"12349": "sent", "12347": "sent"})
    audience = _audience(engine, audience={"segments": ["at_risk", "cant_lose"]}, frequency_cap={"max_messages": 2, "per_days": 7})
    assert _reasons(audience) == {"12346": "frequency_cap", "12347": None, "12349": None}
    tighter = _audience(engine, audience={"segments": ["at_risk", "cant_lose"]}, frequency_cap={"max_messages": 1, "per_days": 7})
    assert _reasons(tighter) == {"12346": "frequency_cap", "12347": "frequency_cap", "12349": "frequency_cap"}


def test_a_run_does_not_cap_itself_on_a_re_run(engine: Any) -> None:
    config = make_config(audience={"segments": ["at_risk"]}, frequency_cap={"max_messages": 1, "per_days": 7})
    _live_run_with_messages(engine, config.name, DAY, {"12346": "sent"})
    with engine.connect() as conn:
        audience = compute_audience(conn, config, DAY, f"{config.name}:{DAY.isoformat()}", seeded_inputs(DAY))
    assert _reasons(audience)["12346"] is None


def test_recent_buyers_and_members_of_other_live_campaigns_are_excluded(engine: Any) -> None:
    seed_orders(engine, [order_line("12346", DAY - dt.timedelta(days=3), "22423", 1), order_line("12349", DAY - dt.timedelta(days=40), "22423", 2),
                         order_line("12347", DAY - dt.timedelta(days=1), "22423", 3, quantity=-1)])
    _live_run_with_messages(engine, "cross_sell", DAY - dt.timedelta(days=4), {"12349": "sent"}, arm="control")
    with engine.begin() as conn:  # a dry run of another campaign holds nobody
        conn.execute(schema.campaign_runs.insert().values(run_key="reorder:x", campaign="reorder", run_day=DAY, send_mode="dry_run",
                                                          status="rendered", audience_size=1, treatment_size=1, control_size=0))
        conn.execute(schema.audience_members.insert().values(run_key="reorder:x", customer_id="12347", arm="treatment"))
    audience = _audience(engine, audience={"segments": ["at_risk", "cant_lose"]},
                         exclusions={"bought_within_days": 14, "in_other_campaign_within_days": 7})
    assert _reasons(audience) == {"12346": "bought_recently", "12347": None, "12349": "in_other_campaign"}


def test_selection_reads_exactly_the_inputs_the_run_checked_and_refuses_without_them(warehouse_url: str) -> None:
    engine = warehouse_engine(warehouse_url)
    seed_catalogue(engine)
    seed_customers(engine, [Customer("14000", propensity=None)])
    with pytest.raises(AudienceInputsMissing, match="name no customer_profiles snapshot for 2011-10-03"):
        _audience(engine, inputs={"orders": str(DAY)}, audience={"segments": ["at_risk"]})
    no_scores = {"orders": str(DAY), "profiles": str(DAY)}
    with pytest.raises(AudienceInputsMissing, match="name no audience_scores for 2011-10-03"):
        _audience(engine, inputs=no_scores, audience={"propensity_30d": {"min": 0.1}})
    with pytest.raises(AudienceInputsMissing, match="name no audience_scores"):
        _audience(engine, inputs=no_scores, audience={"segments": ["at_risk"], "order_by": "propensity_desc"})
    later = _audience(
        engine, day=DAY + dt.timedelta(days=3), inputs=no_scores, audience={"segments": ["at_risk"], "order_by": "recency_asc"}
    )
    assert (later.profiles_as_of, later.scores_as_of, _ids(later)) == (DAY, None, {"14000"})


def test_selection_is_stored_with_sizes_and_frozen_once_messages_left(engine: Any) -> None:
    config = make_config(audience={"segments": ["at_risk", "cant_lose"]}, control_share=0.3)
    plan = plan_run(config.name, DAY, today=DAY + dt.timedelta(days=1))
    first = select_audience(engine, config, plan, seeded_inputs(plan.day))
    again = select_audience(engine, config, plan, seeded_inputs(plan.day))
    assert first == again
    with engine.connect() as conn:
        run = conn.execute(select(schema.campaign_runs)).mappings().one()
        stored = conn.execute(select(schema.audience_members.c.customer_id, schema.audience_members.c.arm)).all()
    assert run["status"] == "selected" and run["audience_size"] == first["treatment"] + first["control"] == 3
    assert len(stored) == 3
    some = stored[0].customer_id
    with engine.begin() as conn:
        conn.execute(schema.messages.insert().values(run_key=plan.run_key, customer_id=some, channel="email", status="sent", attempts=1))
        conn.execute(schema.customer_profiles.update().values(segment="lost"))
    frozen = select_audience(engine, config, plan, seeded_inputs(plan.day))
    assert frozen["frozen"] is True
    with engine.connect() as conn:
        assert sorted(conn.execute(select(schema.audience_members.c.customer_id, schema.audience_members.c.arm)).all()) == sorted(stored)


def test_repeat_product_due_rule_finds_overdue_regulars_with_showable_products(warehouse_url: str) -> None:
    engine = warehouse_engine(warehouse_url)
    seed_catalogue(engine)
    people = [Customer(c) for c in ("18001", "18002", "18003", "18004", "18005")]
    seed_customers(engine, people)
    ago = lambda days: DAY - dt.timedelta(days=days)  # noqa: E731
    lines = []
    for i, days in enumerate((85, 65, 45, 25)):  # every 20 days, last 25 days ago: due
        lines.append(order_line("18001", ago(days), "85123A", 10 + i))
        lines.append(order_line("18001", ago(days), "POST", 70 + i))  # postage on each order: a service, never due
    for i, days in enumerate((70, 40, 10)):  # every 30 days, last 10 days ago: not yet
        lines.append(order_line("18002", ago(days), "71053", 20 + i))
    for i, days in enumerate((90, 60, 30)):  # due, but the product has no price: cannot be shown
        lines.append(order_line("18003", ago(days), "NOPRICE", 30 + i))
    for i, days in enumerate((60, 30)):  # only two purchase days
        lines.append(order_line("18004", ago(days), "22423", 40 + i))
    for i, days in enumerate((400, 300, 200)):  # a habit given up long ago (more than 120 days)
        lines.append(order_line("18005", ago(days), "47566", 50 + i))
    lines.append(order_line("18001", ago(30), "22423", 60, quantity=-2))  # returns never count
    seed_orders(engine, lines)
    audience = _audience(engine, audience={"repeat_product_due": {"min_purchase_days": 3, "max_days_since_last": 120}},
                         control_share=0.0)
    assert _ids(audience) == {"18001"}
    (due,) = audience.due_products["18001"]
    assert (due.stock_code, due.purchase_days, due.last_bought, due.average_gap_days) == ("85123A", 4, ago(25), 20.0)
    later = _audience(engine, audience={"repeat_product_due": {"min_purchase_days": 3, "overdue_factor": 1.5}}, control_share=0.0)
    assert _ids(later) == set(), "25 days is not yet 1.5 x the 20-day habit"


def test_reorder_reminder_names_the_due_product_with_its_catalogue_price(warehouse_url: str) -> None:
    from marketflow.campaigns.pipeline import render_messages

    engine = warehouse_engine(warehouse_url)
    seed_catalogue(engine)
    seed_customers(engine, [Customer("18101")])
    seed_orders(engine, [order_line("18101", DAY - dt.timedelta(days=d), "22423", i) for i, d in enumerate((63, 42, 21))])
    data = make_config().model_dump()
    data["audience"] = {"repeat_product_due": {"min_purchase_days": 3}}
    data["message"] |= {"template": "reorder_reminder", "product_source": "repeat_products",
                        "variants": [{"name": "a", "subject": "Running low on {{ products[0].name }}?", "intro": "Hi."}]}
    config = make_config(**{k: data[k] for k in ("audience", "message")}, control_share=0.0)
    plan = plan_run(config.name, DAY, today=DAY)
    select_audience(engine, config, plan, seeded_inputs(plan.day))
    render_messages(engine, config, plan, seeded_inputs(plan.day))
    with engine.connect() as conn:
        msg = conn.execute(select(schema.messages)).mappings().one()
    assert msg["subject"] == "Running low on Regency Cakestand 3 Tier?"
    assert "£12.75" in msg["body_text"] and "you usually re-order every 21 days; last time 21 days ago" in msg["body_text"]
