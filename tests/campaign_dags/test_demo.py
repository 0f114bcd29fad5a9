"""The demo's campaign side: its local sink catches a forced past-date run, and it counts what landed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from marketflow.campaigns.demo import RUN_CONF, local_channels
from tests.airflow_runner import run_dag, task_states
from tests.campaign_dags.seeded import CAMPAIGN_DAY, QUIET_REGULARS, RUN_FOR, TASKS, run_row, seed


def test_the_demo_channels_catch_a_forced_campaign_run_and_count_it(
    warehouse_connection_env: str, airflow_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AIRFLOW_CONN_SMTP_DEFAULT", "MARKETFLOW_EXPORT_DIR"):
        monkeypatch.delenv(name, raising=False)
    seed(QUIET_REGULARS)
    with local_channels(tmp_path) as channels:
        dag_run = run_dag("campaign__winback", RUN_FOR, conf=RUN_CONF)
        summary, lines = channels.summary(), channels.report_lines()
    assert task_states(dag_run) == {task: "success" for task in TASKS}
    run = run_row(f"winback:{CAMPAIGN_DAY}")
    assert channels.outbox == tmp_path / "outbox"
    assert summary == {
        "e-mails in the outbox": run["treatment_size"],
        "ad-audience files": 2,
        "hashed e-mails in them": 2 * run["treatment_size"],
        "campaign reports": 1,
    }
    assert len(lines) == 1
    assert lines[0].startswith(
        f"winback:{CAMPAIGN_DAY} (live): treatment {run['treatment_size']} customers, 0.0% bought"
    )
    assert f"vs control {run['control_size']} customers" in lines[0]
    assert "AIRFLOW_CONN_SMTP_DEFAULT" not in os.environ and "MARKETFLOW_EXPORT_DIR" not in os.environ
