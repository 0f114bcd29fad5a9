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
    """False when the shop was closed and sent nothing (the day is recorded as `no_trading`)."""
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
    log.info("%s: no trading (%s), no export expected: recorded, publishing the day without orders", day, reason)
    return False


def published_day(day: dt.date) -> dict[str, Any]:
    """The orders asset event's extra for an ingested day, read from `ingest_days`; a day that is not
    ingested (both exports loaded, or recorded as closed) is never published."""
    from airflow.sdk.exceptions import AirflowFailException
    from sqlalchemy import select

    from marketflow.days import event_extra
    from marketflow.freshness import day_is_ingested
    from marketflow.warehouse import warehouse_engine
    from marketflow.warehouse.schema import ingest_days

    c = ingest_days.c
    with warehouse_engine().connect() as conn:
        if not day_is_ingested(conn, day):
            raise AirflowFailException(f"{day} is not ingested: its orders and CRM exports must both be loaded")
        row = conn.execute(
            select(c.status, c.rows_loaded, c.rows_quarantined, c.detail).where(
                c.file_date == day, c.file_kind == "orders"
            )
        ).one()
    if row.status == "no_trading":
        return event_extra([day], rows_loaded=0, rows_quarantined=0, no_trading=row.detail)
    return event_extra([day], rows_loaded=row.rows_loaded, rows_quarantined=row.rows_quarantined)


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


def apply_erasure_requests(day: dt.date) -> dict[str, Any]:
    """Erase the people of the day's erasure-requests export, before the day's exports load."""
    from airflow.sdk.exceptions import AirflowFailException

    from marketflow.campaigns.demo import local_outbox
    from marketflow.ingest.landing import Landing
    from marketflow.privacy.pseudonyms import PrivacyKeyMissing, privacy_key
    from marketflow.privacy.requests import ErasureRequestsMalformed, apply_erasure_requests as apply
    from marketflow.warehouse import warehouse_engine

    landing = Landing(IngestSettings.from_env().landing_url)
    try:
        return apply(warehouse_engine(), landing, day, privacy_key, local_outbox())
    except (ErasureRequestsMalformed, PrivacyKeyMissing) as problem:
        raise AirflowFailException(f"erasure requests of {day} not applied: {problem}") from problem


def enforce_retention(day: dt.date) -> dict[str, int]:
    """Remove what is past its retention as of the ingested day; the counts go to the log and XCom."""
    from pathlib import Path

    from airflow.configuration import conf

    from marketflow.campaigns.demo import local_outbox
    from marketflow.ingest.landing import Landing
    from marketflow.privacy.retention import RetentionSettings, enforce_retention as enforce
    from marketflow.warehouse import warehouse_engine

    landing = Landing(IngestSettings.from_env().landing_url)
    removed = enforce(warehouse_engine(), day, RetentionSettings.from_env(), landing, outbox=local_outbox(),
                      logs=Path(conf.get("logging", "base_log_folder")))
    return {item.target: item.count for item in removed}
