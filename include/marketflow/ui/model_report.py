"""Model versions from the registry, with their metrics flattened for charts over time.

The registry stores metrics as JSON written by each trainer (nested, e.g. `{"all": {"ndcg@10": …}}`);
the page charts every numeric leaf as `all.ndcg@10`, so a new metric shows without a UI change.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from marketflow.warehouse.schema import model_registry

KNOWN_KINDS = ("recommender", "propensity")


@dataclass(frozen=True)
class ModelVersion:
    """One registered model and what the registry says about it."""

    model_id: str
    model_kind: str
    trained_as_of: dt.date
    data_start: dt.date | None
    data_end: dt.date | None
    status: str
    decision: str | None
    metrics: dict[str, float]
    registered_at: dt.datetime
    promoted_at: dt.datetime | None

    @property
    def is_champion(self) -> bool:
        return self.status == "champion"


def flatten_metrics(metrics: Mapping[str, Any] | None, prefix: str = "") -> dict[str, float]:
    """Numeric leaves of a nested metrics document, keyed by their dotted path."""
    flat: dict[str, float] = {}
    for key, value in (metrics or {}).items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten_metrics(value, prefix=f"{name}."))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            flat[name] = float(value)
    return flat


def model_history(conn: Connection) -> dict[str, list[ModelVersion]]:
    """model_kind -> versions in training order; the known kinds first, so the page is stable."""
    stmt = select(model_registry).order_by(
        model_registry.c.model_kind, model_registry.c.trained_as_of, model_registry.c.registered_at
    )
    history: dict[str, list[ModelVersion]] = defaultdict(list)
    for row in conn.execute(stmt):
        history[row.model_kind].append(
            ModelVersion(
                model_id=row.model_id,
                model_kind=row.model_kind,
                trained_as_of=row.trained_as_of,
                data_start=row.data_start,
                data_end=row.data_end,
                status=row.status,
                decision=row.decision,
                metrics=flatten_metrics(row.metrics),
                registered_at=row.registered_at,
                promoted_at=row.promoted_at,
            )
        )
    order = [kind for kind in KNOWN_KINDS if kind in history] + sorted(set(history) - set(KNOWN_KINDS))
    return {kind: history[kind] for kind in order}


def champion(versions: list[ModelVersion]) -> ModelVersion | None:
    """The version serving now: the newest one marked champion."""
    champions = [version for version in versions if version.is_champion]
    return champions[-1] if champions else None


def metric_names(versions: list[ModelVersion], limit: int) -> list[str]:
    """The metrics most versions report (ties: alphabetical), at most `limit` of them."""
    counts = Counter(name for version in versions for name in version.metrics)
    return [name for name, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]]
