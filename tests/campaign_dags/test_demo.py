"""The demo's campaign side: its local sink catches a campaign run's e-mails through the settings the
demo writes, and it counts what landed, blocked runs included."""

from __future__ import annotations

from pathlib import Path

import pytest

from marketflow.campaigns.demo import LocalChannels, serve
from marketflow.warehouse import schema, warehouse_engine
from tests.airflow_runner import run_dag, task_states
from tests.campaign_dags.seeded import CAMPAIGN_DAY, QUIET_REGULARS, RUN_FOR, TASKS, conf, run_row, seed
from tests.ui.live_airflow import free_port


def test_the_demo_channels_catch_a_campaign_run_and_count_it(
    warehouse_connection_env: str, airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    channels = LocalChannels.under(tmp_path, free_port())
    for name, value in channels.environment().items():
        monkeypatch.setenv(name, value)
    assert LocalChannels.from_environment() == channels
    seed(QUIET_REGULARS)
    with serve(channels):
        dag_run = run_dag("campaign__winback", RUN_FOR, conf=conf(force_send=True))
        with warehouse_engine().begin() as conn:
            conn.execute(schema.audience_scores.delete())
        blocked = run_dag("campaign__cross_sell", RUN_FOR, conf=conf(force_send=True))
        summary, lines = channels.summary(), channels.report_lines()
    assert task_states(dag_run) == {task: "success" for task in TASKS}
    assert task_states(blocked)["wait_for_inputs"] == "failed"
    run = run_row(f"winback:{CAMPAIGN_DAY}")
    assert channels.outbox == tmp_path / "outbox"
    assert summary == {
        "e-mails in the outbox": run["treatment_size"],
        "ad-audience files": 2,
        "hashed e-mails in them": 2 * run["treatment_size"],
        "campaign reports": 1,
    }
    assert len(lines) == 2
    assert lines[0].startswith(f"cross_sell:{CAMPAIGN_DAY} (live): BLOCKED, nobody contacted: stale or missing inputs")
    assert lines[1].startswith(
        f"winback:{CAMPAIGN_DAY} (live): treatment {run['treatment_size']} customers, 0.0% bought"
    )
    assert f"vs control {run['control_size']} customers" in lines[1]


def test_outside_a_demo_deployment_there_are_no_local_channels() -> None:
    assert LocalChannels.from_environment({}) is None
