"""ingest_orders: the shop's daily exports -> validated `orders`, `consent_events` and friends."""

from __future__ import annotations

from typing import Any

from airflow.sdk import dag, task
from airflow.timetables.interval import CronDataIntervalTimetable

from marketflow.assets import ORDERS, PARTITION_KEY
from marketflow.dag_defaults import DEFAULT_ARGS, HISTORY_START, tags
from marketflow.ingest import tasks
from marketflow.ingest.sensor import ExportSensor, partition_day
from marketflow.ingest.settings import IngestSettings

_settings = IngestSettings.from_env()

DOC = """
### Ingest the day's order and CRM exports

Each run loads one day, **D = the start of its data interval**: the scheduled (or backfill) run with
logical date D covers [D, D+1) and starts at D+1 00:00 UTC. It reads `<landing>/D.csv` (order lines)
and `<landing>/customers-D.csv` (CRM: e-mail and marketing consent) from `MARKETFLOW_LANDING_URL`
(a folder, `s3://...`, any fsspec URL; default `$AIRFLOW_HOME/landing`).

1. **check_trading_day**: if the shop was closed on D (Saturday, English bank holiday, Christmas
   shutdown, configured closures) and nothing arrived, records `ingest_days.status = no_trading` and
   **skips** the rest of the run. Files that do arrive on a closed day are ingested.
2. **wait_for_export**: waits for both files in *reschedule* mode; after
   `MARKETFLOW_INGEST_EXPORT_TIMEOUT_S` it fails, naming the files that never arrived.
3. **validate_and_load_orders**, **load_crm_export**: parse, validate with Great Expectations,
   quarantine the rows that break a hard rule (table `quarantine`: reason, file, line, raw text) and
   replace day D in one transaction (`orders`, `products`, `customers`; `consent_events`,
   `customer_contacts`). If more than `MARKETFLOW_INGEST_MAX_BAD_ROW_SHARE` of the rows are bad, or
   the row count is implausible, nothing is published and the task fails at once (no retries: the
   file needs fixing), naming the file and the failing expectations. Every attempt's validation
   result is in `ingest_days`.
4. **publish_orders**: emits the `marketflow_orders` asset event with `extra.partition_date = D`.

Re-running a date, or backfilling a range again, leaves the warehouse identical. To reload day D,
clear its run, or `airflow backfill create --dag-id ingest_orders --from-date D --to-date D
--reprocess-behavior completed`. A manual trigger (or `airflow dags test ingest_orders X`) covers the
last complete day before X, i.e. X - 1 day.
"""


@dag(
    dag_id="ingest_orders",
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    start_date=HISTORY_START,
    catchup=True,
    # Days load one after another: each reads the days before it (row-count sanity) and refreshes
    # products/customers that neighbouring days share.
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=tags("ingest"),
    doc_md=DOC,
)
def ingest_orders() -> None:
    @task.short_circuit(task_id="check_trading_day", do_xcom_push=False)
    def check_trading_day(**context: Any) -> bool:
        return tasks.check_trading_day(partition_day(context))

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

    @task(task_id="publish_orders", outlets=[ORDERS])
    def publish_orders(orders: dict[str, Any], **context: Any) -> None:
        context["outlet_events"][ORDERS].extra = {
            PARTITION_KEY: partition_day(context).isoformat(),
            "rows_loaded": orders["rows_loaded"],
            "rows_quarantined": orders["rows_quarantined"],
        }

    orders, crm = validate_and_load_orders(), load_crm_export()
    check_trading_day() >> wait_for_export >> [orders, crm]
    crm >> publish_orders(orders)


ingest_orders()
