"""A campaign's next run and last run state come from Airflow's metadata, as soon as its DAG exists."""

from __future__ import annotations

import datetime as dt
import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from marketflow.ui.schedules import campaign_schedules

PROBE_DAG = textwrap.dedent(
    '''
    import datetime as dt
    from airflow.sdk import dag, task
    from airflow.timetables.interval import CronDataIntervalTimetable

    @dag(dag_id="campaign__ui_probe", schedule=CronDataIntervalTimetable("0 6 * * 1", timezone="UTC"),
         start_date=dt.datetime(2011, 9, 5, tzinfo=dt.timezone.utc), catchup=False)
    def probe():
        @task
        def select_audience():
            return 0
        select_audience()

    probe()
    '''
)


def _set(dag_id: str, **values: Any) -> None:
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session
    from sqlalchemy import update

    with create_session() as session:
        session.execute(update(DagModel).where(DagModel.dag_id == dag_id).values(**values))


@pytest.fixture(scope="module")
def probe_campaign_dag(airflow_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A campaign DAG run once through real Airflow (`dag.test`) from its own DAG bundle; marked stale
    afterwards, as Airflow does when a DAG file goes away, so the shared metadata database forgets it."""
    from airflow.dag_processing.dagbag import DagBag

    folder = tmp_path_factory.mktemp("probe_dags")
    (folder / "campaign_probe.py").write_text(PROBE_DAG)
    local = "airflow.dag_processing.bundles.local.LocalDagBundle"
    bundles = [
        {"name": "ui-probe", "classpath": local, "kwargs": {"path": str(folder)}},
        {"name": "dags-folder", "classpath": local, "kwargs": {}},
    ]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_CONFIG_LIST", json.dumps(bundles))
        bag = DagBag(dag_folder=str(folder))
        assert not bag.import_errors, bag.import_errors
        run = bag.dags["campaign__ui_probe"].test(logical_date=dt.datetime(2011, 9, 5, 6, tzinfo=dt.timezone.utc))
        assert str(run.state) == "success"
        yield "campaign__ui_probe"
        _set("campaign__ui_probe", is_stale=True)


def _row(client: Any, token: str, campaign: str) -> str:
    listing = client.get("/", headers={"Authorization": f"Bearer {token}"}).text
    return listing.split(f'<tr data-campaign="{campaign}">')[1].split("</tr>")[0]


def test_a_paused_campaign_says_so_and_shows_its_last_run(probe_campaign_dag: str, client: Any, token_for: Any) -> None:
    _set(probe_campaign_dag, is_paused=True)
    schedule = campaign_schedules()["ui_probe"]
    assert (schedule.dag_id, schedule.is_paused, schedule.last_run_state) == (probe_campaign_dag, True, "success")
    # the run due Monday 2011-09-05 06:00 works on the Sunday before: the day the warehouse keys it by
    assert schedule.last_run_day == dt.date(2011, 9, 4)
    row = _row(client, token_for("viewer"), "ui_probe")
    assert "state-paused" in row
    assert "2011-09-04 " in row and "state-success" in row and "06:00" not in row


def test_an_active_campaign_shows_when_it_runs_next(probe_campaign_dag: str, client: Any, token_for: Any) -> None:
    _set(probe_campaign_dag, is_paused=False)
    next_run = campaign_schedules()["ui_probe"].next_run_at
    assert next_run is not None and next_run.weekday() == 0 and next_run.hour == 6  # the DAG's cron
    assert next_run.strftime("%Y-%m-%d %H:%M UTC") in _row(client, token_for("viewer"), "ui_probe")


def test_a_campaign_without_runs_yet_has_honest_empty_states(
    probe_campaign_dag: str, client: Any, token_for: Any
) -> None:
    detail = client.get("/campaigns/ui_probe", headers={"Authorization": f"Bearer {token_for('viewer')}"}).text
    assert 'data-testid="empty-runs"' in detail and 'data-testid="empty-messages"' in detail
    assert "campaign__ui_probe" in detail
