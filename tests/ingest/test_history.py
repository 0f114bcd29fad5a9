"""The whole real history (2010-12-01..2011-10-31) through Airflow, then again: nothing changes.

Pass 1 runs the `ingest_orders` DAG for every day (`dag.test`, what `airflow dags test` does), the way a
catch-up backfill runs it, on SQLite (in this process) and PostgreSQL (in a second process, at the same
time: CI has two cores). Pass 2 reloads the whole history as a range load does (`ingest_history`,
batches of 92 days), newest batch first: it must leave every ingest table identical (row counts and
checksums) to the day-by-day DAG runs, and reloading old days after newer ones must not change the
derived tables. Pass 3 runs the DAG again through Airflow for the last week (a closed Saturday
included) on both backends: nothing changes either.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from marketflow.ingest import IngestSettings, closure_reason, ingest_history
from marketflow.ingest.history import days_between
from marketflow.warehouse import schema, upgrade_to_head, warehouse_engine
from tests.conftest import REPO
from tests.ingest.airflow_backfill import airflow_connection_uri, backfill
from tests.ingest.conftest import HISTORY_FIRST_DAY, HISTORY_LAST_DAY
from tests.ingest.warehouse_state import table_fingerprints

#: Generous: the PostgreSQL backfill takes about 3 minutes on two cores.
_BACKFILL_TIMEOUT_S = 1200
#: Pass 3 re-runs the DAG from here to the last day (Saturday 2011-10-29 is closed).
_RERUN_FIRST_DAY = HISTORY_LAST_DAY - dt.timedelta(days=6)


def _lines_in_files(real_data_dir: Path) -> int:
    files = real_data_dir.glob("????-??-??.csv")
    return sum(max(0, len(path.read_bytes().splitlines()) - 1) for path in files)


def _check_the_backfilled_history(engine: Engine, real_data_dir: Path) -> None:
    """Every day is loaded or, exactly on the calendar's closed days, `no_trading`; no line is lost."""
    days, orders, quarantine = schema.ingest_days, schema.orders, schema.quarantine
    with engine.connect() as conn:
        statuses = dict(
            conn.execute(select(days.c.file_date, days.c.status).where(days.c.file_kind == "orders")).all()
        )
        loaded = conn.execute(select(func.count()).select_from(orders)).scalar_one()
        rejected = conn.execute(
            select(func.count()).select_from(quarantine).where(quarantine.c.file_kind == "orders")
        ).scalar_one()
        read = conn.execute(
            select(func.sum(days.c.rows_read)).where(days.c.file_kind == "orders")
        ).scalar_one()
    calendar = IngestSettings().calendar
    history = set(days_between(HISTORY_FIRST_DAY, HISTORY_LAST_DAY))
    assert set(statuses) == history
    assert {day for day, status in statuses.items() if status == "no_trading"} == {
        day for day in history if closure_reason(day, calendar)
    }
    assert set(statuses.values()) == {"loaded", "no_trading"}
    assert loaded + rejected == read == _lines_in_files(real_data_dir)


@pytest.mark.slow
@pytest.mark.real_data
@pytest.mark.postgres
def test_backfill_of_the_whole_history_through_airflow_then_again_changes_nothing(
    airflow_db: Path,
    real_landing: Path,
    real_data_dir: Path,
    postgres_warehouse: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sqlite_warehouse = f"sqlite:///{tmp_path / 'warehouse.db'}"
    upgrade_to_head(warehouse_engine(sqlite_warehouse))
    result, log = tmp_path / "postgres-backfill.json", tmp_path / "postgres-backfill.log"
    days = [HISTORY_FIRST_DAY.isoformat(), HISTORY_LAST_DAY.isoformat()]
    with log.open("w") as output:
        postgres_backfill = subprocess.Popen(
            [sys.executable, "-m", "tests.ingest.airflow_backfill", postgres_warehouse, str(real_landing),
             *days, str(result)],
            cwd=REPO, stdout=output, stderr=subprocess.STDOUT,
        )
        try:
            monkeypatch.setenv("AIRFLOW_CONN_MARKETFLOW_WAREHOUSE", airflow_connection_uri(sqlite_warehouse))
            monkeypatch.setenv("MARKETFLOW_LANDING_URL", str(real_landing))
            sqlite_failures = backfill(HISTORY_FIRST_DAY, HISTORY_LAST_DAY)
            assert sqlite_failures == {}
            exit_code = postgres_backfill.wait(timeout=_BACKFILL_TIMEOUT_S)
        finally:
            if postgres_backfill.poll() is None:
                postgres_backfill.kill()
                postgres_backfill.wait()
    assert exit_code == 0, log.read_text()[-5000:]
    assert json.loads(result.read_text()) == {"failed": {}}

    first_pass = {}
    for url in (sqlite_warehouse, postgres_warehouse):
        engine = warehouse_engine(url)
        _check_the_backfilled_history(engine, real_data_dir)
        first_pass[url] = table_fingerprints(engine)
        ingest_history(engine, str(real_landing), HISTORY_FIRST_DAY, HISTORY_LAST_DAY, newest_first=True)
        assert table_fingerprints(engine) == first_pass[url], url

    rerun = [_RERUN_FIRST_DAY.isoformat(), HISTORY_LAST_DAY.isoformat()]
    assert backfill(_RERUN_FIRST_DAY, HISTORY_LAST_DAY) == {}  # SQLite: the connection still points there
    subprocess.run(
        [sys.executable, "-m", "tests.ingest.airflow_backfill", postgres_warehouse, str(real_landing), *rerun,
         str(result)],
        cwd=REPO, check=True, capture_output=True, timeout=_BACKFILL_TIMEOUT_S,
    )
    assert json.loads(result.read_text()) == {"failed": {}}
    for url in (sqlite_warehouse, postgres_warehouse):
        assert table_fingerprints(warehouse_engine(url)) == first_pass[url], url
