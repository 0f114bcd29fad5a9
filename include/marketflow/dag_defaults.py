"""Settings every Marketflow DAG shares, so the UI shows consistent owners, retries and tags.

Kept free of heavy imports: DAG files import this at parse time.
"""

from __future__ import annotations

import datetime as dt
import os

OWNER = "marketing-data"

DEFAULT_ARGS = {
    "owner": OWNER,
    "retries": 2,
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
