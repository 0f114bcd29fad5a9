"""Ingest stage: the shop's daily order and CRM exports -> validated warehouse tables.

Public API (the DAG `ingest_orders` is a thin caller of these):

- `ingest_orders_day(engine, landing_url, day, settings)` / `ingest_customers_day(...)` -> `IngestReport`
- `record_no_trading_day(engine, day, settings)` for a closed day without exports
- `ingest_files(engine, landing_url, kind, days, settings)`: one export kind for several days at once
- `ingest_day(...)`: what a DAG run does for its day; `ingest_history(engine, landing_url, start, end,
  settings)`: a range in batches of `batch_days` (backfills, other stages' tests, the bench), each day
  with the outcome its own run would give it
- `IngestSettings` (typed, env overrides) and the trading calendar (`closure_reason`, `is_trading_day`)
"""

from marketflow.ingest.calendar import closure_reason, is_trading_day
from marketflow.ingest.days import ingest_customers_day, ingest_files, ingest_orders_day, record_no_trading_day
from marketflow.ingest.errors import ExportFileError, ExportMissing, IngestError, ValidationFailed
from marketflow.ingest.history import ingest_day, ingest_history
from marketflow.ingest.report import IngestReport
from marketflow.ingest.settings import IngestSettings

__all__ = [
    "ExportFileError",
    "ExportMissing",
    "IngestError",
    "IngestReport",
    "IngestSettings",
    "ValidationFailed",
    "closure_reason",
    "ingest_customers_day",
    "ingest_day",
    "ingest_files",
    "ingest_history",
    "ingest_orders_day",
    "is_trading_day",
    "record_no_trading_day",
]
