"""The demo (the browser tests' deployment): it exits 0; Airflow's scheduler ran every stage for
each replayed day, started by its input, with real durations; the campaigns ran their latest due
runs; and what it prints is what the warehouse and the outbox hold."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from typing import Any

from sqlalchemy import Connection, Table, func, select

from marketflow.campaigns.config import load_campaigns
from marketflow.demo import MIN_REPLAY_DAYS, read_env_file
from marketflow.warehouse import warehouse_engine
from marketflow.warehouse.schema import campaign_runs, messages, model_registry, orders, quarantine
from tests.ui.demo_run import DemoRun

UTC = dt.timezone.utc


def _count(conn: Connection, table: Table, *where: Any) -> int:
    return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def _days(runs: list[dict[str, Any]], dag_id: str) -> Counter[str]:
    """How often each day was built (the days each run's published event names, see `timeline`)."""
    return Counter(day for run in runs if run["dag_id"] == dag_id for day in run["built"])


def test_the_scheduler_ran_every_stage_for_each_replayed_day_started_by_its_input(demo_run: DemoRun) -> None:
    assert demo_run.returncode == 0, demo_run.tail()
    runs = demo_run.runs()
    assert {run["state"] for run in runs} == {"success"}, [r for r in runs if r["state"] != "success"]
    yesterday = dt.datetime.now(UTC).date() - dt.timedelta(days=1)
    first = dt.date.fromisoformat(read_env_file(demo_run.home / "marketflow.env")["MARKETFLOW_START_DATE"])
    replayed = {str(first + dt.timedelta(days=n)) for n in range((yesterday - first).days + 1)}
    assert len(replayed) >= MIN_REPLAY_DAYS
    for dag_id, trigger in (
        ("ingest_orders", "schedule"),
        ("build_profiles", "asset marketflow_orders"),
        ("score_audiences", "asset marketflow_customer_profiles"),
    ):
        assert _days(runs, dag_id) == Counter({day: 1 for day in replayed}), dag_id
        assert {run["trigger"] for run in runs if run["dag_id"] == dag_id} == {trigger}
    recommender = [run for run in runs if run["dag_id"] == "train_recommender"]
    assert recommender and all(dt.date.fromisoformat(run["days"][0]).weekday() == 6 for run in recommender)
    campaigns = {c.dag_id for c in load_campaigns() if c.enabled}
    scheduled = Counter(run["dag_id"] for run in runs if run["dag_id"] in campaigns and run["trigger"] == "schedule")
    assert scheduled == Counter({dag_id: 1 for dag_id in campaigns})
    for run in runs:  # real durations: started by the scheduler during the demo, not at a 2011 logical date
        took = dt.datetime.fromisoformat(run["ended"]) - dt.datetime.fromisoformat(run["started"])
        assert dt.timedelta(0) < took < dt.timedelta(minutes=10), run
    assert f"{len(runs)} DAG run(s) failed" not in demo_run.output


def test_the_demo_prints_what_the_warehouse_and_the_outbox_hold(demo_run: DemoRun) -> None:
    assert demo_run.returncode == 0, demo_run.tail()
    printed = demo_run.section("the warehouse now holds")
    assert len(printed) == 12 and all(n > 0 for n in printed.values()), printed
    campaigns = [c for c in load_campaigns() if c.enabled]
    with warehouse_engine(demo_run.warehouse_url).connect() as conn:
        assert printed["order lines loaded"] == _count(conn, orders)
        assert printed["rows quarantined"] == _count(conn, quarantine)
        assert printed["models registered"] == _count(conn, model_registry)
        assert printed["campaign runs"] == _count(conn, campaign_runs) == len(campaigns)
        assert printed["messages"] == _count(conn, messages)
        sent = _count(conn, messages, messages.c.status == "sent")
        live = _count(conn, campaign_runs, campaign_runs.c.send_mode == "live")
    printed_campaigns = demo_run.section("campaigns")
    assert printed_campaigns["e-mails in the outbox"] == sent == len(list((demo_run.home / "outbox").glob("*.eml")))
    assert sent > 0 and live > 0, "the daily cross-sell's latest run is always due within two days: live"
    assert printed_campaigns["campaign reports"] == printed["campaign runs"]



def test_the_demo_writes_winbacks_model_variant_with_the_embedded_model(demo_run: DemoRun) -> None:
    """winback's A/B test puts the model (no `marketflow_llm` connection: the embedded one) against
    the template: every `whats_new` message is the model's copy or says why it fell back, and the
    model's run never reaches the template-only variant."""
    with warehouse_engine(demo_run.warehouse_url).connect() as conn:
        rows = conn.execute(
            select(messages.c.variant, messages.c.copy_source).where(messages.c.run_key.like("winback:%"))
        ).all()
    model_variant = [source for variant, source in rows if variant == "whats_new"]
    assert model_variant and all(s == "llm" or s.startswith("template_fallback:guardrail:") for s in model_variant)
    assert {source for variant, source in rows if variant == "we_miss_you"} == {"template"}
    printed = next(line for line in demo_run.output.splitlines() if line.strip().startswith("winback:") and "template" in line)
    assert re.search(rf"\b{len(rows) - len(model_variant)} template(,|$)", printed), printed


def test_the_demo_leaves_its_settings_for_make_ui(demo_run: DemoRun) -> None:
    settings = (demo_run.home / "marketflow.env").read_text()
    first = dt.date.fromisoformat(read_env_file(demo_run.home / "marketflow.env")["MARKETFLOW_START_DATE"])
    campaign_days = [
        dt.date.fromisoformat(run["days"][0]) for run in demo_run.runs() if run["dag_id"].startswith("campaign__")
    ]
    assert min(campaign_days) == first or (dt.datetime.now(UTC).date() - first).days == MIN_REPLAY_DAYS, (
        "the replay starts at the earliest campaign day, or three days back"
    )
    assert "MARKETFLOW_INGEST_CALENDAR=" in settings and "AIRFLOW_CONN_SMTP_DEFAULT=" in settings
