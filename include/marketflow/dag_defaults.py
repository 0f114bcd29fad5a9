"""Settings every Marketflow DAG shares, so the UI shows consistent owners, retries, tags and start.

Kept free of heavy imports: DAG files import this at parse time.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

OWNER = "marketing-data"

#: Retries absorb transient failures (a database restart, a slow SMTP server). The demo sets
#: MARKETFLOW_TASK_RETRIES=0 so that a failure shows at once instead of after the retry delays.
TASK_RETRIES = int(os.environ.get("MARKETFLOW_TASK_RETRIES", "2"))

DEFAULT_ARGS = {
    "owner": OWNER,
    "retries": TASK_RETRIES,
    "retry_delay": dt.timedelta(minutes=5),
    "retry_exponential_backoff": True,
}

#: How long a time-scheduled run (the recommender) waits after it is due for its inputs of the day,
#: and how often it looks (campaigns set their own wait in their files).
INPUT_WAIT_S = float(os.environ.get("MARKETFLOW_INPUT_WAIT_S", str(6 * 3600)))
INPUT_POKE_INTERVAL_S = float(os.environ.get("MARKETFLOW_INPUT_POKE_INTERVAL_S", "60"))

START_DATE_ENV = "MARKETFLOW_START_DATE"
_ORDERS_EXPORT = re.compile(r"^(\d{4}-\d{2}-\d{2})\.csv$")

#: Worker queue for GPU work (the recommender's training); see docker-compose.yaml's gpu profile.
GPU_QUEUE = os.environ.get("MARKETFLOW_GPU_QUEUE", "default")


def _local_folder(landing_url: str) -> Path | None:
    if landing_url.startswith("file://"):
        return Path(landing_url.removeprefix("file://"))
    return None if "://" in landing_url else Path(landing_url)


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc)


def deployment_start(environ: os._Environ[str] | dict[str, str] | None = None) -> dt.datetime:
    """The deployment's first day: no DAG catches up (or backfills by schedule) before it.

    `$MARKETFLOW_START_DATE` (YYYY-MM-DD) when set; otherwise the oldest orders export in a local
    landing folder; with no export there yet, today (nothing to catch up). A remote landing location
    (`s3://...`) is not listed while DAGs are parsed: set `MARKETFLOW_START_DATE` for it.
    """
    environ = os.environ if environ is None else environ
    raw = environ.get(START_DATE_ENV, "").strip()
    if raw:
        try:
            return _midnight(dt.date.fromisoformat(raw))
        except ValueError:
            raise ValueError(f"${START_DATE_ENV} must be a date YYYY-MM-DD, got {raw!r}") from None
    airflow_home = Path(environ.get("AIRFLOW_HOME", Path.home() / "airflow"))
    landing_url = environ.get("MARKETFLOW_LANDING_URL") or str(airflow_home / "landing")
    folder = _local_folder(landing_url)
    if folder is None:
        raise ValueError(
            f"${START_DATE_ENV} is not set and the landing location {landing_url} is not a local folder: "
            "set it to the first day this deployment ingests (YYYY-MM-DD)"
        )
    days = [m.group(1) for p in folder.glob("*.csv") if (m := _ORDERS_EXPORT.match(p.name))] if folder.is_dir() else []
    if days:
        return _midnight(dt.date.fromisoformat(min(days)))
    return _midnight(dt.datetime.now(dt.timezone.utc).date())


def periodic_start(environ: os._Environ[str] | dict[str, str] | None = None) -> dt.datetime:
    """The start date of the time-scheduled DAGs without catch-up (recommender, campaigns): five weeks
    before the deployment's first day, so that the first interval ending after that day may run
    whatever the schedule (a weekly interval starts before the day it ends on). Catch-up is off, so
    no older interval runs by schedule; a backfill of days without data is blocked by its inputs."""
    return deployment_start(environ) - dt.timedelta(weeks=5)


def tags(*stage: str) -> list[str]:
    """Tags shown in the DAG list: the product name plus the stage(s)."""
    return ["marketflow", *stage]
