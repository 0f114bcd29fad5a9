"""Shared fixtures: an isolated Airflow home, warehouses on SQLite and on the real PostgreSQL
server that `scripts/test.sh` starts, and the real order history from ../shared.

Airflow reads its configuration at import, so the environment is set here, before any test
module imports airflow.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.scratch_db import scratch_database

REPO = Path(__file__).resolve().parents[1]
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="marketflow-airflow-home-"))

os.environ.update(
    {
        "AIRFLOW_HOME": str(_AIRFLOW_HOME),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}",
        "AIRFLOW__API_AUTH__JWT_SECRET": "marketflow-tests-" + "x" * 64,
        "PYTHONWARNINGS": "ignore::UserWarning",
        # The tests run DAGs for the real history's dates: the deployment starts with it. (Airflow
        # makes no task instances for a run dated before a DAG's start.)
        "MARKETFLOW_START_DATE": "2010-12-01",
    }
)
os.environ.pop("AIRFLOW_CONN_MARKETFLOW_WAREHOUSE", None)

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
REAL_DATA_DIR = Path(
    os.environ.get("MARKETFLOW_REAL_DATA", REPO.parent / "shared" / "data" / "online-retail" / "by-day")
)


def _missing(reason: str) -> None:
    """Skip on a developer's clone; in CI a missing prerequisite is a failure, never a skip."""
    if IN_CI:
        pytest.fail(f"{reason} (CI must provide it)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The real UCI Online Retail history, one CSV a day (2010-12-01..2011-10-31)."""
    if not REAL_DATA_DIR.is_dir():
        _missing(f"real order history not found at {REAL_DATA_DIR}; set MARKETFLOW_REAL_DATA")
    return REAL_DATA_DIR


@pytest.fixture(scope="session")
def postgres_server_url() -> str:
    """URL of the maintenance database of the PostgreSQL server started by scripts/test.sh."""
    url = os.environ.get("MARKETFLOW_TEST_PG_URL")
    if not url:
        _missing("MARKETFLOW_TEST_PG_URL is not set: run the tests with `make test`")
    return url


#: For the costliest tests (a model training, a whole history through Airflow): the PostgreSQL warehouse
#: only, the one deployments use; the demo test runs every stage on the SQLite one.
postgres_only = pytest.mark.parametrize(
    "empty_warehouse_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A brand-new, empty warehouse database on each backend (no schema yet)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'warehouse.db'}"
    else:
        with scratch_database(request.getfixturevalue("postgres_server_url")) as url:
            yield url


@pytest.fixture
def postgres_warehouse(postgres_server_url: str) -> Iterator[str]:
    """A fresh PostgreSQL warehouse migrated to the newest schema (for tests that use both backends
    at once)."""
    from marketflow.warehouse import upgrade_to_head, warehouse_engine

    with scratch_database(postgres_server_url) as url:
        upgrade_to_head(warehouse_engine(url))
        yield url


@pytest.fixture
def warehouse_url(empty_warehouse_url: str) -> str:
    """A fresh warehouse on each backend, migrated to the newest schema."""
    from marketflow.warehouse import upgrade_to_head, warehouse_engine

    upgrade_to_head(warehouse_engine(empty_warehouse_url))
    return empty_warehouse_url


def airflow_connection_uri(warehouse_url: str) -> str:
    """The Airflow connection URI of a warehouse's SQLAlchemy URL: Airflow reads the scheme as the
    connection type, which names the database (`postgresql`), not the driver."""
    from sqlalchemy.engine import make_url

    url = make_url(warehouse_url)
    if url.get_backend_name() == "sqlite":
        return f"sqlite:///{url.database}"
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def warehouse_connection_env(warehouse_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Point the Airflow connection `marketflow_warehouse` at the test warehouse."""
    monkeypatch.setenv("AIRFLOW_CONN_MARKETFLOW_WAREHOUSE", airflow_connection_uri(warehouse_url))
    return warehouse_url


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """A migrated Airflow metadata database (SQLite) in the session's Airflow home."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        env=os.environ.copy(),
    )
    return _AIRFLOW_HOME


@pytest.fixture(scope="session")
def real_landing(real_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A landing folder with the whole real history (linked, not copied) and its synthetic CRM files."""
    from marketflow.ingest.synthetic_crm import write_crm_exports

    landing = tmp_path_factory.mktemp("real-landing")
    for path in real_data_dir.glob("????-??-??.csv"):
        (landing / path.name).symlink_to(path)
    write_crm_exports(str(landing))
    return landing


def copy_days(real_landing: Path, target: Path, days: list[dt.date]) -> Path:
    """A landing folder holding only `days` of the real history (orders and CRM files)."""
    target.mkdir(parents=True, exist_ok=True)
    for day in days:
        for name in (f"{day}.csv", f"customers-{day}.csv"):
            shutil.copyfile(real_landing / name, target / name)
    return target
