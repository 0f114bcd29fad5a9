"""A real local deployment for the scheduler tests: its own Airflow home and metadata database, a
warehouse (SQLite in the home, or a PostgreSQL database the test names), a landing folder the test fills one export at a time, an SMTP sink, and every
Airflow component (`marketflow.local_stack`) on free ports of 127.0.0.1.

The sample is re-dated so that its last day is yesterday (as the demo does); all but the last
`replayed` days are loaded up front, the rest wait in a staging folder until `release(day)`.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import shutil
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import REPO, airflow_connection_uri
from tests.ui.live_airflow import free_port

#: How long a step may take before the test fails (a stall detector, not a speed bar: the suite runs this
#: test beside another pytest process on 2 cores).
TIMEOUT_S = 480.0


@dataclass
class Deployment:
    home: Path
    env: dict[str, str]
    staging: Path
    landing: Path
    outbox: Path
    base_url: str
    password: str
    warehouse_url: str

    def marketflow(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "marketflow.cli", *args], env=self.env, capture_output=True, text=True, cwd=REPO
        )
        if check and result.returncode != 0:
            raise AssertionError(f"marketflow {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
        return result

    def airflow(self, *args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "airflow", *args], env=self.env, capture_output=True, text=True, cwd=REPO
        )
        if result.returncode != 0:
            raise AssertionError(f"airflow {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def runs(self, *dag_ids: str) -> list[dict[str, Any]]:
        """Every DAG run with its days, state and trigger, as `marketflow runs --json` prints them (read
        here: a CLI process a poll would take a core from the deployment)."""
        from marketflow.timeline import dag_runs

        runs = dag_runs(dag_ids or None, metadata_url=f"sqlite:///{self.home / 'airflow.db'}")
        return [run.as_dict() for run in runs]

    def release(self, day: dt.date) -> None:
        """The shop's exports of `day` arrive in the landing folder."""
        for name in (f"{day}.csv", f"customers-{day}.csv"):
            if (self.staging / name).exists():
                shutil.copyfile(self.staging / name, self.landing / f".{name}")
                os.replace(self.landing / f".{name}", self.landing / name)

    def wait(self, what: str, done: Callable[[], Any], timeout: float = TIMEOUT_S) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = done()
            if value:
                return value
            if time.monotonic() > deadline:
                lines = "\n".join(self.marketflow("runs").stdout.splitlines()[-30:])
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}; runs:\n{lines}")
            time.sleep(2)

    def token(self) -> str:
        request = urllib.request.Request(
            f"{self.base_url}/auth/token",
            data=json.dumps({"username": "admin", "password": self.password}).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.load(response)["access_token"]

    def api(self, path: str, body: dict[str, Any] | None = None) -> Any:
        """GET a path of Airflow's REST API as the admin user (POST `body` when given); JSON."""
        request = urllib.request.Request(
            f"{self.base_url}{path}",
            data=json.dumps(body).encode() if body is not None else None,
            headers={"Authorization": f"Bearer {self.token()}", "Accept": "application/json", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.load(response)

    def page(self, path: str) -> str:
        """A page of the Campaigns screen (the plugin's app) as the admin user sees it."""
        request = urllib.request.Request(f"{self.base_url}/marketflow{path}", headers={"Authorization": f"Bearer {self.token()}"})
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.read().decode()

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
        """The task's log as the UI shows it (the REST endpoint behind the log view)."""
        from urllib.parse import quote

        body = self.api(f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id)}/taskInstances/{task_id}/logs/{try_number}")
        return "\n".join(str(part.get("event", part)) if isinstance(part, dict) else str(part) for part in body["content"])


def base_environment(home: Path) -> dict[str, str]:
    """The environment of every process of the deployment (and of the CLI calls the test makes)."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("AIRFLOW", "MARKETFLOW_")) or key == "MARKETFLOW_MODEL_CACHE"}  # a machine's cache
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
            "AIRFLOW__CORE__PARALLELISM": "4",
            # SQLite waits 5 s for a lock by default; the api-server's audit-log insert then failed
            # a request (HTTP 500) while the scheduler and tasks held the file on 2 busy cores. At 30 s
            # it failed once more (2026-12-08, the PostgreSQL variant beside the other suite process:
            # a POST of an asset event waited 30.1 s), so the wait is 120 s, as in the demo's set-up.
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}?timeout=120",
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(48),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / "passwords.json"),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
            "AIRFLOW_CONN_MARKETFLOW_WAREHOUSE": f"sqlite:///{home / 'warehouse.db'}",
            "MARKETFLOW_LANDING_URL": str(home / "landing"),
            "MARKETFLOW_TASK_RETRIES": "0",
            "PYTHONWARNINGS": "ignore::UserWarning",
        }
    )
    return env


@contextmanager
def deployment(
    home: Path, campaigns: Path, replayed: list[dt.date], settings: dict[str, str], warehouse_url: str | None = None
) -> Iterator[Deployment]:
    """Set the deployment up (metadata DB, warehouse, initial import of the days before `replayed`)
    and run it until the context ends. The warehouse is `warehouse_url` (an empty database), else
    SQLite in the home."""
    from marketflow.campaigns.demo import LocalChannels, serve
    from marketflow.demo import deployment_settings, initial_import
    from marketflow.ingest.sample import sample_days, unpack_sample
    from marketflow.ingest.settings import IngestSettings
    from marketflow.local_stack import LocalStack, local_environment
    from marketflow.warehouse import upgrade_to_head, warehouse_engine

    home.mkdir(parents=True)
    password = secrets.token_hex(8)
    (home / "passwords.json").write_text(json.dumps({"admin": password}))
    staging, landing = home / "staging", home / "landing"
    landing.mkdir()
    today = dt.datetime.now(dt.timezone.utc).date()
    original = sample_days()
    days = unpack_sample(str(staging), shift=(today - dt.timedelta(days=1)) - original[-1])
    env = base_environment(home)
    env.update(deployment_settings(home, dt.datetime.now(dt.timezone.utc), original, free_port()))
    env.update({"MARKETFLOW_START_DATE": replayed[0].isoformat(), "MARKETFLOW_CAMPAIGNS_DIR": str(campaigns), **settings})
    warehouse_url = warehouse_url or env["AIRFLOW_CONN_MARKETFLOW_WAREHOUSE"]
    env["AIRFLOW_CONN_MARKETFLOW_WAREHOUSE"] = airflow_connection_uri(warehouse_url)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True, capture_output=True)
    engine = warehouse_engine(warehouse_url)
    upgrade_to_head(engine)
    for day in days:
        if day < replayed[0]:
            shutil.copyfile(staging / f"{day}.csv", landing / f"{day}.csv")
            shutil.copyfile(staging / f"customers-{day}.csv", landing / f"customers-{day}.csv")
    initial_import(engine, IngestSettings.from_env(env), days[0], replayed[0] - dt.timedelta(days=1))
    stack = LocalStack(env, home / "logs" / "stack", api_port=free_port(), log_port=free_port())
    channels = LocalChannels.from_environment(env)
    assert channels is not None
    with serve(channels), stack:
        cli_env = local_environment(env, stack.api_port, stack.log_port)
        yield Deployment(home, cli_env, staging, landing, channels.outbox, stack.base_url, password, warehouse_url)
