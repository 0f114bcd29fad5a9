"""`marketflow demo`, run for real in a subprocess: the deployment the browser tests look at.

The demo gets its own Airflow home (metadata database, landing folder, outbox, model store,
ad-audience files, task logs), SQLite warehouse and free ports, as `make demo` would on a fresh
clone. Nothing is seeded: every number the pages show comes from the demo's DAG runs, made by
Airflow's scheduler over the shipped sample re-dated to end yesterday.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.conftest import REPO
from tests.live.deployment import base_environment, free_port

TIMEOUT_S = 1200
_SUMMARY_LINE = re.compile(r"^  (\S.*?)\s+([\d,]+)$")


@dataclass(frozen=True)
class DemoRun:
    """What the demo printed and left behind."""

    returncode: int
    output: str
    seconds: float
    home: Path
    warehouse_url: str
    env: dict[str, str] = field(repr=False)

    def section(self, heading: str) -> dict[str, int]:
        """The `label  count` lines printed under the `==> {heading}` line."""
        counts: dict[str, int] = {}
        lines = self.output.splitlines()
        start = next(i for i, line in enumerate(lines) if line.startswith(f"==> {heading}"))
        for line in lines[start + 1 :]:
            if line.startswith("==>"):
                break
            if match := _SUMMARY_LINE.match(line):
                counts[match.group(1)] = int(match.group(2).replace(",", ""))
        return counts

    def runs(self) -> list[dict[str, Any]]:
        """`marketflow runs --json` over the demo's Airflow home."""
        result = subprocess.run(
            [sys.executable, "-m", "marketflow.cli", "runs", "--json"],
            env=self.env, cwd=REPO, capture_output=True, text=True, check=True,
        )
        return json.loads(result.stdout.strip().splitlines()[-1])

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.output.splitlines()[-lines:])


def run_demo(workdir: Path) -> DemoRun:
    """Migrate a fresh Airflow home and warehouse, then run `marketflow demo` as `make demo` does
    (retries off), with every `MARKETFLOW_*` setting at its default but the locations and ports."""
    home = workdir / "airflow-home"
    home.mkdir(parents=True)
    env = base_environment(home)
    env.update(
        {
            "AIRFLOW_CONN_MARKETFLOW_WAREHOUSE": f"sqlite:///{home / 'marketflow_warehouse.db'}",
            "AIRFLOW__API__PORT": str(free_port()),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "MARKETFLOW_SMTP_SINK_PORT": str(free_port()),
        }
    )
    for command in (["-m", "airflow", "db", "migrate"], ["-m", "marketflow.cli", "warehouse", "upgrade"]):
        subprocess.run([sys.executable, *command], env=env, cwd=REPO, check=True, capture_output=True)
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "marketflow.cli", "demo"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=TIMEOUT_S,
    )
    return DemoRun(
        result.returncode, result.stdout, time.perf_counter() - started, home, env["AIRFLOW_CONN_MARKETFLOW_WAREHOUSE"], env
    )
