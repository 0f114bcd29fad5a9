"""`marketflow backfill`: Airflow's `backfill create`, the way this pipeline needs it, in days.

- A paused DAG is refused with the way out: Airflow would create the runs and leave them queued
  without a word (apache/airflow#60768).
- A data-triggered DAG (profiles, scores) is refused with what to backfill instead.
- The range is in days D (`marketflow.days`) and becomes the logical dates Airflow wants; a weekly
  DAG's runs are those whose day falls in the range.
- The backfill gets the DAG's own `max_active_runs` (Airflow's default of 10 would load ingest days
  side by side, though each day reads the days before it).
- Without a live scheduler the runs would wait: the command says so.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
import time
from dataclasses import dataclass

from marketflow.days import interval_day

DATA_DRIVEN = {
    "build_profiles": "it runs when ingest_orders publishes a day: backfill ingest_orders, or rebuild a range "
    "with `marketflow profiles build --date A --to B`",
    "score_audiences": "it runs when build_profiles publishes a day: backfill ingest_orders, or trigger it with "
    "params score_from / score_to",
}
REPROCESS = ("none", "failed", "completed")


class BackfillRefused(RuntimeError):
    """The backfill would not run as asked; the message says why and what to do."""


@dataclass(frozen=True)
class BackfillPlan:
    dag_id: str
    days: list[dt.date]
    logical_dates: list[dt.datetime]
    max_active_runs: int
    reprocess: str

    def command(self) -> list[str]:
        """The `airflow backfill create` command line that makes these runs."""
        return [
            sys.executable, "-m", "airflow", "backfill", "create",
            "--dag-id", self.dag_id,
            "--from-date", self.logical_dates[0].isoformat(),
            "--to-date", self.logical_dates[-1].isoformat(),
            "--max-active-runs", str(self.max_active_runs),
            "--reprocess-behavior", self.reprocess,
        ]  # fmt: skip


def plan_backfill(dag_id: str, first: dt.date, last: dt.date, reprocess: str = "none") -> BackfillPlan:
    """The runs of `dag_id` whose day D is in `first`..`last`, or BackfillRefused saying why not."""
    from airflow.models.dag import DagModel
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    if last < first:
        raise BackfillRefused(f"--to-date {last} is before --from-date {first}")
    if reprocess not in REPROCESS:
        raise BackfillRefused(f"--reprocess-behavior must be one of {REPROCESS}, not {reprocess!r}")
    if dag_id in DATA_DRIVEN:
        raise BackfillRefused(f"{dag_id} has no schedule to backfill: {DATA_DRIVEN[dag_id]}")
    with create_session() as session:
        model = session.scalar(select(DagModel).where(DagModel.dag_id == dag_id))
        if model is None:
            raise BackfillRefused(f"no DAG {dag_id!r} in Airflow (is the name right, has the dag-processor parsed it?)")
        if model.is_paused:
            raise BackfillRefused(
                f"{dag_id} is paused: Airflow would create the backfill's runs and leave them queued. "
                f"Unpause it (`airflow dags unpause {dag_id}` or the toggle in the UI), then run this again"
            )
        dag = SerializedDagModel.get_dag(dag_id, session=session)
    if dag is None or not dag.timetable.periodic:
        raise BackfillRefused(f"{dag_id} has no periodic schedule to backfill")
    if dag.start_date is not None and first < dag.start_date.date():
        raise BackfillRefused(
            f"{first} is before {dag_id}'s start ({dag.start_date.date()}, from MARKETFLOW_START_DATE): Airflow runs "
            "nothing before it; set MARKETFLOW_START_DATE to the first day to load and let the dag-processor re-parse"
        )
    start = dt.datetime.combine(first - dt.timedelta(days=40), dt.time(), tzinfo=dt.timezone.utc)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tzinfo=dt.timezone.utc)
    infos = [
        info
        for info in dag.iter_dagrun_infos_between(start, end)
        if first <= interval_day(info.data_interval.end) <= last
    ]
    if not infos:
        raise BackfillRefused(f"no run of {dag_id} ({dag.timetable.summary}) works on a day in {first}..{last}")
    return BackfillPlan(
        dag_id=dag_id,
        days=[interval_day(info.data_interval.end) for info in infos],
        logical_dates=[info.logical_date for info in infos],
        max_active_runs=int(dag.max_active_runs or 1),
        reprocess=reprocess,
    )


def scheduler_alive() -> bool:
    """Whether a scheduler has heartbeaten recently (without one, backfill runs wait)."""
    from airflow.jobs.job import most_recent_job

    job = most_recent_job("SchedulerJob")
    return job is not None and job.is_alive()


#: Tries of `airflow backfill create` while a SQLite metadata database is locked by another component.
LOCKED_TRIES = 4


def create_backfill(plan: BackfillPlan) -> str:
    """Run `airflow backfill create`; returns its output, raises BackfillRefused with it on failure.

    On a SQLite metadata database (the demo, `make ui`) the command can fail with "database is
    locked" while the scheduler writes; Airflow creates a backfill in one transaction, so it is
    tried again (up to `LOCKED_TRIES` times, 2, 4, 8 s apart)."""
    attempt = 1
    while True:
        result = subprocess.run(plan.command(), capture_output=True, text=True)
        output = (result.stdout + result.stderr).strip()
        if result.returncode == 0:
            return output
        if "database is locked" not in output or attempt == LOCKED_TRIES:
            raise BackfillRefused(f"airflow backfill create failed ({result.returncode}): {output[-2000:]}")
        time.sleep(2**attempt)
        attempt += 1
