"""Model versions from the registry, with their metrics flattened, and a verdict per kind of model.

The registry stores metrics as JSON written by each trainer (nested, e.g. `{"all": {"ndcg@10": …}}`);
the page lists every numeric leaf as `all.ndcg@10`, so a new metric shows without a UI change. The
verdict compares the serving model with the version before it and with the simplest baseline that
its trainer measured on the same hold-out (popularity for the recommender, recency for propensity).
The recommender's figures per customer segment and country (`by_group`) are left out of that list
(a column per country) and get their own table, with warnings (`served_group_quality`).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from marketflow.ui.labels import metric_label
from marketflow.recommend.exposure import Exposure, ExposureThresholds, exposure_warnings, served_exposure
from marketflow.recommend.fairness import (
    DIMENSIONS, METRICS_KEY as GROUPS_KEY, ModelGroupQuality, QualityThresholds, quality_warnings
)
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
    stored_metrics: Mapping[str, Any]
    registered_at: dt.datetime
    promoted_at: dt.datetime | None

    @property
    def is_champion(self) -> bool:
        return self.status == "champion"


def flatten_metrics(metrics: Mapping[str, Any] | None, prefix: str = "") -> dict[str, float]:
    """Numeric leaves of a nested metrics document, keyed by their dotted path; figures by group
    (at any depth) are left out: they have their own table."""
    flat: dict[str, float] = {}
    for key, value in (metrics or {}).items():
        name = f"{prefix}{key}"
        if key == GROUPS_KEY:
            continue
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
                stored_metrics=row.metrics or {},
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


@dataclass(frozen=True)
class Headline:
    """The one metric a kind of model is judged by, and its trainer's baseline on the same rows."""

    metric: str
    baseline_metric: str
    baseline_name: str


HEADLINES = {
    "recommender": Headline(
        "all.ndcg@10", "popularity_baseline.all.ndcg@10", "recommending the most popular products to everyone"
    ),
    "propensity": Headline(
        "calibration_auc", "recency_baseline_auc", "ranking customers by how recently they bought"
    ),
}


@dataclass(frozen=True)
class Verdict:
    """The serving model against the version trained before it and against the baseline."""

    headline: Headline
    champion: ModelVersion | None
    previous: ModelVersion | None

    @property
    def value(self) -> float | None:
        return self.champion.metrics.get(self.headline.metric) if self.champion else None

    @property
    def previous_value(self) -> float | None:
        return self.previous.metrics.get(self.headline.metric) if self.previous else None

    @property
    def baseline_value(self) -> float | None:
        return self.champion.metrics.get(self.headline.baseline_metric) if self.champion else None

    def sentence(self) -> str:
        metric = metric_label(self.headline.metric)
        if self.champion is None:
            return "No version is serving yet."
        if self.value is None:
            return f"The serving version, trained on data up to {self.champion.trained_as_of}, has no {metric} recorded."
        parts = [
            f"The serving version, trained on data up to {self.champion.trained_as_of}, "
            f"scores {self.value:.3f} on {metric}"
        ]
        if self.previous is None or self.previous_value is None:
            parts.append("it is the first version with this measure")
        else:
            parts.append(
                f"{_relative(self.value, self.previous_value)} the version before it "
                f"({self.previous_value:.3f}, data up to {self.previous.trained_as_of})"
            )
        if self.baseline_value is None:
            parts.append("no baseline was measured for it")
        else:
            parts.append(
                f"{_relative(self.value, self.baseline_value)} {self.headline.baseline_name} ({self.baseline_value:.3f})"
            )
        return f"{parts[0]}: {parts[1]}, and {parts[2]}. Each version is measured on the weeks it did not train on."


def _relative(value: float, reference: float) -> str:
    """"12.0 % better than" / "3.0 % worse than" / "level with" (metrics shown to 3 decimals)."""
    if abs(value - reference) < 5e-4:
        return "level with"
    direction = "better" if value > reference else "worse"
    return f"{abs(value - reference) / abs(reference) * 100:.1f} % {direction} than" if reference else f"{direction} than"


def verdict(kind: str, versions: list[ModelVersion]) -> Verdict | None:
    """The verdict for a kind with a headline metric; None for kinds without one."""
    headline = HEADLINES.get(kind)
    if headline is None:
        return None
    current = champion(versions)
    before = [v for v in versions if current is not None and v.trained_as_of < current.trained_as_of]
    return Verdict(headline, current, before[-1] if before else None)


