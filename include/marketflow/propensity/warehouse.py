"""The propensity stage against the warehouse: train as of a date, ensure a usable model, score one
customer shard of a day's profile snapshot, replacing exactly that shard's rows in one transaction,
and explain stored scores on demand (exact TreeSHAP reasons, for the customers someone looks at).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import repeat

import pandas as pd
from sqlalchemy import ColumnElement, Connection, Engine, Select, delete, func, select, union

from marketflow.days import day_list
from marketflow.profiles.settings import ProfileSettings
from marketflow.profiles.warehouse import read_orders
from marketflow.propensity import library, registry
from marketflow.propensity.features import PROFILE_FEATURES, feature_matrix
from marketflow.propensity.model import PropensityModel, TrainingReport
from marketflow.propensity.scoring import NO_PURCHASE_REASON, SCORE_RTOL, exact_reasons
from marketflow.propensity.settings import PropensitySettings
from marketflow.shards import in_shard_clause, shard_rows
from marketflow.warehouse import schema

log = logging.getLogger(__name__)


def train_as_of(
    engine: Engine, as_of: dt.date, settings: PropensitySettings, profile_settings: ProfileSettings
) -> tuple[PropensityModel, TrainingReport]:
    """A model trained on the warehouse's orders dated on or before `as_of` only (labels included)."""
    return library.train(read_orders(engine, as_of), as_of, settings, profile_settings)


@dataclass(frozen=True)
class ModelChoice:
    model_id: str
    trained: bool
    status: str

    def as_dict(self) -> dict[str, object]:
        return {"model_id": self.model_id, "trained": self.trained, "status": self.status}


def ensure_model(
    engine: Engine, as_of: dt.date, settings: PropensitySettings, profile_settings: ProfileSettings
) -> ModelChoice:
    """The model that scores `as_of`: a registered one young enough, else one trained now."""
    with engine.connect() as conn:
        found = registry.usable_model(conn, as_of, settings.retrain_after_days)
    if found is not None:
        return ModelChoice(found.model_id, trained=False, status="reused")
    model, report = train_as_of(engine, as_of, settings, profile_settings)
    artifact = model.to_json()
    model_id = registry.model_id_for(as_of, artifact)
    uri = registry.write_artifact(settings.model_store, model_id, artifact)
    with engine.begin() as conn:
        status = registry.register_and_promote(
            conn,
            model_id=model_id,
            trained_as_of=as_of,
            data_start=report.train_cutoffs[0],
            data_end=as_of,
            params={
                **settings.lightgbm_params(),
                "num_boost_round": settings.num_boost_round,
                "ensemble_size": settings.ensemble_size,
                "horizon_days": settings.horizon_days,
                "cutoff_step_days": settings.cutoff_step_days,
            },
            metrics=report.as_dict(),
            artifact_uri=uri,
        )
    return ModelChoice(model_id, trained=True, status=status)


def missing_snapshots(engine: Engine, days: list[dt.date]) -> str | None:
    """Why `days` cannot be scored (a day without a profile snapshot), or None. Profiles are built by
    the profile stage only: scoring never builds or falls back to an older snapshot."""
    table = schema.customer_profiles
    with engine.connect() as conn:
        built = set(
            conn.execute(
                select(table.c.as_of_date).where(table.c.as_of_date.in_(days)).distinct()
            ).scalars()
        )
    missing = [day for day in days if day not in {_as_date(d) for d in built}]
    if not missing:
        return None
    return (
        f"no customer_profiles snapshot as of {day_list(missing)}: build_profiles has not built the day(s) "
        "(or nobody had bought anything by then)"
    )


def _as_date(value: object) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


#: The snapshot columns the features are computed from: scoring reads no others (the favourite
#: products and the like are JSON, slow to decode and unused here).
FEATURE_INPUTS = ("customer_id", "country", "price_band", *PROFILE_FEATURES)

