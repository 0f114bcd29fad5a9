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

**Tasks** (the customers are sharded, so no worker holds every customer's order lines):
- `prepare_days`: what is the whole shop's, from warehouse aggregates: each day's `product_groups`
  and `product_stats`, the month's lifetime-value model (a few floats, passed on through XCom).
- `build_shard`: dynamic task mapping over the plan's customer shards (N equal ranges of a stable
  hash of customer_id): `MARKETFLOW_PROFILES_SHARDS` (default 4), or more when the history up to
  the run's last day has over `MARKETFLOW_PROFILES_LINES_PER_SHARD` order lines a shard (default
  5,000,000, about 1.7 GB of a task's memory); each reads only its customers' orders (on
  PostgreSQL, only the `orders` partitions of its range) and consent events, once
  for all the run's days, and stages their profiles (all but the RFM scores) in
  `customer_profiles_staging`, replacing its own staged rows.
- `build_snapshots`: scores each day's staged profiles across all its customers (RFM quintiles rank
  the whole day) and replaces the day in `customer_profiles` in one transaction (readers never see
  a half-built day); fails, changing nothing, unless every shard's rows are staged.
- `summarise_segments`: logs the customers per segment and publishes the
  `marketflow_customer_profiles` asset naming every day built (`partition_dates`; the last also as
  `partition_date`) and the newest orders event answered (`answered_through`), which starts
  `score_audiences`.

A retried shard replaces only its own staged rows; re-running the run (or clearing from
`prepare_days` on) leaves identical rows. A run whose staged rows are not exactly its shards' fails
in `build_snapshots`, changing nothing.
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
    def prepare_days(days: list[str]) -> dict:
        """Each day's product groups and statistics, the month's lifetime-value models, and the plan
        the shards share (JSON: days, shard count, model parameters)."""
        import datetime as dt

        from marketflow.profiles.settings import ProfileSettings
        from marketflow.profiles.warehouse import prepare_days as prepare
        from marketflow.warehouse import warehouse_engine

        plan = prepare(warehouse_engine(), [dt.date.fromisoformat(day) for day in days], ProfileSettings.from_env())
        log.info("%d customer shards for %s", plan.shards, ", ".join(days))
        return plan.as_xcom()

    @task
    def shard_numbers(plan: dict) -> list[int]:
        """One mapped profile task per shard of the plan."""
        return list(range(plan["shards"]))

    @task
    def build_shard(shard: int, plan: dict) -> dict[str, int]:
        """Stage the profiles of one shard's customers for each day; returns the rows per day."""
        from marketflow.profiles.settings import ProfileSettings
        from marketflow.profiles.warehouse import DayPlan
        from marketflow.profiles.warehouse import build_shard as build
        from marketflow.warehouse import warehouse_engine

        rows = build(warehouse_engine(), DayPlan.from_xcom(plan), shard, ProfileSettings.from_env())
        for day, count in rows.items():
            log.info("shard %d of %s: %d customers staged", shard, day, count)
        return {day.isoformat(): count for day, count in rows.items()}

    @task
    def build_snapshots(plan: dict, shard_rows: list[dict[str, int]]) -> list[str]:
        """Score each day's staged profiles and publish the day in one transaction; returns the days
        built."""
        import datetime as dt

        from marketflow.profiles.warehouse import DayPlan, finish_days
        from marketflow.warehouse import warehouse_engine

        rows = [{dt.date.fromisoformat(day): count for day, count in shard.items()} for shard in shard_rows]
        summaries = finish_days(warehouse_engine(), DayPlan.from_xcom(plan).days, rows)
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
    plan = prepare_days(work["days"])
    staged = build_shard.partial(plan=plan).expand(shard=shard_numbers(plan))
    summarise_segments(build_snapshots(plan, staged), work["answered_through"])


build_profiles()
