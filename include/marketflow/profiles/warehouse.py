"""The profile stage against the warehouse: a run's days are built in three steps, so no step holds
every customer's order lines (issue 17) and Celery workers share the customers:

1. `prepare_days` (once per run): what is the whole shop's, from warehouse aggregates: each day's
   `product_groups` and `product_stats`, and the month's lifetime-value model fitted on every
   customer's purchase invoices. Returns a `DayPlan` (a few floats per month: XCom-sized).
2. `build_shard` (once per customer shard, any order, in parallel): reads only its customers'
   order lines and consent events, once for all the run's days, and stages their profiles without
   the RFM scores in `customer_profiles_staging` (replacing the shard's staged rows of each day).
3. `finish_days` (once per run): scores each day's staged rows across all its customers (the RFM
   quintiles rank the whole day) and replaces the day in `customer_profiles` in one transaction:
   readers never see a half-built day.

`build_days` runs the three in turn (the CLI and tests); the `build_profiles` DAG maps step 2 over
the shards. The rows are those of `build.SnapshotBuilder` on the whole history
(tests/profiles/test_sharded.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

import pandas as pd
from sqlalchemy import Engine, delete, func, select

from marketflow.profiles.build import STAGED_COLUMNS, DaySnapshot, fit_lifetime_value, unscored_profiles
from marketflow.profiles.clv import BgNbdParams, ClvModel, GammaGammaParams
from marketflow.profiles.groups import GroupModel, groups_as_of
from marketflow.profiles.history import ORDER_COLUMNS, OrderHistory, catalogue_as_of, day_number, prepare_history
from marketflow.profiles.products import stats_from_counts
from marketflow.profiles.queries import (
    publish_scored_day,
    read_descriptions,
    read_first_sale_day,
    read_groups,
    read_history_lines,
    read_product_counts,
    read_purchase_invoices,
)
from marketflow.profiles.segments import SEGMENTS
from marketflow.profiles.settings import ProfileSettings
from marketflow.profiles.tables import insert_frame, read_consent_events, read_orders
from marketflow.shards import shard_rows
from marketflow.warehouse import schema

__all__ = [
    "DayPlan",
    "DaySummary",
    "build_days",
    "build_shard",
    "finish_days",
    "prepare_days",
    "read_consent_events",
    "read_orders",
    "stored_segment_counts",
    "write_snapshot",
]


@dataclass(frozen=True)
class DayPlan:
    """What a run's shard tasks share: the days, the shard count, the shop's first sale day, each
    day's model fit day and each fit day's lifetime-value model (None: not enough history)."""

    days: tuple[dt.date, ...]
    shards: int
    sales_start: int | None
    fit_days: Mapping[dt.date, dt.date]
    clv_models: Mapping[dt.date, ClvModel | None]

    def clv_model(self, day: dt.date) -> ClvModel | None:
        return self.clv_models[self.fit_days[day]]

    def as_xcom(self) -> dict:
        """Plain JSON (floats keep every bit through JSON: Python writes the shortest exact repr)."""
        return {
            "days": [day.isoformat() for day in self.days],
            "shards": self.shards,
            "sales_start": self.sales_start,
            "fit_days": {day.isoformat(): fit.isoformat() for day, fit in self.fit_days.items()},
            "clv_models": {
                fit.isoformat(): None if model is None else {
                    "purchases": asdict(model.purchases),
                    "spend": None if model.spend is None else asdict(model.spend),
                }
                for fit, model in self.clv_models.items()
            },
        }

    @classmethod
    def from_xcom(cls, data: Mapping) -> DayPlan:
        def model(params: Mapping | None) -> ClvModel | None:
            if params is None:
                return None
            spend = params["spend"]
            return ClvModel(BgNbdParams(**params["purchases"]), None if spend is None else GammaGammaParams(**spend))

        day = dt.date.fromisoformat
        return cls(
            days=tuple(day(value) for value in data["days"]),
            shards=int(data["shards"]),
            sales_start=data["sales_start"],
            fit_days={day(key): day(value) for key, value in data["fit_days"].items()},
            clv_models={day(key): model(value) for key, value in data["clv_models"].items()},
        )


def prepare_days(
    engine: Engine, days: Iterable[dt.date], settings: ProfileSettings, shards: int | None = None
) -> DayPlan:
    """Step 1: store each day's product groups and product statistics, fit each month's lifetime
    value model, and clear the days' staging rows (a shard re-run after an earlier run's finish
    leaves none behind). Memory: the products, and one row per purchase invoice up to the last fit
    day for the CLV fit (no order lines). The plan's shard count is `shards`, else sized from the
    history's lines (`ProfileSettings.shards_for`), so a shard's memory stays bounded as it grows."""
    days = tuple(sorted(set(days)))
    last = days[-1]
    shards = shards or settings.shards_for(read_history_lines(engine, last))
    descriptions = read_descriptions(engine, last, settings)
    sales_start = read_first_sale_day(engine, last, settings)
    products = OrderHistory(pd.DataFrame(), pd.DataFrame(), descriptions, sales_start=sales_start)
    fit_days = {day: products.fit_day(day) for day in days}
    clv_models: dict[dt.date, ClvModel | None] = {}
    fitted = [fit for fit in set(fit_days.values()) if _clv_history_suffices(sales_start, fit, settings)]
    if fitted:
        invoices = read_purchase_invoices(engine, max(fitted), settings)
        customers = OrderHistory(invoices, pd.DataFrame(), descriptions, sales_start=sales_start)
        clv_models = {fit: fit_lifetime_value(customers, fit, settings) for fit in fitted}
        del customers, invoices
    clv_models |= {fit: None for fit in fit_days.values() if fit not in clv_models}

    group_models: dict[dt.date, GroupModel | None] = {}
    for day in days:
        groups, group_models[fit_days[day]] = groups_as_of(
            products, day, settings, model=group_models.get(fit_days[day])
        )
        stats = stats_from_counts(read_product_counts(engine, day, settings), day, catalogue_as_of(products, day))
        with engine.begin() as conn:
            for table, frame in ((schema.product_groups, groups), (schema.product_stats, stats)):
                conn.execute(delete(table).where(table.c.as_of_date == day))
                if not frame.empty:
                    insert_frame(conn, table, frame, day)
            staged = schema.customer_profiles_staging
            conn.execute(delete(staged).where(staged.c.as_of_date == day))
    return DayPlan(days, shards, sales_start, fit_days, clv_models)


def _clv_history_suffices(sales_start: int | None, fit_day: dt.date, settings: ProfileSettings) -> bool:
    """`fit_lifetime_value`'s history-length test, to skip reading invoices no model will use."""
    return sales_start is not None and day_number(fit_day) - sales_start >= settings.clv_min_history_days


