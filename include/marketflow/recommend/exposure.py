"""Exposure of the served recommendation lists: how much of the catalogue they show, how evenly,
and how much they lean on what is already popular.

Read from `recommendations` (what a model actually served on a day), against the catalogue as of
that day (`products` first seen by then) and its popularity (`product_stats.purchases_30d`):
- `coverage`: share of the catalogue that appears in any list;
- `gini`: concentration of slots over the catalogue's items (0: every item shown equally often,
  1: every slot the same item), items never shown included;
- `popular_share`: share of slots taken by the most purchased tenth of the catalogue, next to
  `popular_purchase_share`, the share of purchases those items take: a list leaning on popularity
  more than buyers do scores above it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from pydantic import Field
from sqlalchemy import Connection, func, select

from marketflow.env_settings import JsonEnvLimits
from marketflow.warehouse.schema import product_stats, products, recommendations

THRESHOLDS_ENV = "MARKETFLOW_EXPOSURE_THRESHOLDS"


class ExposureThresholds(JsonEnvLimits):
    """When a new model's lists warrant a warning against its predecessor's (JSON in the env var)."""

    ENV = THRESHOLDS_ENV

    max_gini_increase: float = Field(default=0.05, ge=0, le=1, description="absolute increase of the Gini")
    max_coverage_drop: float = Field(default=0.2, ge=0, le=1, description="relative drop of the coverage")



@dataclass(frozen=True)
class Exposure:
    model_id: str
    served_on: dt.date
    customers: int
    slots: int
    catalogue: int
    coverage: float
    gini: float
    popular_share: float
    popular_purchase_share: float


def gini(counts: np.ndarray) -> float:
    """Gini coefficient of non-negative counts (0 for an even spread or no counts)."""
    values = np.sort(np.asarray(counts, dtype=float))
    total = values.sum()
    if len(values) == 0 or total == 0:
        return 0.0
    ranks = np.arange(1, len(values) + 1)
    return float((2 * (ranks * values).sum()) / (len(values) * total) - (len(values) + 1) / len(values))


def served_exposure(conn: Connection, model_id: str) -> Exposure | None:
    """The exposure of the newest lists `model_id` served (None: it never served any)."""
    r = recommendations.c
    day = conn.execute(select(func.max(r.as_of_date)).where(r.model_id == model_id)).scalar_one()
    if day is None:
        return None
    day = day if isinstance(day, dt.date) else dt.date.fromisoformat(str(day))
    shown = dict(conn.execute(
        select(r.stock_code, func.count()).where(r.model_id == model_id, r.as_of_date == day).group_by(r.stock_code)
    ).all())
    customers = conn.execute(
        select(func.count(func.distinct(r.customer_id))).where(r.model_id == model_id, r.as_of_date == day)
    ).scalar_one()
    catalogue = [code for (code,) in conn.execute(select(products.c.stock_code).where(products.c.first_seen <= day))]
    catalogue_set = set(catalogue) | set(shown)
    stats_day = conn.execute(select(func.max(product_stats.c.as_of_date)).where(product_stats.c.as_of_date <= day)).scalar_one()
    purchases: dict[str, int] = {}
    if stats_day is not None:
        purchases = dict(conn.execute(select(product_stats.c.stock_code, product_stats.c.purchases_30d)
                                      .where(product_stats.c.as_of_date == stats_day)).all())
    codes = sorted(catalogue_set)
    slots = np.array([shown.get(code, 0) for code in codes], dtype=float)
    bought = np.array([purchases.get(code, 0) for code in codes], dtype=float)
    top = np.argsort(-bought, kind="stable")[: max(1, len(codes) // 10)]
    return Exposure(
        model_id=model_id,
        served_on=day,
        customers=int(customers),
        slots=int(slots.sum()),
        catalogue=len(codes),
        coverage=float((slots > 0).sum() / len(codes)),
        gini=gini(slots),
        popular_share=float(slots[top].sum() / slots.sum()) if slots.sum() else 0.0,
        popular_purchase_share=float(bought[top].sum() / bought.sum()) if bought.sum() else 0.0,
    )


def exposure_warnings(new: Exposure, old: Exposure, thresholds: ExposureThresholds) -> list[str]:
    """Plain sentences, one per threshold the new model's lists cross against the old one's."""
    warnings = []
    if new.gini - old.gini > thresholds.max_gini_increase:
        warnings.append(
            f"{new.model_id} concentrates exposure: Gini {new.gini:.3f} against {old.gini:.3f} for {old.model_id} "
            f"(more than +{thresholds.max_gini_increase:.2f})"
        )
    if old.coverage > 0 and (old.coverage - new.coverage) / old.coverage > thresholds.max_coverage_drop:
        warnings.append(
            f"{new.model_id} shows less of the catalogue: {new.coverage:.1%} against {old.coverage:.1%} for "
            f"{old.model_id} (a drop of more than {thresholds.max_coverage_drop:.0%})"
        )
    return warnings
