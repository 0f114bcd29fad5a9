"""Recommendation quality by customer segment and by country, measured at every training.

One overall NDCG@10 can rise while a group of customers gets worse lists: a model that learns the
home market's taste better may serve the smaller countries or the lapsed customers worse. So each
training also scores its hold-out per group, and the Models page warns when a group loses more than
a set share of its NDCG@10 against the version before.

Groups, read from the warehouse:
- segment: the RFM segment as of the day before the hold-out starts (a later one would have seen
  the hold-out's purchases): the profile stage's stored snapshot of that day, or, when it built none
  (a deployment that imported its history in bulk), the same profiles built from the orders up to
  that day; with no orders by then, every customer is "unknown" and `segments_as_of` is None;
- country: `customers.country`, the country of the customer's latest order.

Groups smaller than `min_group_customers` are shown but never warned about: their figure is noise.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import Field
from sqlalchemy import Engine, select

from marketflow.env_settings import JsonEnvLimits
from marketflow.recommend.evaluate import HoldoutTask
from marketflow.warehouse.schema import customer_profiles, customers

THRESHOLDS_ENV = "MARKETFLOW_QUALITY_THRESHOLDS"
#: The key of the registry's metrics that holds the figures (kept out of the Models page's columns).
METRICS_KEY = "by_group"
DIMENSIONS = ("segment", "country")
K = 10
NDCG = f"ndcg@{K}"

#: dimension ("segment" | "country") -> group -> {"customers": n, "ndcg@10": x, "recall@10": y}
GroupFigures = Mapping[str, Mapping[str, Mapping[str, float]]]


class QualityThresholds(JsonEnvLimits):
    """When a group's quality warrants a warning against the previous version (JSON in the env var)."""

    ENV = THRESHOLDS_ENV

    max_group_ndcg_drop: float = Field(default=0.2, ge=0, le=1, description="relative drop of a group's NDCG@10")
    min_group_customers: int = Field(default=30, ge=1, description="smaller groups are shown, never warned about")


    def too_small(self, *figures: Mapping[str, float]) -> bool:
        """Whether a group has too few customers in any of its `figures` for its NDCG@10 to mean much."""
        return min(group["customers"] for group in figures) < self.min_group_customers


@dataclass(frozen=True)
class CustomerGroups:
    """customer id -> group name per dimension, and the day of the segments' snapshot (None: none)."""

    segment: dict[str, str]
    country: dict[str, str]
    segments_as_of: dt.date | None


def _built_segments(engine: Engine, day: dt.date) -> dict[str, str]:
    """The segments the profile stage would store as of `day`, built from the orders up to it."""
    from marketflow.profiles.build import SnapshotBuilder
    from marketflow.profiles.history import prepare_history
    from marketflow.profiles.settings import ProfileSettings
    from marketflow.profiles.warehouse import read_consent_events, read_orders

    orders = read_orders(engine, day)
    if orders["customer_id"].dropna().empty:
        return {}
    settings = ProfileSettings.from_env()
    builder = SnapshotBuilder(prepare_history(orders, settings), read_consent_events(engine, day), settings)
    profiles = builder.build(day).profiles
    return dict(zip(profiles["customer_id"].astype(str), profiles["segment"]))


def load_customer_groups(engine: Engine, holdout_start: dt.date) -> CustomerGroups:
    """Segments as of the day before `holdout_start` (stored, or built like the profile stage
    builds them) and countries."""
    day = holdout_start - dt.timedelta(days=1)
    p = customer_profiles.c
    with engine.connect() as conn:
        segment = dict(conn.execute(select(p.customer_id, p.segment).where(p.as_of_date == day)).all())
        country = dict(conn.execute(select(customers.c.customer_id, customers.c.country)).all())
    if not segment:
        segment = _built_segments(engine, day)
    return CustomerGroups(segment=segment, country=country, segments_as_of=day if segment else None)


def quality_by_group(task: HoldoutTask, scores: np.ndarray, groups: CustomerGroups) -> dict[str, Any]:
    """The registry's compact figures of `scores` (a model's scores of the task's rows; passed, not
    recomputed, so a training scores its hold-out once): variant "all", rounded to 4 decimals."""
    as_of = groups.segments_as_of
    figures: dict[str, Any] = {"segments_as_of": as_of.isoformat() if as_of else None}
    for dimension in DIMENSIONS:
        by_group = task.evaluate_groups(scores, getattr(groups, dimension), k=K)
        figures[dimension] = {
            name: {
                "customers": int(metrics["all"]["customers"]),
                NDCG: round(metrics["all"][NDCG], 4),
                f"recall@{K}": round(metrics["all"][f"recall@{K}"], 4),
            }
            for name, metrics in by_group.items()
        }
    return figures


@dataclass(frozen=True)
class ModelGroupQuality:
    """One model's group figures on one hold-out, named for the warnings."""

    model_id: str
    figures: GroupFigures


def quality_warnings(new: ModelGroupQuality, old: ModelGroupQuality, thresholds: QualityThresholds) -> list[str]:
    """Plain sentences, one per group (big enough in both) whose NDCG@10 dropped beyond the threshold."""
    warnings = []
    for dimension in DIMENSIONS:
        old_groups = old.figures.get(dimension, {})
        for name, ours in new.figures.get(dimension, {}).items():
            theirs = old_groups.get(name)
            if theirs is None or thresholds.too_small(ours, theirs):
                continue
            if theirs[NDCG] > 0 and (theirs[NDCG] - ours[NDCG]) / theirs[NDCG] > thresholds.max_group_ndcg_drop:
                warnings.append(
                    f"{new.model_id} recommends worse to {dimension} {name} ({ours['customers']} customers): "
                    f"NDCG@10 {ours[NDCG]:.3f} against {theirs[NDCG]:.3f} for {old.model_id} "
                    f"(a drop of more than {thresholds.max_group_ndcg_drop:.0%})"
                )
    return warnings