def build_shard(engine: Engine, plan: DayPlan, shard: int, settings: ProfileSettings) -> dict[dt.date, int]:
    """Step 2: stage the profiles (no scores) of the shard's customers for every day of the plan,
    replacing the shard's staged rows of each day; reads the shard's order lines (their descriptions
    are the shop's: step 1 stored them with the groups) and consent events once. Returns the rows
    staged per day."""
    last = plan.days[-1]
    names = tuple(name for name in ORDER_COLUMNS if name != "description")
    orders = read_orders(engine, last, names, shard=(shard, plan.shards))
    history = prepare_history(orders, settings, descriptions=_NO_DESCRIPTIONS, sales_start=plan.sales_start)
    del orders
    consent = read_consent_events(
        engine, last, shard_rows(schema.consent_events, shard, plan.shards, engine.dialect.name)
    )
    staged = schema.customer_profiles_staging
    rows = {}
    for day in plan.days:
        groups, catalogue = _groups_and_catalogue(engine, day, settings)
        profiles = unscored_profiles(history, day, consent, groups, plan.clv_model(day), settings, catalogue)
        frame = profiles.reset_index().reindex(columns=STAGED_COLUMNS)
        with engine.begin() as conn:
            conn.execute(
                delete(staged).where(
                    staged.c.as_of_date == day, shard_rows(staged, shard, plan.shards, engine.dialect.name)
                )
            )
            if not frame.empty:
                insert_frame(conn, staged, frame, day)
        rows[day] = len(frame)
    return rows