def served_exposures(conn: Connection, versions: list[ModelVersion]) -> tuple[list[Exposure], list[str]]:
    """Exposure of the serving recommender's lists and of its predecessor's (the newest earlier
    version that served any), with a warning for each threshold the serving one crosses."""
    current = champion(versions)
    if current is None:
        return [], []
    figures = [served] if (served := served_exposure(conn, current.model_id)) else []
    earlier = versions[: versions.index(current)]
    for version in reversed(earlier):
        if (before := served_exposure(conn, version.model_id)) is not None:
            figures.append(before)
            break
    warnings = exposure_warnings(figures[0], figures[1], ExposureThresholds.from_env()) if len(figures) == 2 and served else []
    return figures, warnings


@dataclass(frozen=True)
class GroupRow:
    """One segment or country: its figures for the serving version and its predecessor (None: absent)."""

    dimension: str
    group: str
    current: Mapping[str, float] | None
    previous: Mapping[str, float] | None
    small: bool  # too few customers in a version to be warned about

    @property
    def customers(self) -> int:
        return max(int(figures["customers"]) for figures in (self.current, self.previous) if figures)


@dataclass(frozen=True)
class GroupQuality:
    """NDCG@10 per segment and country of the serving recommender and of its predecessor."""

    current: ModelVersion
    previous: ModelVersion | None
    same_holdout: bool  # the predecessor's figures are its scores on the serving version's hold-out
    segments_as_of: str | None
    rows: list[GroupRow]
    warnings: list[str]
    min_group_customers: int

    @property
    def caption(self) -> str:
        weeks = "..".join(self.current.stored_metrics.get("holdout", [])) or "its hold-out"
        if self.previous is None:
            compared = f"the serving version on {weeks}; no earlier version has figures by group"
        elif self.same_holdout:
            compared = f"the serving version and the one before it, both scored on the serving version's hold-out ({weeks})"
        else:
            compared = ("the serving version and the one before it, each on its own hold-out weeks: "
                        "a difference may come from the weeks as well as from the model")
        segments = (f"segments as of {self.segments_as_of}, the day before the hold-out"
                    if self.segments_as_of else "no orders before the hold-out: every segment is unknown")
        return f"NDCG@10 (all customers) by segment and by country: {compared}; {segments}"


def served_group_quality(
    versions: list[ModelVersion], thresholds: QualityThresholds | None = None
) -> GroupQuality | None:
    """The serving recommender's figures by group next to its predecessor's (the newest earlier
    version with figures by group), on the same hold-out when the serving version rescored it, with a
    warning for each big-enough group whose NDCG@10 dropped beyond the threshold; None without figures."""
    current = champion(versions)
    if current is None or GROUPS_KEY not in current.stored_metrics:
        return None
    thresholds = thresholds or QualityThresholds.from_env()
    rescored = current.stored_metrics.get("champion") or {}
    rescored_id = rescored.get("model_id") if GROUPS_KEY in rescored else None
    earlier = [
        v for v in versions[: versions.index(current)] if GROUPS_KEY in v.stored_metrics or v.model_id == rescored_id
    ]
    previous = earlier[-1] if earlier else None
    same_holdout = previous is not None and previous.model_id == rescored_id
    new = ModelGroupQuality(current.model_id, current.stored_metrics[GROUPS_KEY])
    old = None
    if previous is not None:
        old = ModelGroupQuality(previous.model_id, (rescored if same_holdout else previous.stored_metrics)[GROUPS_KEY])
    return GroupQuality(
        current=current,
        previous=previous,
        same_holdout=same_holdout,
        segments_as_of=new.figures.get("segments_as_of"),
        rows=_group_rows(new, old, thresholds),
        warnings=quality_warnings(new, old, thresholds) if old else [],
        min_group_customers=thresholds.min_group_customers,
    )


def _group_rows(new: ModelGroupQuality, old: ModelGroupQuality | None, thresholds: QualityThresholds) -> list[GroupRow]:
    """Every segment, and the countries with at least `min_group_customers` customers in either
    version; each dimension's groups by customers, most first."""
    rows = []
    for dimension in DIMENSIONS:
        ours, theirs = new.figures.get(dimension, {}), (old.figures.get(dimension, {}) if old else {})
        found = []
        for name in set(ours) | set(theirs):
            present = [figures for figures in (ours.get(name), theirs.get(name)) if figures]
            found.append(GroupRow(dimension, name, ours.get(name), theirs.get(name), thresholds.too_small(*present)))
        if dimension == "country":
            found = [row for row in found if row.customers >= thresholds.min_group_customers]
        rows += sorted(found, key=lambda row: (-row.customers, row.group))
    return rows
