"""
### Customer profiles and segments, correct as of every date

Builds the snapshot **as of** a day from the orders and consent events dated on or before it:

- `customer_profiles`: one row per customer (recency, frequency, spend, returns, purchases in the
  last 30/90/365 days, favourite products and product group, price band, consent, RFM scores,
  segment, expected purchases and spend over the next 90 days);
- `product_groups`: every product's group (named after the words its members share);
- `product_stats`: product popularity and trend over the last 30 days.

**When it runs**
- When `ingest_orders` publishes the orders asset: rebuilds each day named by the events'
  `partition_date` (re-ingesting an old day rebuilds that day).
- Daily at 00:00 UTC for the day that just ended (the orders asset normally arrives first).
- Backfill: `airflow backfill create --dag-id build_profiles --from-date A --to-date B` builds each day.
- Rebuild a range in one run: trigger with params `rebuild_from` / `rebuild_to` (YYYY-MM-DD).

Each day is replaced in one transaction, so re-running leaves identical rows. The
`summarise_segments` log shows the customers per segment; the task publishes the
`marketflow_customer_profiles` asset with the last day built as `partition_date` (all of them in
`partition_dates`).
Column meanings and segment rules: `include/marketflow/profiles/README.md`.
"""

from __future__ import annotations

import logging

from airflow.sdk import AssetOrTimeSchedule, CronDataIntervalTimetable, Param, dag, get_current_context, task

from marketflow.assets import CUSTOMER_PROFILES, ORDERS, PARTITION_KEY
from marketflow.dag_defaults import DEFAULT_ARGS, HISTORY_START, tags

log = logging.getLogger(__name__)


@dag(
    dag_id="build_profiles",
    schedule=AssetOrTimeSchedule(
        timetable=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"), assets=[ORDERS]
    ),
    start_date=HISTORY_START,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=tags("profiles"),
    params={
        "rebuild_from": Param(None, type=["null", "string"], format="date", description="first day to rebuild"),
        "rebuild_to": Param(None, type=["null", "string"], format="date", description="last day to rebuild"),
    },
    doc_md=__doc__,
)
def build_profiles() -> None:
    @task
    def resolve_as_of_dates() -> list[str]:
        """The days this run builds (from the triggering orders events, the params or the interval);
        a run that names no valid day fails at once, without retries."""
        from airflow.sdk.exceptions import AirflowFailException

        from marketflow.profiles.runs import as_of_dates

        context = get_current_context()
        events = context["triggering_asset_events"]
        extras = [dict(event.extra or {}) for event in events[ORDERS]] if ORDERS in events else []
        try:
            days = as_of_dates(
                triggering_extras=extras,
                data_interval_start=context.get("data_interval_start"),
                rebuild_from=context["params"].get("rebuild_from"),
                rebuild_to=context["params"].get("rebuild_to"),
            )
        except ValueError as error:
            raise AirflowFailException(str(error)) from error
        log.info("building %d day(s): %s .. %s", len(days), days[0], days[-1])
        return [day.isoformat() for day in days]

    @task
    def build_snapshots(days: list[str]) -> list[str]:
        """Profiles, product groups and product statistics of each day, one transaction per day;
        returns the days built."""
        import datetime as dt

        from marketflow.profiles.settings import ProfileSettings
        from marketflow.profiles.warehouse import build_days
        from marketflow.warehouse import warehouse_engine

        as_of_days = [dt.date.fromisoformat(day) for day in days]
        summaries = build_days(warehouse_engine(), as_of_days, ProfileSettings.from_env())
        for s in summaries:
            log.info("%s: %d customers, %d products in %d groups", s.as_of, s.customers, s.products, s.groups)
        return [s.as_of.isoformat() for s in summaries]

    @task(outlets=[CUSTOMER_PROFILES])
    def summarise_segments(built: list[str]) -> None:
        """Log the stored segment counts of each day built (a table for the last) and publish the
        profiles asset."""
        import datetime as dt

        from marketflow.profiles.runs import segment_summary
        from marketflow.profiles.warehouse import stored_segment_counts
        from marketflow.warehouse import warehouse_engine

        engine = warehouse_engine()
        days = [dt.date.fromisoformat(day) for day in built]
        for day in days[:-1]:
            counts = stored_segment_counts(engine, day)
            log.info("%s: %s", day, ", ".join(f"{segment}={customers}" for segment, customers in counts.items()))
        log.info("%s", segment_summary(days[-1], stored_segment_counts(engine, days[-1])))
        context = get_current_context()
        context["outlet_events"][CUSTOMER_PROFILES].extra = {
            PARTITION_KEY: days[-1].isoformat(),
            "partition_dates": [day.isoformat() for day in days],
        }

    summarise_segments(build_snapshots(resolve_as_of_dates()))


build_profiles()