#: Customer ids per `IN (...)` list (SQLite allows 32,766 parameters a statement).
_CHUNK = 5000


def read_profiles(
    conn: Connection,
    as_of: dt.date,
    customer_ids: Sequence[str] | None = None,
    *,
    shard: int | None = None,
    shards: int = 1,
) -> pd.DataFrame:
    """The `FEATURE_INPUTS` of the stored profile snapshot of `as_of`: every customer's by customer
    id, only those of `customer_ids`, or only those of `shard` (of `shards`: the warehouse filters
    them, so a shard task reads its own rows only)."""
    table = schema.customer_profiles
    query = select(*(table.c[name] for name in FEATURE_INPUTS)).where(table.c.as_of_date == as_of)
    if customer_ids is not None:
        return _read_for(conn, query, table.c.customer_id, customer_ids)
    if shard is not None:
        query = query.where(shard_rows(table, shard, shards, conn.dialect.name))
    query = query.order_by(table.c.customer_id)
    sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    cursor = conn.connection.dbapi_connection.cursor()
    if conn.dialect.name != "postgresql":
        # the driver's rows as they are: SQLAlchemy's per-row processing cost more than the query
        cursor.execute(sql)
        return pd.DataFrame(cursor.fetchall(), columns=list(FEATURE_INPUTS))
    # COPY as CSV: half the time of fetching rows through the driver; pandas parses floats exactly
    buffer = io.StringIO()
    cursor.copy_expert(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", buffer)
    buffer.seek(0)
    text = {name: str for name in ("customer_id", "country", "price_band")}
    return pd.read_csv(buffer, names=list(FEATURE_INPUTS), dtype=text, keep_default_na=False, na_values=[""])


def _read_for(conn: Connection, query: Select, column: ColumnElement, ids: Sequence[str]) -> pd.DataFrame:
    """The rows of `query` whose `column` is one of `ids`, read `_CHUNK` ids a statement."""
    ids = sorted(set(ids))
    parts = [
        pd.read_sql(query.where(column.in_(ids[start : start + _CHUNK])), conn) for start in range(0, len(ids), _CHUNK)
    ]
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=list(query.selected_columns.keys()))


def snapshot_home_market(conn: Connection, as_of: dt.date) -> str | None:
    """`home_market` of the whole `as_of` snapshot, counted by the warehouse: the most common country
    (NULL left out), a tie going to the country seen first in customer-id order, as `value_counts`
    breaks it on the snapshot `read_profiles` reads (tests/propensity/test_home_market.py)."""
    table = schema.customer_profiles
    customers, first = func.count().label("customers"), func.min(table.c.customer_id).label("first_customer")
    query = (
        select(table.c.country, customers, first)
        .where(table.c.as_of_date == as_of, table.c.country.is_not(None))
        .group_by(table.c.country)
        .order_by(customers.desc(), first)
        .limit(1)
    )
    found = conn.execute(query).first()
    return None if found is None else found.country


def _unprofiled_in_shard(
    conn: Connection, ids: Select, customer_id: ColumnElement, as_of: dt.date, shard: int, shards: int
) -> list[str]:
    """The `customer_id`s of `ids` without a profile in the `as_of` snapshot that fall in `shard`,
    sorted. Materialised before the shard filter, so the warehouse hashes only these few ids (both
    dialects would otherwise push the filter down to every order or score row)."""
    profiles = schema.customer_profiles
    profiled = select(profiles.c.customer_id).where(
        profiles.c.as_of_date == as_of, profiles.c.customer_id == customer_id
    )
    candidates = ids.where(~profiled.exists()).cte("unprofiled").prefix_with("MATERIALIZED")
    found = select(candidates.c.customer_id).where(in_shard_clause(candidates.c.customer_id, shard, shards))
    return sorted(conn.execute(found).scalars())


