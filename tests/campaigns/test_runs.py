"""Send modes: only a current, non-backfill run contacts anyone, unless forced."""

from __future__ import annotations

import datetime as dt

from marketflow.campaigns.runs import RunPlan, plan_run

D = dt.date(2011, 10, 3)


def test_a_current_run_is_live_and_a_past_one_is_a_backfill() -> None:
    assert plan_run("winback", D, today=D + dt.timedelta(days=1)).send_mode == "live"
    late = plan_run("winback", D, today=D + dt.timedelta(days=3))
    assert late.send_mode == "backfill" and not late.contacts_customers
    assert "due 3 days before today" in late.reason and "nobody is contacted" in late.reason


def test_a_weekly_run_due_at_its_interval_end_is_current() -> None:
    plan = plan_run("winback", D, today=D + dt.timedelta(days=7), scheduled_for=D + dt.timedelta(days=7))
    assert plan.send_mode == "live"


def test_an_airflow_backfill_never_contacts_anyone_unless_forced() -> None:
    assert plan_run("winback", D, today=D, is_backfill_run=True).send_mode == "backfill"
    forced = plan_run("winback", D, today=dt.date(2026, 11, 24), force_send=True)
    assert forced.send_mode == "live" and "force_send=true" in forced.reason


def test_dry_run_wins_over_force_and_the_plan_round_trips_through_xcom() -> None:
    plan = plan_run("winback", D, today=D, dry_run=True, force_send=True)
    assert plan.send_mode == "dry_run" and not plan.contacts_customers
    assert RunPlan.from_dict(plan.to_dict()) == plan and plan.to_dict()["run_key"] == "winback:2011-10-03"
