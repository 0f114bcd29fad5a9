"""What Airflow did: every DAG run with what started it, the days it worked on, its state and times.

Read from Airflow's metadata database; the demo prints it and the scheduler test asserts on it.
A run's days follow `marketflow.days`: the day of its data interval, or the days its triggering
asset events name; the days it built are those its own published asset events name (a
data-triggered run may build more than it was triggered for, or nothing, see `days.event_work`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from sqlalchemy import Engine, create_engine

from marketflow.days import event_days, interval_day

FINISHED = ("success", "failed")


@dataclass(frozen=True)
class RunRecord:
    """One DAG run as the UI's grid shows it, with the days it worked on."""

    dag_id: str
    run_id: str
    run_type: str
    trigger: str
    state: str
    days: tuple[dt.date, ...]
    started: dt.datetime | None
    ended: dt.datetime | None
    built: tuple[dt.date, ...] = ()

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    @property
    def seconds(self) -> float | None:
        if self.started is None or self.ended is None:
            return None
        return (self.ended - self.started).total_seconds()

    def as_dict(self) -> dict[str, object]:
        return {
            "dag_id": self.dag_id,
            "run_id": self.run_id,
            "run_type": self.run_type,
            "trigger": self.trigger,
            "state": self.state,
            "days": [d.isoformat() for d in self.days],
            "built": [d.isoformat() for d in self.built],
            "started": self.started.isoformat() if self.started else None,
            "ended": self.ended.isoformat() if self.ended else None,
        }

    def line(self) -> str:
        """`dag_id  days  state  seconds  (trigger)`, for logs and the demo's output: the days it built
        when it published any, else the days it was asked for (and, for a data-triggered run that
        succeeded without publishing, that another run had built them)."""
        days = ", ".join(d.isoformat() for d in self.built or self.days) or "-"
        took = f"{self.seconds:6.1f} s" if self.seconds is not None else "      -"
        answered = self.run_type == "asset_triggered" and self.state == "success" and not self.built
        trigger = f"{self.trigger}; already built by another run" if answered else self.trigger
        return f"{self.dag_id:<28} {days:<24} {self.state:<8} {took}  ({trigger})"


def _trigger(run_type: str, assets: list[str]) -> str:
    if run_type == "asset_triggered":
        return "asset " + ", ".join(sorted(set(assets)))
    return {"scheduled": "schedule"}.get(run_type, run_type)


@lru_cache(maxsize=4)
def _metadata_engine(url: str) -> Engine:
    """An engine on another deployment's metadata database (SQLite: waits out its writers' locks)."""
    return create_engine(url, connect_args={"timeout": 30} if url.startswith("sqlite") else {})


def dag_runs(dag_ids: Iterable[str] | None = None, metadata_url: str | None = None) -> list[RunRecord]:
    """Every run of `dag_ids` (default: all), oldest first, from this process's Airflow metadata
    database or the one at `metadata_url` (another deployment's, e.g. one a test watches)."""
    from airflow.models.asset import AssetEvent
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from sqlalchemy import select
    from sqlalchemy.orm import Session, configure_mappers, selectinload

    configure_mappers()
    stmt = select(DagRun).options(selectinload(DagRun.consumed_asset_events)).order_by(DagRun.id)
    published = select(AssetEvent).where(AssetEvent.source_run_id.is_not(None))
    if dag_ids is not None:
        stmt = stmt.where(DagRun.dag_id.in_(list(dag_ids)))
        published = published.where(AssetEvent.source_dag_id.in_(list(dag_ids)))
    records = []
    with create_session() if metadata_url is None else Session(_metadata_engine(metadata_url)) as session:
        extras_by_run: dict[tuple[str, str], list[dict]] = {}
        for event in session.scalars(published):
            extras_by_run.setdefault((event.source_dag_id, event.source_run_id), []).append(dict(event.extra or {}))
        for run in session.scalars(stmt):
            events = list(run.consumed_asset_events)
            run_type = str(run.run_type.value if hasattr(run.run_type, "value") else run.run_type)
            if events:
                days = tuple(event_days([dict(e.extra or {}) for e in events], "triggering asset"))
            elif run.data_interval_end is not None:
                days = (interval_day(run.data_interval_end),)
            else:
                days = ()
            records.append(
                RunRecord(
                    dag_id=run.dag_id,
                    run_id=run.run_id,
                    run_type=run_type,
                    trigger=_trigger(run_type, [e.asset.name for e in events]),
                    state=str(run.state.value if hasattr(run.state, "value") else run.state),
                    days=days,
                    started=run.start_date,
                    ended=run.end_date,
                    built=tuple(event_days(extras_by_run.get((run.dag_id, run.run_id), []), "published")),
                )
            )
    return records


def task_states(runs: Iterable[RunRecord]) -> dict[tuple[str, str, str], str]:
    """(dag_id, run_id, task_id) -> state of every task instance of `runs` ("none" before it is scheduled)."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select, tuple_

    keys = [(run.dag_id, run.run_id) for run in runs]
    if not keys:
        return {}
    stmt = select(TaskInstance.dag_id, TaskInstance.run_id, TaskInstance.task_id, TaskInstance.state).where(
        tuple_(TaskInstance.dag_id, TaskInstance.run_id).in_(keys)
    )
    with create_session() as session:
        return {(dag_id, run_id, task_id): str(state or "none") for dag_id, run_id, task_id, state in session.execute(stmt)}


def set_paused(dag_ids: Iterable[str], paused: bool) -> None:
    """Pause or unpause DAGs, as `airflow dags pause|unpause` does."""
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session
    from sqlalchemy import update

    with create_session() as session:
        session.execute(update(DagModel).where(DagModel.dag_id.in_(list(dag_ids))).values(is_paused=paused))


def known_dags() -> set[str]:
    """The DAG ids the dag-processor has registered (and not marked stale)."""
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        return set(session.scalars(select(DagModel.dag_id).where(DagModel.is_stale.is_(False))))
