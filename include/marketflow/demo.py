"""The demo: run the pipeline's DAGs through real Airflow over the shipped sample, then report.

Each DAG run goes through `dag.test` (the engine behind `airflow dags test`): real DagRuns and task
instances in the metadata database, visible afterwards in the web UI. Stages whose DAG does not exist
yet are reported as such, so the demo always runs whatever the pipeline has.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from marketflow.campaigns.demo import RUN_CONF, local_channels
from marketflow.warehouse import schema, warehouse_engine


@dataclass(frozen=True)
class Step:
    """One DAG and the logical dates the demo runs it for."""

    dag_id: str
    what: str
    every_day: bool  # True: every sample date; False: only the last one


PIPELINE = [
    Step("ingest_orders", "ingest and validate the day's exports", every_day=True),
    Step("build_profiles", "build customer profiles as of the day", every_day=True),
    Step("train_recommender", "train, evaluate and promote the recommender", every_day=False),
    Step("score_audiences", "score purchase propensity", every_day=False),
]
CAMPAIGN_PREFIX = "campaign__"


@contextlib.contextmanager
def _output_to(log_path: Path) -> Iterator[None]:
    """Send Airflow's verbose task output to a log file; the terminal keeps one line per run."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log_path, "a") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _run(dag: Any, day: dt.date, log_path: Path) -> str:
    """Run `dag` as on the morning after `day` closed: a manual run covers the last complete data
    interval before its time, so at 06:00 the next day every daily DAG (00:00 ingest and profiles,
    02:00 scoring) works on the partition `day`, and the weekly ones on the week that ends with it."""
    next_day = day + dt.timedelta(days=1)
    logical = dt.datetime(next_day.year, next_day.month, next_day.day, 6, tzinfo=dt.timezone.utc)
    # Campaign runs are forced to send: the sample's dates are in 2011, which would otherwise make
    # every campaign run a backfill that contacts nobody.
    conf = RUN_CONF if dag.dag_id.startswith(CAMPAIGN_PREFIX) else None
    with _output_to(log_path):
        dag_run = dag.test(logical_date=logical, run_conf=conf)
    return str(dag_run.state)


def run_pipeline(dags_folder: Path, days: list[dt.date], log_path: Path) -> list[tuple[str, dt.date, str]]:
    """Run every existing pipeline DAG over `days`; returns (dag_id, day, state) per run."""
    from airflow.dag_processing.dagbag import DagBag

    with _output_to(log_path):
        bag = DagBag(dag_folder=str(dags_folder))
    if bag.import_errors:
        raise RuntimeError(f"DAG files failed to import: {bag.import_errors}")
    campaigns = sorted(d for d in bag.dag_ids if d.startswith(CAMPAIGN_PREFIX))
    steps = PIPELINE + [Step(c, "run the campaign", every_day=False) for c in campaigns]
    results: list[tuple[str, dt.date, str]] = []
    for step in steps:
        if step.dag_id not in bag.dags:
            print(f"  - {step.dag_id:<28} not built yet: skipped")
            continue
        started = time.perf_counter()
        run_days = days if step.every_day else days[-1:]
        states = [(step.dag_id, day, _run(bag.dags[step.dag_id], day, log_path)) for day in run_days]
        results += states
        failed = [d.isoformat() for _, d, s in states if s != "success"]
        verdict = "ok" if not failed else f"FAILED on {', '.join(failed)}"
        print(
            f"  - {step.dag_id:<28} {len(states):>3} run(s) in {time.perf_counter() - started:5.1f} s: "
            f"{step.what}: {verdict}"
        )
    return results


def warehouse_summary() -> dict[str, int]:
    """Row counts a user cares about after a run."""
    counts = {
        "order lines loaded": schema.orders,
        "rows quarantined": schema.quarantine,
        "days ingested": schema.ingest_days,
        "products": schema.products,
        "customers": schema.customers,
        "customer profiles (all days)": schema.customer_profiles,
        "models registered": schema.model_registry,
        "recommendations": schema.recommendations,
        "audience scores": schema.audience_scores,
        "campaign runs": schema.campaign_runs,
        "audience members": schema.audience_members,
        "messages": schema.messages,
    }
    with warehouse_engine().connect() as conn:
        return {label: conn.execute(select(func.count()).select_from(t)).scalar_one() for label, t in counts.items()}


def demo_days(sample_days: list[dt.date], weeks: int | None = None) -> list[dt.date]:
    """Every calendar day of the sample, closed ones included (the ingest DAG records those as "no
    trading"); with `weeks`, only the last `weeks` * 7 of them, so a quick run still ends on the
    sample's last day, where the models and campaigns run."""
    first, last = min(sample_days), max(sample_days)
    days = [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]
    return days if weeks is None else days[-7 * weeks :]


def main(weeks: int | None = None) -> int:
    """Unpack the sample into the landing folder, run every pipeline DAG over it (or over its last
    `weeks` weeks), print what happened."""
    from airflow.configuration import conf

    from marketflow.ingest.sample import unpack_sample
    from marketflow.ingest.settings import IngestSettings

    airflow_home = Path(os.environ.get("AIRFLOW_HOME", Path.home() / "airflow"))
    landing = IngestSettings.from_env().landing_url
    sample_days = unpack_sample(landing)
    days = demo_days(sample_days, weeks)
    log_path = airflow_home / "demo.log"
    print(f"==> sample: {len(sample_days)} daily exports, {sample_days[0]}..{sample_days[-1]}, unpacked into {landing}")
    if weeks is not None:
        print(f"==> running over its last {weeks} week(s) only: {days[0]}..{days[-1]}")
    print(f"==> running the pipeline through Airflow (task logs: {log_path})")
    with local_channels(airflow_home) as channels:
        results = run_pipeline(Path(conf.get("core", "dags_folder")), days, log_path)
        print(f"==> campaigns (local SMTP sink; open the .eml files in {channels.outbox}):")
        for label, count in channels.summary().items():
            print(f"  {label:<32} {count:>9,}")
        for line in channels.report_lines():
            print(f"  {line}")

    print("==> the warehouse now holds:")
    for label, count in warehouse_summary().items():
        print(f"  {label:<32} {count:>9,}")
    print(
        "==> open the web UI with `make ui`, then http://127.0.0.1:8080 "
        "(login admin/admin; the Campaigns page is in the menu)"
    )
    failed = [(dag_id, day) for dag_id, day, state in results if state != "success"]
    if failed:
        print(f"==> {len(failed)} DAG run(s) failed; see {log_path}: {failed[:5]}")
        return 1
    return 0
