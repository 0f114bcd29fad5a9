"""The bodies of the `ingest_orders` DAG's tasks, so the DAG file holds only wiring.

Data problems (unreadable file, too many bad rows) raise `AirflowFailException`: a retry cannot fix
a file, so the task fails at once with the message that says what to fix.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Any

from marketflow.ingest.errors import IngestError
from marketflow.ingest.report import IngestReport
from marketflow.ingest.settings import IngestSettings

log = logging.getLogger(__name__)


def check_trading_day(day: dt.date) -> bool:
    """False (skip the rest of the run) when the shop was closed and sent nothing: record `no_trading`."""
    from marketflow.ingest.days import record_no_trading_day
    from marketflow.ingest.history import no_trading_reason
    from marketflow.ingest.landing import Landing
    from marketflow.warehouse import warehouse_engine

    settings = IngestSettings.from_env()
    reason = no_trading_reason(Landing(settings.landing_url), day, settings)
    if reason is None:
        log.info("%s: export expected (trading day, or files arrived anyway)", day)
        return True
    record_no_trading_day(warehouse_engine(), day, settings)
    log.info("%s: no trading (%s), no export expected: recorded, skipping the rest of the run", day, reason)
    return False


def _load(ingest: Callable[..., IngestReport], day: dt.date) -> dict[str, Any]:
    from airflow.sdk.exceptions import AirflowFailException

    from marketflow.warehouse import warehouse_engine

    settings = IngestSettings.from_env()
    try:
        report = ingest(warehouse_engine(), settings.landing_url, day, settings)
    except IngestError as error:
        raise AirflowFailException(str(error)) from error
    log.info("%s: %s", report.source_file, report.summary())
    return report.summary()


def load_orders(day: dt.date) -> dict[str, Any]:
    from marketflow.ingest.days import ingest_orders_day

    return _load(ingest_orders_day, day)


def load_customers(day: dt.date) -> dict[str, Any]:
    from marketflow.ingest.days import ingest_customers_day

    return _load(ingest_customers_day, day)
