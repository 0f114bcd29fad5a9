"""The demo over the sample's last weeks (the browser tests' warehouse): it exits 0, every pipeline
DAG's runs succeed in Airflow, and what it prints is what the warehouse and the outbox hold."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from sqlalchemy import Connection, Table, func, select

from marketflow.ingest.sample import SAMPLE_LAST_DAY
from marketflow.warehouse import warehouse_engine
from marketflow.warehouse.schema import campaign_runs, messages, model_registry, orders, quarantine
from tests.airflow_runner import dag_bag
from tests.ui.demo_run import DemoRun

DAILY = {"ingest_orders", "build_profiles"}
_STEP = re.compile(r"^  - (\S+)\s+(\d+) run\(s\) in\s+[\d.]+ s: .*: (\S+)$", re.M)


def _demo_logical_dates(weeks: int) -> list[dt.datetime]:
    """The demo runs day D's DAGs at 06:00 UTC on D + 1, for every day of its window."""
    return [
        dt.datetime.combine(SAMPLE_LAST_DAY - dt.timedelta(days=n - 1), dt.time(6), tzinfo=dt.timezone.utc)
        for n in range(7 * weeks)
    ]


def _count(conn: Connection, table: Table, *where: Any) -> int:
    return int(conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one())


def test_the_demo_runs_every_pipeline_dag_over_its_window_and_exits_0(demo_run: DemoRun) -> None:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    assert demo_run.returncode == 0, demo_run.tail()
    assert f"==> running over its last {demo_run.weeks} week(s) only:" in demo_run.output
    steps = {dag_id: (int(runs), verdict) for dag_id, runs, verdict in _STEP.findall(demo_run.output)}
    expected = {dag_id: (7 * demo_run.weeks if dag_id in DAILY else 1, "ok") for dag_id in dag_bag().dag_ids}
    assert steps == expected, demo_run.tail()
    logical_dates = _demo_logical_dates(demo_run.weeks)
    with create_session() as session:
        rows = session.execute(
            select(DagRun.dag_id, DagRun.state, func.count())
            .where(DagRun.logical_date.in_(logical_dates))
            .group_by(DagRun.dag_id, DagRun.state)
        ).all()
    assert sorted(tuple(row) for row in rows) == sorted((d, "success", runs) for d, (runs, _) in expected.items())


def test_the_demo_prints_what_the_warehouse_and_the_outbox_hold(demo_run: DemoRun) -> None:
    assert demo_run.returncode == 0, demo_run.tail()
    printed = demo_run.section("the warehouse now holds")
    assert len(printed) == 12 and all(n > 0 for n in printed.values()), printed
    campaign_dags = [dag_id for dag_id in dag_bag().dag_ids if dag_id.startswith("campaign__")]
    with warehouse_engine(demo_run.warehouse_url).connect() as conn:
        assert printed["order lines loaded"] == _count(conn, orders)
        assert printed["rows quarantined"] == _count(conn, quarantine)
        assert printed["models registered"] == _count(conn, model_registry)
        assert printed["campaign runs"] == _count(conn, campaign_runs) == len(campaign_dags)
        assert printed["messages"] == _count(conn, messages)
        sent = _count(conn, messages, messages.c.status == "sent")
    campaigns = demo_run.section("campaigns")
    assert campaigns["e-mails in the outbox"] == sent == len(list((demo_run.home / "outbox").glob("*.eml"))) > 0
    assert campaigns["campaign reports"] == printed["campaign runs"]


def test_a_quick_demo_keeps_the_samples_last_weeks_and_refuses_no_weeks() -> None:
    from marketflow.cli import build_parser
    from marketflow.demo import demo_days

    sample = [dt.date(2011, 7, 5), dt.date(2011, 8, 1), SAMPLE_LAST_DAY]
    assert demo_days(sample)[0] == dt.date(2011, 7, 5) and len(demo_days(sample)) == 119
    quick = demo_days(sample, weeks=2)
    assert (quick[0], quick[-1], len(quick)) == (dt.date(2011, 10, 18), SAMPLE_LAST_DAY, 14)
    assert build_parser().parse_args(["demo", "--weeks", "3"]).weeks == 3
    with pytest.raises(SystemExit):
        build_parser().parse_args(["demo", "--weeks", "0"])
