"""`marketflow demo --weeks N`, run for real in a subprocess: the warehouse the browser tests look at.

The demo gets its own Airflow home (landing folder, outbox, model store, ad-audience files, task
logs) and SQLite warehouse under a temp folder, and the session's Airflow metadata database, so
the api-server of the browser tests lists the demo's DAG runs. Nothing is seeded: every number the
pages show comes from the demo's DAG runs over the shipped sample.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import REPO

#: The shortest window in which every stage has enough history: the propensity model needs
#: 28 days of orders before its first cut-off, a 30-day label window and 3 weekly cut-offs (11 weeks);
#: the recommender tunes on 4 weeks before its 4-week hold-out. The whole sample is 17 weeks.
DEMO_WEEKS = 11
TIMEOUT_S = 1200
_SUMMARY_LINE = re.compile(r"^  (\S.*?)\s+([\d,]+)$")


@dataclass(frozen=True)
class DemoRun:
    """What the demo printed and left behind."""

    returncode: int
    output: str
    seconds: float
    weeks: int
    home: Path
    warehouse_url: str

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

    def tail(self, lines: int = 60) -> str:
        return "\n".join(self.output.splitlines()[-lines:])


def run_demo(workdir: Path, weeks: int = DEMO_WEEKS) -> DemoRun:
    """Migrate a fresh warehouse, then run the `marketflow demo` command as `make demo` does (retries
    off), with every `MARKETFLOW_*` setting at its default but the warehouse and landing locations."""
    from marketflow.warehouse import upgrade_to_head, warehouse_engine

    home = workdir / "airflow-home"
    home.mkdir(parents=True)
    url = f"sqlite:///{workdir / 'marketflow_warehouse.db'}"
    upgrade_to_head(warehouse_engine(url))
    env = {key: value for key, value in os.environ.items() if not key.startswith("MARKETFLOW_")}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW_CONN_MARKETFLOW_WAREHOUSE": url,
            "MARKETFLOW_LANDING_URL": str(workdir / "landing"),
            "MARKETFLOW_TASK_RETRIES": "0",
        }
    )
    env.pop("AIRFLOW_CONN_SMTP_DEFAULT", None)
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "marketflow.cli", "demo", "--weeks", str(weeks)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=TIMEOUT_S,
    )
    return DemoRun(result.returncode, result.stdout, time.perf_counter() - started, weeks, home, url)
