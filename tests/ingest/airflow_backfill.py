"""Backfill a range of days through Airflow (`dag.test` per day), in this process or in one of its own.

The whole-history test runs the PostgreSQL backfill in a second process while the test process
runs the SQLite one: the two are independent, and CI has two cores.

    python -m tests.ingest.airflow_backfill WAREHOUSE_URL LANDING FIRST_DAY LAST_DAY RESULT_JSON
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

DAG_ID = "ingest_orders"


def run_ingest(day: dt.date) -> Any:
    """Run the DAG so that it ingests `day`.

    `dag.test(logical_date=X)` is a manual run: Airflow gives it the last complete interval before X,
    [X - 1 day, X). Scheduled and backfill runs with logical date D get [D, D + 1 day).
    """
    from tests.airflow_runner import run_dag

    return run_dag(DAG_ID, day + dt.timedelta(days=1))


def backfill(first: dt.date, last: dt.date) -> dict[str, dict[str, str]]:
    """Run every day from `first` to `last`; returns the task states of the runs that did not succeed."""
    from marketflow.ingest.history import days_between
    from tests.airflow_runner import task_states

    failed = {}
    for day in days_between(first, last):
        run = run_ingest(day)
        if run.state != "success":
            failed[day.isoformat()] = task_states(run)
    return failed


def airflow_connection_uri(warehouse_url: str) -> str:
    """The `AIRFLOW_CONN_MARKETFLOW_WAREHOUSE` value that points Airflow at `warehouse_url`."""
    from sqlalchemy.engine import make_url

    url = make_url(warehouse_url)
    if url.get_backend_name() == "sqlite":
        return f"sqlite:///{url.database}"
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def main(argv: list[str]) -> int:
    import tests.conftest  # noqa: F401  (a fresh Airflow home and the test configuration, set at import)
    import tests.ingest.conftest  # noqa: F401  (the sensor's test timings)

    warehouse_url, landing, first, last, result = argv
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True)
    os.environ["AIRFLOW_CONN_MARKETFLOW_WAREHOUSE"] = airflow_connection_uri(warehouse_url)
    os.environ["MARKETFLOW_LANDING_URL"] = landing
    failed = backfill(dt.date.fromisoformat(first), dt.date.fromisoformat(last))
    Path(result).write_text(json.dumps({"failed": failed}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
