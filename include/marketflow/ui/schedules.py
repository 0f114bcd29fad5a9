"""When each campaign runs next and how its last run ended, from Airflow's metadata database.

Campaign DAGs are named `campaign__<campaign>` (one per campaign file), so a campaign shows on the
page as soon as its DAG is parsed, before its first run writes anything to the warehouse. A run is
shown by its day D (`marketflow.days`), as the warehouse keys it, never by Airflow's logical date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

CAMPAIGN_DAG_PREFIX = "campaign__"


@dataclass(frozen=True)
class DagSchedule:
    """A DAG's next run (when the scheduler will start it) and its newest run's outcome."""

    dag_id: str
    is_paused: bool
    next_run_at: dt.datetime | None
    last_run_day: dt.date | None
    last_run_state: str | None


def campaign_dag_id(campaign: str) -> str:
    return f"{CAMPAIGN_DAG_PREFIX}{campaign}"


def campaign_schedules() -> dict[str, DagSchedule]:
    """Campaign name -> schedule of its DAG, for every campaign DAG Airflow currently knows."""
    from airflow.models.dag import DagModel

    from marketflow.days import interval_day
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import func, select

    with create_session() as session:
        dags = session.execute(
            select(DagModel.dag_id, DagModel.is_paused, DagModel.next_dagrun_create_after).where(
                DagModel.dag_id.startswith(CAMPAIGN_DAG_PREFIX, autoescape=True),
                DagModel.is_stale.is_(False),
            )
        ).all()
        # The run of the latest day, as the warehouse orders runs (a backfill started later for an
        # earlier day is not the "last run").
        newest = (
            select(DagRun.dag_id, func.max(DagRun.data_interval_end).label("interval_end"))
            .where(DagRun.dag_id.in_([row.dag_id for row in dags]))
            .group_by(DagRun.dag_id)
            .subquery()
        )
        last_runs = {
            row.dag_id: row
            for row in session.execute(
                select(DagRun.dag_id, DagRun.data_interval_end, DagRun._state.label("state"))
                .join(
                    newest,
                    (newest.c.dag_id == DagRun.dag_id) & (newest.c.interval_end == DagRun.data_interval_end),
                )
                .order_by(DagRun.run_after)
            )
        }
    schedules = {}
    for row in dags:
        last = last_runs.get(row.dag_id)
        schedules[row.dag_id.removeprefix(CAMPAIGN_DAG_PREFIX)] = DagSchedule(
            dag_id=row.dag_id,
            is_paused=bool(row.is_paused),
            next_run_at=row.next_dagrun_create_after,
            last_run_day=interval_day(last.data_interval_end) if last and last.data_interval_end else None,
            last_run_state=str(last.state) if last and last.state else None,
        )
    return schedules
