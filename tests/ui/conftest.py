"""Fixtures for the Campaigns screen: Airflow's own auth manager and tokens, a seeded warehouse for the
in-process app, and the warehouse the demo fills for the browser."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ui.demo_run import DemoRun, run_demo
from tests.ui.seed import SeedFacts, seed_warehouse

#: username -> simple auth manager role; one user per role the pages treat differently.
USERS = {"admin": "admin", "op": "op", "user": "user", "viewer": "viewer"}
_AUTH_ENV = ("AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS", "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")


@pytest.fixture(scope="session")
def auth_manager(airflow_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The simple auth manager, initialised by Airflow's `init_auth_manager` as the api-server does."""
    from airflow.api_fastapi.app import init_auth_manager, purge_cached_app

    passwords = tmp_path_factory.mktemp("auth") / "passwords.json"
    saved = {key: os.environ.get(key) for key in _AUTH_ENV}
    os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] = ",".join(f"{u}:{r}" for u, r in USERS.items())
    os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] = str(passwords)
    try:
        yield init_auth_manager()
    finally:
        purge_cached_app()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def token_for(auth_manager: Any) -> Any:
    """A real JWT for a user, signed by the auth manager exactly as `POST /auth/token` does."""
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser

    def mint(username: str, expires_in: int = 600) -> str:
        user = SimpleAuthManagerUser(username=username, role=USERS[username])
        return auth_manager.generate_jwt(user, expiration_time_in_seconds=expires_in)

    return mint


@pytest.fixture(scope="session")
def seeded_warehouse(tmp_path_factory: pytest.TempPathFactory, real_data_dir: Path) -> tuple[str, SeedFacts]:
    """A migrated SQLite warehouse holding Aug-Oct 2011 of real orders, models and two campaigns."""
    from marketflow.warehouse import upgrade_to_head, warehouse_engine

    url = f"sqlite:///{tmp_path_factory.mktemp('warehouse') / 'marketflow_warehouse.db'}"
    engine = warehouse_engine(url)
    upgrade_to_head(engine)
    with engine.begin() as conn:
        facts = seed_warehouse(conn, real_data_dir)
    return url, facts


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> DemoRun:
    """`marketflow demo` over the shipped sample, once a session (about 5.5 minutes on 2 cores), in its
    own Airflow home: its DAG runs are the scheduler's."""
    return run_demo(tmp_path_factory.mktemp("demo"))


@pytest.fixture
def seeded_connection_env(seeded_warehouse: tuple[str, SeedFacts], monkeypatch: pytest.MonkeyPatch) -> SeedFacts:
    """Point the `marketflow_warehouse` connection at the seeded warehouse."""
    url, facts = seeded_warehouse
    monkeypatch.setenv("AIRFLOW_CONN_MARKETFLOW_WAREHOUSE", url)
    return facts


@pytest.fixture
def client(seeded_connection_env: SeedFacts, auth_manager: Any) -> Any:
    """The Campaigns app, on its own, over the seeded warehouse."""
    from fastapi.testclient import TestClient

    from marketflow.ui.app import create_app

    return TestClient(create_app())
