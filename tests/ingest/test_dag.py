"""The ingest_orders DAG through real Airflow: partitions, trading calendar, sensor, asset events."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
from pathlib import Path

import pytest
from sqlalchemy import func, select

from marketflow.warehouse import schema, warehouse_engine
from tests.airflow_runner import dag_bag, task_states
from tests.conftest import copy_days
from tests.ingest.airflow_backfill import DAG_ID, run_ingest
from tests.ingest.test_corpus import CORPUS

TRADING_DAY = dt.date(2011, 3, 1)  # a Tuesday
SATURDAY = dt.date(2011, 3, 5)


def _ingest_days(url: str) -> dict[tuple[dt.date, str], tuple[str, int, str | None]]:
    days = schema.ingest_days
    with warehouse_engine(url).connect() as conn:
        rows = conn.execute(
            select(days.c.file_date, days.c.file_kind, days.c.status, days.c.rows_loaded, days.c.detail)
        )
        return {(r.file_date, r.file_kind): (r.status, r.rows_loaded, r.detail) for r in rows}


def test_scheduled_runs_cover_one_day_from_their_logical_date_since_the_first_day(airflow_db: Path) -> None:
    from airflow.timetables.base import DataInterval, TimeRestriction
    from airflow.timetables.interval import CronDataIntervalTimetable

    dag = dag_bag().dags[DAG_ID]
    assert isinstance(dag.timetable, CronDataIntervalTimetable) and dag.catchup is True
    restriction = TimeRestriction(earliest=dag.start_date, latest=None, catchup=True)
    first = dag.timetable.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)
    second = dag.timetable.next_dagrun_info(
        last_automated_data_interval=first.data_interval, restriction=restriction
    )
    midnight = dt.datetime(2010, 12, 1, tzinfo=dt.timezone.utc)
    assert first.logical_date == first.data_interval.start == midnight
    assert first.data_interval == DataInterval(midnight, midnight + dt.timedelta(days=1))
    assert second.data_interval.start == first.data_interval.end


def test_a_run_ingests_the_day_its_data_interval_starts(
    airflow_db: Path, warehouse_connection_env: str, landing_env: Path, real_landing: Path
) -> None:
    copy_days(real_landing, landing_env, [TRADING_DAY, TRADING_DAY + dt.timedelta(days=1)])
    run = run_ingest(TRADING_DAY)
    assert run.data_interval_start.date() == TRADING_DAY
    assert {day for day, _ in _ingest_days(warehouse_connection_env)} == {TRADING_DAY}


def test_a_trading_day_loads_both_exports_and_emits_the_orders_asset_with_its_partition(
    airflow_db: Path, warehouse_connection_env: str, landing_env: Path, real_landing: Path
) -> None:
    copy_days(real_landing, landing_env, [TRADING_DAY])
    run = run_ingest(TRADING_DAY)
    assert task_states(run) == {
        "check_trading_day": "success",
        "wait_for_export": "success",
        "apply_erasure_requests": "success",
        "validate_and_load_orders": "success",
        "load_crm_export": "success",
        "publish_orders": "success",
        "enforce_retention": "success",
    }
    logged = _ingest_days(warehouse_connection_env)
    assert logged[(TRADING_DAY, "orders")][0] == "loaded"
    assert logged[(TRADING_DAY, "customers")][0] == "loaded"
    events = _asset_events(run)
    assert [event["partition_date"] for event in events] == [TRADING_DAY.isoformat()]
    assert events[0]["rows_loaded"] == logged[(TRADING_DAY, "orders")][1]
    with warehouse_engine(warehouse_connection_env).connect() as conn:
        retention = conn.execute(select(schema.retention_runs.c.target).where(schema.retention_runs.c.run_day == TRADING_DAY))
        assert set(retention.scalars()) == {"landing files", "quarantined lines", "message bodies", "outbox e-mails",
                                            "engagement events", "log files"}


def test_a_closed_day_without_export_is_recorded_as_no_trading_and_published_without_orders(
    airflow_db: Path, warehouse_connection_env: str, landing_env: Path
) -> None:
    run = run_ingest(SATURDAY)
    states = task_states(run)
    assert (states.pop("check_trading_day"), states.pop("publish_orders")) == ("success", "success")
    assert states.pop("enforce_retention") == "success"
    assert states.pop("apply_erasure_requests") == "success", "erasure requests are applied on closed days too"
    assert set(states.values()) == {"skipped"}, states
    logged = _ingest_days(warehouse_connection_env)
    assert logged[(SATURDAY, "orders")] == ("no_trading", 0, "shop closed: Saturday")
    assert logged[(SATURDAY, "customers")][0] == "no_trading"
    assert _asset_events(run) == [
        {"partition_date": str(SATURDAY), "partition_dates": [str(SATURDAY)], "rows_loaded": 0,
         "rows_quarantined": 0, "no_trading": "shop closed: Saturday"}
    ]


SQLITE_ONLY = pytest.mark.parametrize("empty_warehouse_url", ["sqlite"], indirect=True)


@SQLITE_ONLY
def test_a_missing_export_long_past_its_due_time_fails_at_once_naming_the_files_and_the_newest_export(
    airflow_db: Path, warehouse_connection_env: str, landing_env: Path, real_landing: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    sensor = dag_bag().dags[DAG_ID].get_task("wait_for_export")
    assert (sensor.mode, sensor.poke_interval, sensor.timeout) == ("reschedule", 1, 3), (
        "the DAGs were parsed before tests/ingest/conftest.py shortened the sensor's timings"
    )
    copy_days(real_landing, landing_env, [TRADING_DAY - dt.timedelta(days=1)])
    run = run_ingest(TRADING_DAY)
    states = task_states(run)
    assert states["check_trading_day"] == "success"
    assert states["wait_for_export"] == "failed"
    assert (states["validate_and_load_orders"], states["publish_orders"]) == ("upstream_failed", "upstream_failed")
    assert states["apply_erasure_requests"] == "success", "a late export does not hold erasure requests back"
    task_log = capsys.readouterr().out
    assert "AirflowFailException: export for trading day 2011-03-01 was due at 2011-03-02 00:00 UTC and is" in task_log
    assert (
        f"the newest export present is 2011-02-28.csv: expected {landing_env}/{TRADING_DAY}.csv, "
        f"{landing_env}/customers-{TRADING_DAY}.csv"
    ) in task_log
    assert _asset_events(run) == []
    assert _ingest_days(warehouse_connection_env) == {}


@SQLITE_ONLY
def test_too_many_bad_rows_fail_the_task_at_once_and_nothing_is_published(
    airflow_db: Path,
    warehouse_connection_env: str,
    landing_env: Path,
    real_landing: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    copy_days(real_landing, landing_env, [TRADING_DAY])
    shutil.copyfile(CORPUS / "too_many_bad_rows.csv", landing_env / f"{TRADING_DAY}.csv")
    run = run_ingest(TRADING_DAY)
    states = task_states(run)
    assert (states["validate_and_load_orders"], states["load_crm_export"], states["publish_orders"]) == (
        "failed", "success", "upstream_failed"
    )
    task_log = capsys.readouterr().out
    assert f"AirflowFailException: {landing_env}/{TRADING_DAY}.csv: not published: 4 of 8 rows" in task_log
    assert "Failing expectations: quantity_is_whole_number (1 rows)" in task_log
    assert _ingest_days(warehouse_connection_env)[(TRADING_DAY, "orders")][:2] == ("failed", 0)
    assert _asset_events(run) == []


def _asset_events(run) -> list[dict]:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select as sa_select

    with create_session() as session:
        rows = session.execute(
            sa_select(AssetEvent.extra)
            .join(AssetModel, AssetModel.id == AssetEvent.asset_id)
            .where(AssetModel.name == "marketflow_orders", AssetEvent.source_run_id == run.run_id)
        ).scalars()
        return [dict(extra) for extra in rows]


def _first_customer(export: Path) -> str:
    with export.open(newline="", encoding="utf-8") as handle:
        return next(row["CustomerID"] for row in csv.DictReader(handle) if row["CustomerID"]).removesuffix(".0")


def test_the_days_erasure_requests_are_applied_before_its_exports_load(
    airflow_db: Path, warehouse_connection_env: str, landing_env: Path, real_landing: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MARKETFLOW_PRIVACY_KEY", "k" * 40)
    copy_days(real_landing, landing_env, [TRADING_DAY])
    customer = _first_customer(landing_env / f"{TRADING_DAY}.csv")
    (landing_env / f"erasure-requests-{TRADING_DAY}.csv").write_text(
        f"customer_id,requested_at,reference\n{customer},{TRADING_DAY}T09:12:00,ticket 4711\n"
    )
    run = run_ingest(TRADING_DAY)
    assert run.state == "success", task_states(run)
    o, e = schema.orders.c, schema.erasures.c
    with warehouse_engine(warehouse_connection_env).connect() as conn:
        assert conn.execute(select(func.count()).where(o.customer_id == customer)).scalar_one() == 0
        assert conn.execute(select(func.count()).where(o.order_date == TRADING_DAY)).scalar_one() > 0
        assert conn.execute(select(func.count()).where(schema.customers.c.customer_id == customer)).scalar_one() == 0
        sources = conn.execute(select(e.source)).scalars().all()
    assert sources == [f"erasure-requests-{TRADING_DAY}.csv line 2: ticket 4711 ({TRADING_DAY}T09:12:00)"]


@SQLITE_ONLY
def test_a_malformed_erasure_requests_file_fails_the_run_naming_the_file_and_line_and_loads_nothing(
    airflow_db: Path, warehouse_connection_env: str, landing_env: Path, real_landing: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    copy_days(real_landing, landing_env, [TRADING_DAY])
    requests = landing_env / f"erasure-requests-{TRADING_DAY}.csv"
    requests.write_text("customer_id,requested_at,reference\n,2011-03-01,ticket 1\n")
    run = run_ingest(TRADING_DAY)
    states = task_states(run)
    assert states["apply_erasure_requests"] == "failed"
    assert (states["validate_and_load_orders"], states["load_crm_export"]) == ("upstream_failed", "upstream_failed")
    assert f"erasure requests of {TRADING_DAY} not applied: {requests}: line 2: empty customer_id" in capsys.readouterr().out
    assert _ingest_days(warehouse_connection_env) == {}
