"""Run a DAG from `dags/` through real Airflow (DagBag + `dag.test`) inside the test process.

`dag.test` creates a real DagRun in the metadata database and runs every task in order, without a
scheduler: the same code path as `airflow dags test`, at ~0.4 s a run after the first.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any

from tests.conftest import REPO


@lru_cache(maxsize=1)
def dag_bag() -> Any:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert not bag.import_errors, bag.import_errors
    return bag


def run_dag(dag_id: str, day: dt.date, conf: dict[str, Any] | None = None) -> Any:
    """Run `dag_id` manually at midnight UTC of `day`; returns the finished DagRun.

    A manual run's data interval is the last complete one before `day`: for the daily
    `CronDataIntervalTimetable` DAGs that is [day - 1, day), so pass `partition + 1 day`.
    """
    from airflow.utils.state import DagRunState

    dag = dag_bag().dags[dag_id]
    logical = dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)
    dag_run = dag.test(logical_date=logical, run_conf=conf)
    assert dag_run.state in (DagRunState.SUCCESS, DagRunState.FAILED), dag_run.state
    return dag_run


def task_states(dag_run: Any) -> dict[str, str]:
    """task_id (with map index when mapped) -> final state, for asserting a run's shape."""
    from airflow.utils.session import create_session

    with create_session() as session:
        tis = dag_run.get_task_instances(session=session)
        return {
            (ti.task_id if ti.map_index < 0 else f"{ti.task_id}[{ti.map_index}]"): str(ti.state)
            for ti in tis
        }
