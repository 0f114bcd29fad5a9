"""The pipeline run by Airflow's real scheduler (scheduler, dag-processor, triggerer, api-server,
LocalExecutor), with the shop's exports arriving one day at a time.

On each warehouse (SQLite, as the demo; PostgreSQL, as the compose stack), four days of the sample,
re-dated to end yesterday (D1..D4), are replayed: the test drops each day's
export into the landing folder once the previous day is ingested, and holds the last one back. (The
demo's run, tests/ui/test_demo_run.py, checks a whole week of stages started by their inputs under
the scheduler; four days are what the late export, the backfill over two past days and the two
coalesced events below need.)
Two campaigns (the re-order reminder on a daily 00:00 schedule) are unpaused before it arrives:
`strict_reminder` may not wait for late inputs, `patient_reminder` may. The test asserts:
- every stage ran once per day, started by its input (schedule for ingest, asset events after it);
- each profile build mapped as many shards as its history's lines call for (more than the one
  configured), and said so in its `prepare_days` log;
- the late export holds every downstream stage, and blocks `strict_reminder` with a reason naming
  the stale input and its date, in the task log, `campaign_runs` and on the Campaigns page;
- nobody is contacted on stale inputs; once the export arrives `patient_reminder` sends each
  e-mail exactly once, also when its send task is run again;
- `marketflow backfill` over past days contacts nobody, and refuses a paused DAG;
- two profiles events sent while `score_audiences` is busy both get their days scored, once
  (Airflow 3.3 hands the next run only the first: apache/airflow#56050).
The timeline of runs goes to test-artifacts/scheduler-timeline-<warehouse>.txt.
"""

from __future__ import annotations

import datetime as dt
import email
import html
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

from marketflow.days import event_extra
from marketflow.warehouse import warehouse_engine
from marketflow.warehouse.schema import audience_scores, campaign_runs, customer_profiles, messages, orders
from tests.conftest import REPO
from tests.live.deployment import Deployment, deployment
from tests.scratch_db import scratch_database

pytestmark = pytest.mark.slow

TODAY = dt.datetime.now(dt.timezone.utc).date()
DAYS = [TODAY - dt.timedelta(days=n) for n in range(4, 0, -1)]  # D1..D4, D4 = yesterday
LATE = DAYS[-1]
DATA_DAGS = ("ingest_orders", "build_profiles", "score_audiences")
STRICT, PATIENT = "campaign__strict_reminder", "campaign__patient_reminder"
LINES_PER_SHARD = 80_000  # the sample's ~180,000 lines of history: 3 profile shards
ARTIFACTS = REPO / "test-artifacts"


