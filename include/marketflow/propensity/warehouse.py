"""The propensity stage against the warehouse: train as of a date, ensure a usable model, score one
customer shard of a day's profile snapshot, replacing exactly that shard's rows in one transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Connection, Engine, delete, func, insert, select

from marketflow.days import day_list
from marketflow.profiles.settings import ProfileSettings
from marketflow.profiles.warehouse import read_orders
from marketflow.propensity import library, registry
from marketflow.propensity.features import feature_matrix, home_market
from marketflow.propensity.model import PropensityModel, TrainingReport
from marketflow.propensity.scoring import score_customers, score_without_purchases
from marketflow.propensity.settings import PropensitySettings
from marketflow.propensity.shards import in_shard
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


def read_profiles(engine: Engine, as_of: dt.date) -> pd.DataFrame:
    """The stored profile snapshot of `as_of` (the columns the features need)."""
    table = schema.customer_profiles
    with engine.connect() as conn:
        return pd.read_sql(select(table).where(table.c.as_of_date == as_of).order_by(table.c.customer_id), conn)


def known_customers(conn: Connection, as_of: dt.date) -> set[str]:
    """Every customer the warehouse knows on `as_of`: an order line of any kind, or a CRM record."""
    orders, events = schema.orders, schema.consent_events
    ordered = select(orders.c.customer_id).where(orders.c.order_date <= as_of, orders.c.customer_id.is_not(None)).distinct()
    listed = select(events.c.customer_id).where(events.c.effective_date <= as_of).distinct()
    return set(conn.execute(ordered).scalars()) | set(conn.execute(listed).scalars())


def score_shard(engine: Engine, as_of: dt.date, model_id: str, shard: int, settings: PropensitySettings) -> int:
    """Score the shard's customers of the `as_of` snapshot, and every other customer of the shard
    known that day (no product purchase yet: the model's `no_purchase_rate`), replacing the shard's
    rows of that day (rows of customers no longer scored included); returns the rows written."""
    profiles = read_profiles(engine, as_of)
    home = home_market(profiles)  # the whole snapshot's, as at training
    profiles = profiles[profiles["customer_id"].isin(in_shard(profiles["customer_id"], shard, settings.shards))]
    table = schema.audience_scores
    with engine.connect() as conn:
        model = PropensityModel.from_json(registry.read_artifact(registry.registered(conn, model_id).artifact_uri))
        stored = conn.execute(select(table.c.customer_id).where(table.c.as_of_date == as_of)).scalars().all()
        without = sorted(set(in_shard(known_customers(conn, as_of), shard, settings.shards)) - set(profiles["customer_id"]))
    parts = []
    if len(profiles):
        parts.append(score_customers(model, feature_matrix(profiles, home), settings.top_reasons))
    if without and model.no_purchase_rate is not None:
        parts.append(score_without_purchases(model, without))
    elif without:
        log.warning("%s: %d customers without a product purchase left unscored: model %s predates "
                    "no_purchase_rate (the next retraining scores them)", as_of, len(without), model_id)
    scores = pd.concat(parts, ignore_index=True) if parts else None
    replaced = sorted(set(in_shard(stored, shard, settings.shards)) | set(profiles["customer_id"]) | set(without))
    with engine.begin() as conn:
        for start in range(0, len(replaced), 5000):
            chunk = replaced[start : start + 5000]
            conn.execute(delete(table).where(table.c.as_of_date == as_of, table.c.customer_id.in_(chunk)))
        if scores is not None:
            rows = [
                {
                    "as_of_date": as_of,
                    "customer_id": customer,
                    "model_id": model_id,
                    "propensity_30d": float(p),
                    "top_reasons": reasons,
                }
                for customer, p, reasons in zip(
                    scores["customer_id"], scores["propensity_30d"], scores["top_reasons"], strict=True
                )
            ]
            conn.execute(insert(table), rows)
    return 0 if scores is None else len(scores)


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
