"""The campaign DAGs through real Airflow (`dag.test`), a real SMTP server and both warehouses.

Every run here works on 2011-10-02 (see `seeded`): long past, so without `force_send` it is a backfill.
"""

from __future__ import annotations

import csv
import hashlib
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from marketflow.campaigns.config import load_campaigns
from marketflow.warehouse import schema, warehouse_engine
from tests.airflow_runner import dag_bag, run_dag, task_states
from tests.campaign_dags.seeded import CAMPAIGN_DAY, QUIET_REGULARS, RUN_FOR, TASKS, conf, ledger, run_row, seed
from tests.campaigns.seed import Customer
from tests.campaigns.smtp_server import SmtpSink
from tests.conftest import REPO


def test_one_dag_per_enabled_campaign_file_on_its_schedule() -> None:
    campaigns = [c for c in load_campaigns() if c.enabled]
    bag = dag_bag()
    assert {d for d in bag.dag_ids if d.startswith("campaign__")} == {c.dag_id for c in campaigns}
    assert len(campaigns) >= 3
    for config in campaigns:
        dag = bag.dags[config.dag_id]
        assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"
        assert dag.timetable.expression == config.schedule
        assert not dag.catchup
        assert {"marketflow", "campaigns"} <= set(dag.tags)
        assert [t.task_id for t in dag.topological_sort()] == TASKS
        assert dag.params["dry_run"] is False and dag.params["force_send"] is False
        assert config.description in dag.doc_md and "force_send" in dag.doc_md and "nobody" in dag.doc_md


def test_a_disabled_campaign_makes_no_dag(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.dag_processing.dagbag import DagBag

    shipped = REPO / "include" / "campaigns"
    for name in ("winback", "cross_sell"):
        shutil.copy(shipped / f"{name}.yaml", tmp_path / f"{name}.yaml")
    with (tmp_path / "cross_sell.yaml").open("a") as handle:
        handle.write("enabled: false\n")
    monkeypatch.setenv("MARKETFLOW_CAMPAIGNS_DIR", str(tmp_path))
    bag = DagBag(dag_folder=str(REPO / "dags" / "campaigns.py"))
    assert bag.import_errors == {}
    assert sorted(bag.dag_ids) == ["campaign__winback"]


@pytest.mark.parametrize(
    ("run_conf", "mode"),
    [(conf(), "backfill"), (conf(dry_run=True, force_send=True), "dry_run")],
    ids=["past-date", "dry-run"],
)
def test_a_past_date_or_dry_run_rebuilds_everything_but_sends_nothing_and_says_so(
    run_conf: dict[str, bool],
    mode: str,
    warehouse_connection_env: str,
    airflow_db: Path,
    sink: SmtpSink,
    export_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seed(QUIET_REGULARS)
    dag_run = run_dag("campaign__winback", RUN_FOR, conf=run_conf)
    assert task_states(dag_run) == {task: "skipped" if task == "send_emails" else "success" for task in TASKS}
    assert "NOTHING SENT" in capsys.readouterr().out
    assert sink.message_ids() == []
    run = run_row(f"winback:{CAMPAIGN_DAY}")
    assert (run["send_mode"], run["status"]) == (mode, "reported")
    statuses = ledger(run["run_key"])
    assert len(statuses) == run["treatment_size"] > 0 and set(statuses.values()) == {"rendered"}
    assert run["report"]["measured"] is False
    assert (export_dir / "winback" / CAMPAIGN_DAY.isoformat() / "meta_custom_audience.csv").is_file()


def test_force_send_delivers_every_email_exactly_once_even_when_the_dag_runs_twice(
    warehouse_connection_env: str, airflow_db: Path, sink: SmtpSink, export_dir: Path
) -> None:
    seed(QUIET_REGULARS)
    for _ in range(2):
        dag_run = run_dag("campaign__winback", RUN_FOR, conf=conf(force_send=True))
        assert task_states(dag_run) == {task: "success" for task in TASKS}
        run = run_row(f"winback:{CAMPAIGN_DAY}")
        statuses = ledger(run["run_key"])
        assert sorted(sink.message_ids()) == sorted(statuses)
        assert set(statuses.values()) == {"sent"} and len(statuses) == run["treatment_size"]
    assert run["send_mode"] == "live" and run["control_size"] > 0

    sent_to = {m["To"] for m in sink.messages()}
    folder = export_dir / "winback" / CAMPAIGN_DAY.isoformat()
    for name, header in (("google_ads_customer_match.csv", "Email"), ("meta_custom_audience.csv", "email")):
        rows = list(csv.reader((folder / name).open()))
        assert rows[0] == [header]
        hashes = {row[0] for row in rows[1:]}
        assert hashes == {hashlib.sha256(address.lower().encode()).hexdigest() for address in sent_to}

    report = run["report"]
    assert report["measured"] is True
    assert report["arms"]["treatment"]["members"] == run["treatment_size"]
    assert report["arms"]["control"]["members"] == run["control_size"]
    assert set(report["variants"]) <= {"we_miss_you", "whats_new"}


def test_a_campaign_without_fresh_inputs_is_blocked_contacts_nobody_and_says_why(
    warehouse_connection_env: str, airflow_db: Path, sink: SmtpSink, export_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recent_buyers = [Customer(str(18000 + i), segment="loyal", recency_days=5, frequency=2, propensity=None) for i in range(12)]
    seed(recent_buyers)
    with warehouse_engine().begin() as conn:  # as if neither the recommender nor the scorer had run
        conn.execute(schema.recommendations.delete())
        assert conn.execute(select(func.count()).select_from(schema.audience_scores)).scalar_one() == 0
    dag_run = run_dag("campaign__cross_sell", RUN_FOR, conf=conf(force_send=True))
    states = task_states(dag_run)
    assert (states.pop("plan_run"), states.pop("wait_for_inputs")) == ("success", "failed")
    assert set(states.values()) == {"upstream_failed"}, states
    reason = (
        f"stale or missing inputs for {CAMPAIGN_DAY}: scores: none on or before {CAMPAIGN_DAY} (run score_audiences); "
        f"recommendations: none on or before {CAMPAIGN_DAY} (run train_recommender)"
    )
    assert f"BLOCKED: {reason}" in capsys.readouterr().out
    run = run_row(f"cross_sell:{CAMPAIGN_DAY}")
    assert (run["status"], run["blocked_reason"], run["audience_size"]) == ("blocked", reason, 0)
    assert run["inputs"] == {
        "orders": str(CAMPAIGN_DAY), "profiles": str(CAMPAIGN_DAY), "scores": None, "recommendations": None
    }
    assert sink.messages() == [] and ledger(run["run_key"]) == {}
    assert not (export_dir / "cross_sell").exists()
