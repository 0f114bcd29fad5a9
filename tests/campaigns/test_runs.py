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


def test_a_blocked_run_records_why_and_which_inputs_it_found(warehouse_url: str) -> None:
    from sqlalchemy import select

    from marketflow.campaigns.runs import record_blocked
    from marketflow.freshness import Freshness, InputState
    from marketflow.warehouse import warehouse_engine
    from marketflow.warehouse.schema import campaign_runs

    plan = plan_run("winback", D, today=D + dt.timedelta(days=1))
    stale = Freshness(D, (InputState("orders", D - dt.timedelta(days=1), 0), InputState("profiles", None, 0)))
    with warehouse_engine(warehouse_url).begin() as conn:
        record_blocked(conn, plan, stale, attribution_days=14)
        record_blocked(conn, plan, stale, attribution_days=14)  # a cleared task blocking again keeps one row
        row = conn.execute(select(campaign_runs)).mappings().one()
    assert (row["run_key"], row["run_day"], row["send_mode"], row["status"]) == ("winback:2011-10-03", D, "live", "blocked")
    assert row["blocked_reason"] == (
        "stale or missing inputs for 2011-10-03: orders as of 2011-10-02 is 1 day(s) older than 2011-10-03 "
        "(the same day allowed); profiles: none on or before 2011-10-03 (run build_profiles)"
    )
    assert row["inputs"] == {"orders": "2011-10-02", "profiles": None}