def _campaign(folder: Path, name: str, wait_minutes: int) -> None:
    config = yaml.safe_load((REPO / "include" / "campaigns" / "reorder_reminder.yaml").read_text())
    config.update(
        name=name,
        schedule="0 0 * * *",
        wait_for_inputs_minutes=wait_minutes,
        exclusions={"bought_within_days": 7},  # the two campaigns do not exclude each other
    )
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(config))


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def live(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    campaigns = tmp_path_factory.mktemp("campaigns")
    _campaign(campaigns, "strict_reminder", wait_minutes=0)
    _campaign(campaigns, "patient_reminder", wait_minutes=24 * 60)
    settings = {
        # Replayed days are long past their due time: let ingest wait for them as for a late export.
        "MARKETFLOW_INGEST_EXPORT_TIMEOUT_S": str(9 * 24 * 3600),
        # Not shorter: a reschedule-mode sensor re-queued before the scheduler has processed its
        # previous poke's exit is failed by Airflow 3.3 (apache/airflow#71172).
        "MARKETFLOW_INGEST_EXPORT_POKE_INTERVAL_S": "10",
        "MARKETFLOW_INPUT_POKE_INTERVAL_S": "10",
        "MARKETFLOW_PROPENSITY_SHARDS": "1",  # one scoring task a day: 2 cores run the whole stack
        "MARKETFLOW_PROFILES_SHARDS": "1",  # at least one: the history's lines decide how many
        "MARKETFLOW_PROFILES_LINES_PER_SHARD": str(LINES_PER_SHARD),
    }
    home = tmp_path_factory.mktemp("live") / "airflow-home"
    if request.param == "sqlite":
        with deployment(home, campaigns, DAYS, settings) as live:
            yield live
    else:
        with scratch_database(request.getfixturevalue("postgres_server_url")) as url:
            with deployment(home, campaigns, DAYS, settings, warehouse_url=url) as live:
                yield live


def _finished(runs: list[dict[str, Any]], dag_id: str) -> list[dict[str, Any]]:
    return [r for r in runs if r["dag_id"] == dag_id and r["state"] in ("success", "failed")]


def _days_built(runs: list[dict[str, Any]], dag_id: str) -> Counter[str]:
    """How often each day was built by a successful run (the days its published event names)."""
    return Counter(day for r in _finished(runs, dag_id) if r["state"] == "success" for day in r["built"])


def _count(live: Deployment, table: Any, *where: Any) -> int:
    with warehouse_engine(live.warehouse_url).connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def _sent_emails(live: Deployment) -> list[str]:
    """Recipients of the e-mails the SMTP sink received."""
    return [email.message_from_bytes(path.read_bytes())["To"] for path in sorted(live.outbox.glob("*.eml"))]


def _run_row(live: Deployment, campaign: str) -> dict[str, Any]:
    with warehouse_engine(live.warehouse_url).connect() as conn:
        row = conn.execute(select(campaign_runs).where(campaign_runs.c.run_key == f"{campaign}:{LATE}")).mappings().one()
        return dict(row)


def test_days_replayed_by_the_scheduler_hold_block_and_send_exactly_once(live: Deployment) -> None:
    live.marketflow("runs")  # the CLI reaches the deployment's metadata database
    live.release(DAYS[0])
    live.airflow("dags", "unpause", "build_profiles")
    live.airflow("dags", "unpause", "score_audiences")
    live.airflow("dags", "unpause", "ingest_orders")

    # D1..D3 arrive one a day: each once the day before is ingested.
    for day in DAYS[:-1]:
        live.release(day)
        live.wait(
            f"ingest of {day}",
            lambda day=day: [r for r in _finished(live.runs("ingest_orders"), "ingest_orders") if str(day) in r["days"]],
        )
    live.wait("the profiles of D3", lambda: str(DAYS[-2]) in _days_built(live.runs("build_profiles"), "build_profiles"))

    # D4's export is late: its ingest run waits, nothing downstream runs for D4.
    live.airflow("dags", "unpause", STRICT)
    live.airflow("dags", "unpause", PATIENT)
    strict = live.wait("the strict campaign to be blocked", lambda: _finished(live.runs(STRICT), STRICT))
    assert [r["state"] for r in strict] == ["failed"] and strict[0]["days"] == [str(LATE)]
    row = _run_row(live, "strict_reminder")
    expected_reason = (
        f"stale or missing inputs for {LATE}: orders as of {DAYS[-2]} is 1 day(s) older than {LATE} "
        f"(the same day allowed); profiles as of {DAYS[-2]} is 1 day(s) older than {LATE} (the same day allowed)"
    )
    assert (row["status"], row["blocked_reason"]) == ("blocked", expected_reason)
    assert row["inputs"] == {"orders": str(DAYS[-2]), "profiles": str(DAYS[-2])}
    page = html.unescape(live.page("/campaigns/strict_reminder"))
    assert f"The run of {LATE} was blocked and contacted no one." in page and expected_reason in page
    log = live.task_log(STRICT, strict[0]["run_id"], "wait_for_inputs")
    assert f"strict_reminder:{LATE}: BLOCKED, NOBODY CONTACTED: {expected_reason}" in log, log[-3000:]
    ingest_late = [r for r in live.runs("ingest_orders") if str(LATE) in r["days"]]
    assert [r["state"] for r in ingest_late] == ["running"]
    live.wait(
        "profiles and scores of D1..D3",
        lambda: set(_days_built(live.runs("score_audiences"), "score_audiences")) >= {str(d) for d in DAYS[:-1]},
    )
    assert _count(live, customer_profiles, customer_profiles.c.as_of_date == LATE) == 0
    assert _count(live, audience_scores, audience_scores.c.as_of_date == LATE) == 0
    # the scheduler creates each unpaused DAG's run in its own time: the strict run's end does not
    # mean the patient one exists yet (one make test saw none at this point)
    patient = live.wait(
        f"the patient campaign's run of {LATE} to start",
        lambda: [r for r in live.runs(PATIENT) if r["state"] not in ("queued", "scheduled")],
    )
    assert [r["state"] for r in patient] == ["running"]  # waiting for its inputs, contacting nobody
    assert patient[0]["days"] == [str(LATE)]
    assert _count(live, messages) == 0 and _sent_emails(live) == []

    # The export arrives: D4 flows through every stage and the patient campaign sends, once.
    live.release(LATE)
    patient = live.wait("the patient campaign", lambda: _finished(live.runs(PATIENT), PATIENT), timeout=720)
    assert [r["state"] for r in patient] == ["success"], live.marketflow("runs").stdout
    sent_row = _run_row(live, "patient_reminder")
    assert sent_row["send_mode"] == "live" and sent_row["inputs"] == {"orders": str(LATE), "profiles": str(LATE)}
    recipients = _sent_emails(live)
    assert len(recipients) == sent_row["treatment_size"] > 0
    assert len(set(recipients)) == len(recipients), "an e-mail went out twice"
    assert _count(live, messages, messages.c.status == "sent") == len(recipients)

    live.airflow("tasks", "clear", PATIENT, "--task-regex", "^send_emails$", "--yes")
    live.wait(
        "the cleared send task",
        lambda: _finished(live.runs(PATIENT), PATIENT)
        and all(r["state"] == "success" for r in live.runs(PATIENT)),
    )
    assert _sent_emails(live) == recipients, "a cleared send task sent again"

    # Every stage ran exactly once per day, started by its input.
    runs = live.runs()
    ingest = [r for r in runs if r["dag_id"] == "ingest_orders"]
    assert sorted(d for r in ingest for d in r["days"]) == [str(d) for d in DAYS]
    assert {r["trigger"] for r in ingest} == {"schedule"} and {r["state"] for r in ingest} == {"success"}
    for dag_id, asset in (("build_profiles", "marketflow_orders"), ("score_audiences", "marketflow_customer_profiles")):
        built = _days_built(runs, dag_id)
        assert built == Counter({str(d): 1 for d in DAYS}), (dag_id, built)
        assert {r["trigger"] for r in runs if r["dag_id"] == dag_id} == {f"asset {asset}"}
    # Each profile build mapped the shards its history's lines call for, under the scheduler.
    for run in [r for r in _finished(runs, "build_profiles") if r["state"] == "success" and r["built"]]:
        last = dt.date.fromisoformat(max(run["built"]))
        shards = -(-_count(live, orders, orders.c.order_date <= last) // LINES_PER_SHARD)
        assert shards > 1, "the history's lines should call for more shards than the one configured"
        log = live.task_log("build_profiles", run["run_id"], "prepare_days")
        assert f"{shards} customer shards for " in log, log[-3000:]
    _write_timeline(live)

    # A backfill of past days contacts nobody; a paused DAG is refused with the way out.
    result = live.marketflow("backfill", PATIENT, "--from-date", str(DAYS[1]), "--to-date", str(DAYS[2]), "--wait")
    assert f"2 run(s) for days {DAYS[1]}..{DAYS[2]}, at most 1 at a time" in result.stdout
    with warehouse_engine(live.warehouse_url).connect() as conn:
        modes = dict(conn.execute(select(campaign_runs.c.run_day, campaign_runs.c.send_mode).where(
            campaign_runs.c.campaign == "patient_reminder")).all())
    assert {str(day): mode for day, mode in modes.items()} == {
        str(DAYS[1]): "backfill", str(DAYS[2]): "backfill", str(LATE): "live"
    }
    assert _sent_emails(live) == recipients
    live.airflow("dags", "pause", STRICT)
    refused = live.marketflow("backfill", STRICT, "--from-date", str(DAYS[0]), "--to-date", str(DAYS[1]), check=False)
    assert refused.returncode == 2
    assert f"refused: {STRICT} is paused: Airflow would create the backfill's runs and leave them queued" in refused.stdout

    # Two profiles events while scoring is busy (a manual run): Airflow hands the next run only the
    # first one (apache/airflow#56050); every day they name is still scored, and only once.
    seen = {r["run_id"] for r in live.runs("score_audiences")}
    live.airflow("dags", "trigger", "score_audiences", "--conf", json.dumps({"score_from": str(DAYS[0]), "score_to": str(DAYS[0])}))
    (asset,) = live.api("/api/v2/assets?name_pattern=marketflow_customer_profiles")["assets"]
    for days in ([DAYS[1]], [DAYS[2], DAYS[3]]):
        live.api("/api/v2/assets/events", {"asset_id": asset["id"], "extra": event_extra(days)})

    def settled() -> list[dict[str, Any]]:
        new = [r for r in live.runs("score_audiences") if r["run_id"] not in seen]
        triggered = [r for r in new if r["run_type"] == "asset_triggered"]
        return new if triggered and all(r["state"] in ("success", "failed") for r in new) else []

    new = live.wait("the scoring of the two events", settled)
    assert {r["state"] for r in new} == {"success"}, new
    by_events = [r for r in new if r["run_type"] == "asset_triggered"]
    assert _days_built(by_events, "score_audiences") == Counter({str(d): 1 for d in DAYS[1:4]}), by_events
    _write_timeline(live)


def _write_timeline(live: Deployment) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    backend = "sqlite" if live.warehouse_url.startswith("sqlite") else "postgres"
    (ARTIFACTS / f"scheduler-timeline-{backend}.txt").write_text(live.marketflow("runs").stdout)
