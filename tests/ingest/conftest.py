"""Fixtures of the ingest tests: landing folders (a few days, broken files; the real history's is
`real_landing` in tests/conftest.py).

The export sensor's poke interval and timeout are read when the DAG file is parsed, so they are
shortened here, at import, before any test parses the DAGs: a missing export fails in seconds.
"""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

os.environ["MARKETFLOW_INGEST_EXPORT_POKE_INTERVAL_S"] = "1"
os.environ["MARKETFLOW_INGEST_EXPORT_TIMEOUT_S"] = "3"

HISTORY_FIRST_DAY = dt.date(2010, 12, 1)
HISTORY_LAST_DAY = dt.date(2011, 10, 31)


@pytest.fixture
def landing_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty landing folder that the DAG's tasks use (via MARKETFLOW_LANDING_URL)."""
    landing = tmp_path / "landing"
    landing.mkdir()
    monkeypatch.setenv("MARKETFLOW_LANDING_URL", str(landing))
    return landing


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def module_warehouse(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """One migrated warehouse per backend shared by a module's tests (each test replaces its own day)."""
    from marketflow.warehouse import upgrade_to_head, warehouse_engine

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('warehouse') / 'warehouse.db'}"
        upgrade_to_head(warehouse_engine(url))
        yield warehouse_engine(url)
        return
    from tests.scratch_db import scratch_database

    with scratch_database(request.getfixturevalue("postgres_server_url")) as url:
        upgrade_to_head(warehouse_engine(url))
        yield warehouse_engine(url)