def known_without_profile(conn: Connection, as_of: dt.date, shard: int, shards: int) -> list[str]:
    """The shard's customers known on `as_of` (an order line of any kind, or a CRM record) who have no
    profile that day (no product purchase yet), sorted."""
    customers, events = schema.customers, schema.consent_events
    # a customer's first order day (any line, returns included) is kept in `customers` with the orders,
    # in the load's transaction (`ingest.derived`): a row a customer instead of every order line of the
    # history (bench/scale x250: 3.2 s against 32.9 s for one shard, the same customers)
    ordered = select(customers.c.customer_id).where(customers.c.first_order_date <= as_of)
    listed = select(events.c.customer_id).where(events.c.effective_date <= as_of)
    if conn.dialect.name == "postgresql":  # the shard's own rows, by their stored hash (migration 0016)
        ordered = ordered.where(shard_rows(customers, shard, shards, conn.dialect.name))
        listed = listed.where(shard_rows(events, shard, shards, conn.dialect.name))
    known = union(ordered, listed).subquery("known")
    return _unprofiled_in_shard(conn, select(known.c.customer_id), known.c.customer_id, as_of, shard, shards)


def load_model(conn: Connection, model_id: str) -> PropensityModel:
    """The registered model `model_id`, from its artifact."""
    return PropensityModel.from_json(registry.read_artifact(registry.registered(conn, model_id).artifact_uri))


def score_shard(engine: Engine, as_of: dt.date, model_id: str, shard: int, settings: PropensitySettings) -> int:
    """Score the shard's customers of the `as_of` snapshot, and every other customer of the shard
    known that day (no product purchase yet: the model's `no_purchase_rate`), replacing the shard's
    rows of that day (rows of customers no longer scored included) in one transaction; returns the
    rows written. Scores only: their reasons are computed where they are read (`explain_scores`).
    Every read is the shard's own rows (PostgreSQL: an index range of their stored hash, migration
    0016; SQLite: `marketflow_shard` per row), but for the home market, one count per country of the
    whole snapshot (as at training)."""
    with engine.connect() as conn:
        profiles = read_profiles(conn, as_of, shard=shard, shards=settings.shards)
        home = snapshot_home_market(conn, as_of)
        without = known_without_profile(conn, as_of, shard, settings.shards)
        model = load_model(conn, model_id)
    customers = profiles["customer_id"].tolist()
    scores = model.predict(feature_matrix(profiles, home)).tolist()
    if without and model.no_purchase_rate is not None:
        customers += without
        scores += [model.no_purchase_rate] * len(without)
    elif without:
        log.warning("%s: %d customers without a product purchase left unscored: model %s predates "
                    "no_purchase_rate (the next retraining scores them)", as_of, len(without), model_id)
    with engine.begin() as conn:
        _replace_shard(conn, as_of, shard, settings.shards, model_id, customers, scores)
    return len(customers)


def _replace_shard(
    conn: Connection, as_of: dt.date, shard: int, shards: int, model_id: str, customers: list[str], scores: list[float]
) -> None:
    """Replace the shard's rows of `as_of` (its customers' and, by their hash, those of customers no
    longer scored) with these, as plain tuples in bulk: SQLAlchemy's per-row parameter processing
    cost more than the scoring. PostgreSQL: one delete of the shard's rows (an index range of their
    stored hash), then COPY. SQLite, whose `marketflow_shard` is a Python call per row: the driver's
    executemany of an upsert of the customers' rows (half the time of a delete and an insert each),
    and a delete of the shard's other rows, found among the day's few rows without a profile."""
    table = schema.audience_scores
    names = "as_of_date, customer_id, model_id, propensity_30d"
    rows = zip(repeat(as_of.isoformat()), customers, repeat(model_id), scores)
    if conn.dialect.name == "postgresql":
        conn.execute(
            delete(table).where(table.c.as_of_date == as_of, shard_rows(table, shard, shards, conn.dialect.name))
        )
        buffer = io.StringIO()
        csv.writer(buffer, quoting=csv.QUOTE_NONNUMERIC).writerows(rows)  # quoted: "" stays an empty string
        buffer.seek(0)
        conn.connection.dbapi_connection.cursor().copy_expert(
            f"COPY audience_scores ({names}) FROM STDIN WITH (FORMAT csv)", buffer
        )
        return
    stored = select(table.c.customer_id).where(table.c.as_of_date == as_of)
    gone = set(_unprofiled_in_shard(conn, stored, table.c.customer_id, as_of, shard, shards)).difference(customers)
    day = as_of.isoformat()
    if gone:  # an empty parameter list would run the statement once, unbound
        conn.exec_driver_sql(
            "DELETE FROM audience_scores WHERE as_of_date = ? AND customer_id = ?", [(day, c) for c in sorted(gone)]
        )
    if customers:
        conn.exec_driver_sql(
            f"INSERT INTO audience_scores ({names}) VALUES (?, ?, ?, ?) ON CONFLICT (as_of_date, customer_id) "
            "DO UPDATE SET model_id = excluded.model_id, propensity_30d = excluded.propensity_30d",
            list(rows),
        )


