"""The real history (2010-12-01..2011-10-31) through range loads and Airflow, then again: nothing changes.

Pass 1, on SQLite and PostgreSQL: the history up to 2011-10-24 is range-loaded (`ingest_history`,
batches of 92 days), then the `ingest_orders` DAG runs every later day (`dag.test`, what `airflow dags
test` does), the way a catch-up backfill runs it: the last week, its closed Saturday included, on
SQLite in this process and on PostgreSQL in a second one at the same time (CI has two cores). Every
day of the history must be loaded or closed with no line lost, and every ingest table identical on
the two backends (row counts and checksums). Pass 2 reloads the whole SQLite history newest batch
first: reloading old days after newer ones, the DAG's week included, changes nothing. Pass 3 runs the
DAG again through Airflow over the same week on both: nothing changes either.

The whole-history proof is the range path's, here: every day of the history is range-loaded on both
backends (pass 1, and pass 2 on SQLite over the DAG's week too). Airflow's path is proven on one week:
the only closed days of 2011-09/10 are Saturdays, so a longer catch-up adds more of the same days.
(Until 2026-12-01 the DAG ran the last five weeks: 523 s against 370 s for one week, one run after
the other on 2 cores shared with other work.)
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

#: Generous: a week's backfill takes about a minute on two cores shared with other tests.
_BACKFILL_TIMEOUT_S = 900
#: The first day the DAG ingests, in passes 1 and 3 (the days before are range-loaded): its week
#: holds every kind of day of 2011-09/10, Saturday 2011-10-29 closed.
_DAG_FIRST_DAY = HISTORY_LAST_DAY - dt.timedelta(days=6)


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


def _backfill_on_both(postgres_warehouse: str, real_landing: Path, tmp_path: Path) -> None:
    """The DAG over `_DAG_FIRST_DAY`..`HISTORY_LAST_DAY`: on SQLite (the connection points there) in
    this process while a second process runs it on PostgreSQL; every run succeeds on both."""
    result, log = tmp_path / "postgres-backfill.json", tmp_path / "postgres-backfill.log"
    days = [_DAG_FIRST_DAY.isoformat(), HISTORY_LAST_DAY.isoformat()]
    with log.open("w") as output:
        postgres_backfill = subprocess.Popen(
            [sys.executable, "-m", "tests.ingest.airflow_backfill", postgres_warehouse, str(real_landing),
             *days, str(result)],
            cwd=REPO, stdout=output, stderr=subprocess.STDOUT,
        )
        try:
            assert backfill(_DAG_FIRST_DAY, HISTORY_LAST_DAY) == {}
            exit_code = postgres_backfill.wait(timeout=_BACKFILL_TIMEOUT_S)
        finally:
            if postgres_backfill.poll() is None:
                postgres_backfill.kill()
                postgres_backfill.wait()
    assert exit_code == 0, log.read_text()[-5000:]
    assert json.loads(result.read_text()) == {"failed": {}}


@pytest.mark.slow
@pytest.mark.real_data
@pytest.mark.postgres
def test_the_history_through_airflow_matches_range_loads_and_a_rerun_changes_nothing(
    airflow_db: Path,
    real_landing: Path,
    real_data_dir: Path,
    postgres_warehouse: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    sqlite_warehouse = f"sqlite:///{tmp_path / 'warehouse.db'}"
    upgrade_to_head(warehouse_engine(sqlite_warehouse))
    for url in (sqlite_warehouse, postgres_warehouse):
        ingest_history(warehouse_engine(url), str(real_landing), HISTORY_FIRST_DAY, _DAG_FIRST_DAY - dt.timedelta(days=1))
    monkeypatch.setenv("AIRFLOW_CONN_MARKETFLOW_WAREHOUSE", airflow_connection_uri(sqlite_warehouse))
    monkeypatch.setenv("MARKETFLOW_LANDING_URL", str(real_landing))
    _backfill_on_both(postgres_warehouse, real_landing, tmp_path)

    for url in (sqlite_warehouse, postgres_warehouse):
        _check_the_backfilled_history(warehouse_engine(url), real_data_dir)
    first_pass = table_fingerprints(warehouse_engine(postgres_warehouse))
    assert table_fingerprints(warehouse_engine(sqlite_warehouse)) == first_pass, "the backends differ"

    sqlite_engine = warehouse_engine(sqlite_warehouse)
    ingest_history(sqlite_engine, str(real_landing), HISTORY_FIRST_DAY, HISTORY_LAST_DAY, newest_first=True)
    assert table_fingerprints(sqlite_engine) == first_pass, "a reload newest first changed the warehouse"

    _backfill_on_both(postgres_warehouse, real_landing, tmp_path)  # pass 3: the same week again
    for url in (sqlite_warehouse, postgres_warehouse):
        assert table_fingerprints(warehouse_engine(url)) == first_pass, url
