"""ingest_orders: the shop's daily exports -> validated `orders`, `consent_events` and friends."""

from __future__ import annotations

from typing import Any

from airflow.sdk import dag, task
from airflow.timetables.interval import CronDataIntervalTimetable

from marketflow.assets import ORDERS
from marketflow.dag_defaults import DEFAULT_ARGS, deployment_start, tags
from marketflow.ingest import tasks
from marketflow.ingest.sensor import ExportSensor, partition_day
from marketflow.ingest.settings import IngestSettings

_settings = IngestSettings.from_env()

DOC = """
### Ingest the day's order and CRM exports

Each run loads one day, **D = the last day of its data interval** (`marketflow.days`): the run
with interval [D, D+1) starts at D+1 00:00 UTC. It reads `<landing>/D.csv` (order lines) and
`<landing>/customers-D.csv` (CRM: e-mail and marketing consent) from `MARKETFLOW_LANDING_URL`
(a folder, `s3://...`, any fsspec URL; default `$AIRFLOW_HOME/landing`). Runs start on the
deployment's first day (`MARKETFLOW_START_DATE`, default: the oldest export in a local landing
folder) and catch up in order, one day at a time.

1. **check_trading_day**: if the shop was closed on D (Saturday, English bank holiday, Christmas
   shutdown, configured closures) and nothing arrived, records `ingest_days.status = no_trading`
   and goes straight to `publish_orders` (the day is complete: it has no orders). Files that do
   arrive on a closed day are ingested.
2. **wait_for_export**: waits for both files in *reschedule* mode, until
   `MARKETFLOW_INGEST_EXPORT_TIMEOUT_S` after the export was due (D+1 00:00). It fails at once,
   naming the missing files and the newest export present, when that time has passed (a catch-up
   or backfill of days without exports) or when a later day's export has already arrived.
3. **apply_erasure_requests**: erases everyone named in `<landing>/erasure-requests-D.csv` (the
   requests the shop received on D: `customer_id,requested_at,reference`; no file, no requests)
   before D's exports load, so their lines load unlinked (`marketflow.privacy.requests`). It runs
   on closed days too, and even when the exports never came. A malformed file fails it, naming
   the file and line: nothing of it is applied until fixed.
4. **validate_and_load_orders**, **load_crm_export**: parse, validate with Great Expectations,
   quarantine the rows that break a hard rule (table `quarantine`: reason, file, line, raw text) and
   replace day D in one transaction (`orders`, `products`, `customers`; `consent_events`,
   `customer_contacts`). If more than `MARKETFLOW_INGEST_MAX_BAD_ROW_SHARE` of the rows are bad, or
   the row count is implausible, nothing is published and the task fails at once (no retries: the
   file needs fixing), naming the file and the failing expectations. Every attempt's validation
   result is in `ingest_days`.
5. **publish_orders**: emits the `marketflow_orders` asset event for D (`partition_date`, rows
   loaded and quarantined, or `no_trading`), which starts `build_profiles` for D.

6. **enforce_retention**: removes what is past its retention as of D (`marketflow.privacy.retention`,
   `MARKETFLOW_RETENTION_*`): landing files and quarantined lines, message bodies, engagement
   events, Airflow log files; the counts go to `retention_runs`.

Re-running a date, or backfilling a range again, leaves the warehouse identical. Backfill with
`marketflow backfill ingest_orders --from-date A --to-date B` (days load in order; see README), or
load a long range fast with `marketflow ingest load-range`. A manual trigger (or `airflow dags test
ingest_orders X`) covers the last complete day before X, i.e. X - 1 day.
"""


@dag(
    dag_id="ingest_orders",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=deployment_start(),
    catchup=True,
    # Days load one after another: each reads the days before it (row-count sanity) and refreshes
    # products/customers that neighbouring days share.
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=tags("ingest"),
    doc_md=DOC,
)
def ingest_orders() -> None:
    @task.branch(task_id="check_trading_day")
    def check_trading_day(**context: Any) -> list[str]:
        if tasks.check_trading_day(partition_day(context)):
            return ["wait_for_export", "publish_orders"]
        return ["publish_orders"]

    wait_for_export = ExportSensor(
        task_id="wait_for_export",
        poke_interval=_settings.export_poke_interval_s,
        timeout=_settings.export_timeout_s,
    )

    @task(task_id="validate_and_load_orders", multiple_outputs=False)
    def validate_and_load_orders(**context: Any) -> dict[str, Any]:
        return tasks.load_orders(partition_day(context))

    @task(task_id="load_crm_export", multiple_outputs=False)
    def load_crm_export(**context: Any) -> dict[str, Any]:
        return tasks.load_customers(partition_day(context))

    # all_done: requests are applied on closed days (the sensor skipped) and when the export is late
    @task(task_id="apply_erasure_requests", trigger_rule="all_done")
    def apply_erasure_requests(**context: Any) -> dict[str, Any]:
        return tasks.apply_erasure_requests(partition_day(context))

    @task(task_id="publish_orders", outlets=[ORDERS], trigger_rule="none_failed_min_one_success")
    def publish_orders(**context: Any) -> dict[str, Any]:
        extra = tasks.published_day(partition_day(context))
        context["outlet_events"][ORDERS].extra = extra
        return extra

    @task(task_id="enforce_retention")
    def enforce_retention(**context: Any) -> dict[str, int]:
        return tasks.enforce_retention(partition_day(context))

    checked, erasures, publish = check_trading_day(), apply_erasure_requests(), publish_orders()
    loads = [validate_and_load_orders(), load_crm_export()]
    checked >> [wait_for_export, publish]
    wait_for_export >> erasures >> loads >> publish
    wait_for_export >> loads
    erasures >> publish >> enforce_retention()


ingest_orders()
