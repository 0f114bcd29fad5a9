"""
### Customer profiles and segments, correct as of every day

Builds the snapshot **as of** day D from the orders and consent events dated on or before D:

- `customer_profiles`: one row per customer (recency, frequency, spend, returns, purchases in the
  last 30/90/365 days, favourite products and product group, price band, consent, RFM scores,
  segment, expected purchases and spend over the next 90 days);
- `product_groups`: every product's group (named after the words its members share);
- `product_stats`: product popularity and trend over the last 30 days.

**When it runs**: when `ingest_orders` publishes the orders asset (data-aware, no clock): it
builds each day D named by the events' `partition_date`, so a re-ingested old day is rebuilt too
(also the days of orders events sent after its triggering ones, which Airflow 3.3 may leave
unconsumed; a day another run built after its events is not built again, and a run left with
nothing to do is skipped).
Before building, it checks that both exports of every such day are ingested; a day that is not
fails the run at once, naming the day (no snapshot is built on incomplete orders).

**Backfill**: backfill `ingest_orders` and the profiles follow by data, or rebuild a range in one
run: trigger with params `rebuild_from` / `rebuild_to` (YYYY-MM-DD), or
`marketflow profiles build --date A --to B`. A manual run without params builds the day before
its logical date.

Each day is replaced in one transaction, so re-running leaves identical rows. The
`summarise_segments` log shows the customers per segment; the task publishes the
`marketflow_customer_profiles` asset naming every day built (`partition_dates`; the last also as
`partition_date`) and the newest orders event answered (`answered_through`), which starts
`score_audiences`.
Column meanings and segment rules: `include/marketflow/profiles/README.md`.
"""

from __future__ import annotations

import logging

from airflow.sdk import Param, dag, get_current_context, task

from marketflow.assets import CUSTOMER_PROFILES, ORDERS
from marketflow.dag_defaults import DEFAULT_ARGS, deployment_start, tags

log = logging.getLogger(__name__)


@dag(
    dag_id="build_profiles",
    schedule=[ORDERS],
    start_date=deployment_start(),
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
    @task(inlets=[ORDERS, CUSTOMER_PROFILES], multiple_outputs=True)
    def resolve_as_of_dates() -> dict[str, object]:
        """The days this run builds (from the orders events, the params or the interval); a run that
        names no valid day, or a day whose exports are not ingested, fails at once; one whose days
        another run already built after their events is skipped."""
        from airflow.sdk.exceptions import AirflowFailException

        from marketflow.days import resolve_event_work
        from marketflow.profiles.runs import missing_orders
        from marketflow.warehouse import warehouse_engine

        work = resolve_event_work(get_current_context(), ORDERS, CUSTOMER_PROFILES, "rebuild_from", "rebuild_to")
        if problem := missing_orders(warehouse_engine(), work.days):
            raise AirflowFailException(problem)
        return work.as_xcom()

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
    def summarise_segments(built: list[str], answered_through: str | None) -> None:
        """Log the stored segment counts of each day built (a table for the last) and publish the
        profiles asset."""
        import datetime as dt

        from marketflow.days import event_extra
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
        context["outlet_events"][CUSTOMER_PROFILES].extra = event_extra(days, answered_through=answered_through)

    work = resolve_as_of_dates()
    summarise_segments(build_snapshots(work["days"]), work["answered_through"])


build_profiles()