_NO_DESCRIPTIONS = pd.DataFrame({"stock_code": pd.Categorical([]), "day": pd.Series([], dtype="int32"), "description": []})


def _groups_and_catalogue(engine: Engine, day: dt.date, settings: ProfileSettings) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The day's stored product groups, and the shop's catalogue as of the day (stock_code,
    description): the groups list every product sold by then, except on a day without groups (its
    fit day's catalogue had under two products), whose catalogue is read from the orders."""
    groups = read_groups(engine, day)
    if not groups.empty:
        return groups, groups[["stock_code", "description"]]
    products = OrderHistory(pd.DataFrame(), pd.DataFrame(), read_descriptions(engine, day, settings))
    return groups, catalogue_as_of(products, day)


@dataclass(frozen=True)
class DaySummary:
    """What a day's build stored, for a log line."""

    as_of: dt.date
    customers: int
    products: int
    groups: int
    segments: dict[str, int]


def finish_days(
    engine: Engine, days: Sequence[dt.date], shard_rows: Sequence[Mapping[dt.date, int]]
) -> list[DaySummary]:
    """Step 3: score each day's staged profiles and replace the day in `customer_profiles`, one
    transaction per day; fails (changing nothing) when the staged rows are not the sum of
    `shard_rows` (a shard missing or run with another shard count)."""
    staged = schema.customer_profiles_staging
    summaries = []
    for day in days:
        expected = sum(rows.get(day, 0) for rows in shard_rows)
        with engine.begin() as conn:
            found = conn.execute(select(func.count()).where(staged.c.as_of_date == day)).scalar_one()
            if found != expected:
                raise RuntimeError(f"{day}: {found} staged profiles, but the shards staged {expected}")
            publish_scored_day(conn, day)
        summaries.append(stored_summary(engine, day))
    return summaries


def build_days(
    engine: Engine, days: Iterable[dt.date], settings: ProfileSettings, shards: int | None = None
) -> list[DaySummary]:
    """Build and store the snapshot of every day in `days`: the three steps, the shards in turn
    (`shards` of them, else as many as `prepare_days` sizes; each reads its own lines once)."""
    days = sorted(set(days))
    if not days:
        return []
    plan = prepare_days(engine, days, settings, shards)
    rows = [build_shard(engine, plan, shard, settings) for shard in range(plan.shards)]
    return finish_days(engine, plan.days, rows)


def write_snapshot(engine: Engine, snapshot: DaySnapshot) -> None:
    """Replace the day's rows of customer_profiles, product_groups and product_stats with a snapshot
    built in memory (`build.SnapshotBuilder`: benches and the unsharded reference), atomically."""
    tables = (
        (schema.customer_profiles, snapshot.profiles),
        (schema.product_groups, snapshot.product_groups),
        (schema.product_stats, snapshot.product_stats),
    )
    with engine.begin() as conn:
        for table, frame in tables:
            conn.execute(delete(table).where(table.c.as_of_date == snapshot.as_of))
            if not frame.empty:
                insert_frame(conn, table, frame, snapshot.as_of)


def stored_summary(engine: Engine, as_of: dt.date) -> DaySummary:
    """Customers, products, groups and segments of the stored snapshot of `as_of`."""
    groups, stats = schema.product_groups, schema.product_stats
    with engine.connect() as conn:
        products = conn.execute(select(func.count()).where(stats.c.as_of_date == as_of)).scalar_one()
        group_count = conn.execute(
            select(func.count(func.distinct(groups.c.group_id))).where(groups.c.as_of_date == as_of)
        ).scalar_one()
    segments = stored_segment_counts(engine, as_of)
    return DaySummary(as_of, sum(segments.values()), products, group_count, segments)


def stored_segment_counts(engine: Engine, as_of: dt.date) -> dict[str, int]:
    """Customers per segment in the stored snapshot of `as_of` (every segment listed, zeros included)."""
    table = schema.customer_profiles
    query = (
        select(table.c.segment, func.count())
        .where(table.c.as_of_date == as_of)
        .group_by(table.c.segment)
    )
    with engine.connect() as conn:
        counts = dict(conn.execute(query).all())
    return {segment: int(counts.get(segment, 0)) for segment in SEGMENTS}
