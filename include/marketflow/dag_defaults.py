"""Settings every Marketflow DAG shares, so the UI shows consistent owners, retries and tags.

Kept free of heavy imports: DAG files import this at parse time.
"""

from __future__ import annotations

import datetime as dt
import os

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

#: First day of the shop's order history: ingest and everything downstream start here.
HISTORY_START = dt.datetime(2010, 12, 1, tzinfo=dt.timezone.utc)

#: Worker queue for GPU work (the recommender's training); see docker-compose.yaml's gpu profile.
GPU_QUEUE = os.environ.get("MARKETFLOW_GPU_QUEUE", "default")


def tags(*stage: str) -> list[str]:
    """Tags shown in the DAG list: the product name plus the stage(s)."""
    return ["marketflow", *stage]