def explain_scores(
    conn: Connection, as_of: dt.date, customer_ids: Sequence[str], count: int
) -> dict[str, dict[str, float] | None]:
    """customer_id -> the reasons of their stored score of `as_of`, for any customers, on demand: the
    `count` largest TreeSHAP contributions of the model that scored them, on their row of the same
    snapshot, checked to add up to the stored score (`scoring.exact_reasons`); the no-purchase reason
    for a score at the model's `no_purchase_rate`. None: the score cannot be explained exactly (its
    model has no artifact, or the snapshot no longer gives that score). Customers without a stored
    score that day are left out."""
    table = schema.audience_scores
    query = select(table.c.customer_id, table.c.model_id, table.c.propensity_30d).where(table.c.as_of_date == as_of)
    stored = _read_for(conn, query, table.c.customer_id, customer_ids)
    if stored.empty:
        return {}
    profiles = read_profiles(conn, as_of, stored["customer_id"].tolist()).set_index("customer_id", drop=False)
    home = snapshot_home_market(conn, as_of)
    explained: dict[str, dict[str, float] | None] = {}
    for model_id, scored in stored.groupby("model_id", sort=True):
        artifact_uri = registry.registered(conn, model_id).artifact_uri
        if artifact_uri is None:
            explained.update(dict.fromkeys(scored["customer_id"]))
            continue
        model = PropensityModel.from_json(registry.read_artifact(artifact_uri))
        has_profile = scored["customer_id"].isin(profiles.index)
        profiled, unprofiled = scored[has_profile], scored[~has_profile]
        if len(profiled):
            features = feature_matrix(profiles.loc[profiled["customer_id"]], home)
            reasons = exact_reasons(model, features, profiled["propensity_30d"].to_numpy(), count)
            explained.update(zip(profiled["customer_id"], reasons, strict=True))
        rate = model.no_purchase_rate
        for customer, score in zip(unprofiled["customer_id"], unprofiled["propensity_30d"], strict=True):
            at_rate = rate is not None and math.isclose(score, rate, rel_tol=SCORE_RTOL)
            explained[customer] = {NO_PURCHASE_REASON: 0.0} if at_rate else None
    return explained


def stored_scores_summary(engine: Engine, as_of: dt.date) -> dict[str, object]:
    """Rows, mean propensity and models of the stored scores of `as_of` (for the run's log)."""
    table = schema.audience_scores
    with engine.connect() as conn:
        rows, mean = conn.execute(
            select(func.count(), func.avg(table.c.propensity_30d)).where(table.c.as_of_date == as_of)
        ).one()
        models = conn.execute(select(table.c.model_id).where(table.c.as_of_date == as_of).distinct()).scalars().all()
    return {
        "as_of": as_of.isoformat(),
        "rows": int(rows),
        "mean_propensity": None if mean is None else round(float(mean), 4),
        "models": sorted(models),
    }
