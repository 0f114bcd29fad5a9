"""A range load (backfill) validates and publishes many days at a time; every day must come out as
its own daily run would leave it, and a bad file stops the range after the days before it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete, select

from marketflow.ingest import IngestSettings, ingest_day, ingest_history
from marketflow.ingest.errors import ExportFileError, ValidationFailed
from marketflow.ingest.history import days_between
from marketflow.warehouse import schema, warehouse_engine
from tests.conftest import copy_days, postgres_only
from tests.ingest.warehouse_state import INGEST_TABLES, table_fingerprints

FIRST, LAST = dt.date(2011, 3, 1), dt.date(2011, 3, 21)  # three weeks, Saturdays closed


def _empty(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in INGEST_TABLES:
            conn.execute(delete(table))


def _statuses(engine: Engine) -> dict[dt.date, str]:
    days = schema.ingest_days
    with engine.connect() as conn:
        query = select(days.c.file_date, days.c.status).where(days.c.file_kind == "orders")
        return dict(conn.execute(query).all())


def _order_days(engine: Engine) -> set[dt.date]:
    with engine.connect() as conn:
        return set(conn.execute(select(schema.orders.c.order_date).distinct()).scalars())


def _landing(real_landing: Path, target: Path) -> Path:
    trading = [day for day in days_between(FIRST, LAST) if (real_landing / f"{day}.csv").exists()]
    return copy_days(real_landing, target, trading)


@postgres_only
def test_batches_of_days_leave_the_warehouse_a_day_by_day_load_leaves(
    warehouse_url: str, real_landing: Path, tmp_path: Path
) -> None:
    landing = str(_landing(real_landing, tmp_path / "landing"))
    engine = warehouse_engine(warehouse_url)
    settings = IngestSettings.from_env(landing_url=landing, batch_days=4)
    for day in days_between(FIRST, LAST):
        ingest_day(engine, landing, day, settings)
    day_by_day = table_fingerprints(engine)
    assert day_by_day["orders"][0] > 20_000

    _empty(engine)
    reports = ingest_history(engine, landing, FIRST, LAST, settings)
    assert table_fingerprints(engine) == day_by_day
    assert [report.file_date for report in reports] == sorted(report.file_date for report in reports)


def test_a_refused_day_stops_the_range_after_publishing_the_days_before_it(
    warehouse_url: str, real_landing: Path, tmp_path: Path
) -> None:
    landing = _landing(real_landing, tmp_path / "landing")
    bad_day = dt.date(2011, 3, 9)
    bad_file = landing / f"{bad_day}.csv"
    bad_file.write_text(bad_file.read_text().splitlines()[0] + "\n")  # header only: implausible row count
    engine = warehouse_engine(warehouse_url)
    settings = IngestSettings.from_env(landing_url=str(landing), batch_days=92)

    with pytest.raises(ValidationFailed, match=rf"{bad_file}: not published: row_count_sanity"):
        ingest_history(engine, str(landing), FIRST, LAST, settings)
    statuses = _statuses(engine)
    assert statuses[bad_day] == "failed"
    assert {status for day, status in statuses.items() if day < bad_day} <= {"loaded", "no_trading"}
    assert statuses[dt.date(2011, 3, 8)] == "loaded"
    assert not [day for day in statuses if day > bad_day and statuses[day] == "loaded"]
    assert max(_order_days(engine)) == dt.date(2011, 3, 8)


def test_an_unreadable_file_stops_the_range_and_is_logged(
    warehouse_url: str, real_landing: Path, tmp_path: Path
) -> None:
    landing = _landing(real_landing, tmp_path / "landing")
    bad_day = dt.date(2011, 3, 15)
    bad_file = landing / f"{bad_day}.csv"
    bad_file.write_bytes(bad_file.read_text().encode("utf-16"))
    engine = warehouse_engine(warehouse_url)

    with pytest.raises(ExportFileError, match="UTF-16"):
        ingest_history(engine, str(landing), FIRST, LAST, IngestSettings.from_env(landing_url=str(landing)))
    assert _statuses(engine)[bad_day] == "failed"
    assert max(_order_days(engine)) == dt.date(2011, 3, 14)


def test_the_cli_loads_a_range_into_the_connected_warehouse(
    warehouse_connection_env: str, real_landing: Path, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from marketflow.cli import main

    landing = _landing(real_landing, tmp_path / "landing")
    assert main(["ingest", "load-range", "--date", str(FIRST), "--to", str(LAST), "--landing", str(landing)]) == 0
    engine = warehouse_engine(warehouse_connection_env)
    statuses = _statuses(engine)
    loaded = sorted(day for day, status in statuses.items() if status == "loaded")
    assert f"{FIRST}..{LAST}: {len(loaded)} day(s) loaded, {len(statuses) - len(loaded)} without trading" in (
        capsys.readouterr().out
    )
    assert len(statuses) == (LAST - FIRST).days + 1 and _order_days(engine) == set(loaded)

    (landing / f"{LAST}.csv").unlink()
    assert main(["ingest", "load-range", "--date", str(FIRST), "--to", str(LAST), "--landing", str(landing)]) == 1
    assert f"stopped: export for trading day {LAST} has not arrived" in capsys.readouterr().out
