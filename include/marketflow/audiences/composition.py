"""Who a run's audience is made of, against who matched its rules: by country and by segment.

Exclusions (consent, frequency cap, max size, ...) are applied to customers one by one, so no rule
names a country or a segment, yet together they can leave one out far more often than the rest. A
marketer sees this only by comparing the audience with the population it was drawn from:
- eligible: every customer in `audience_members` for the run (they matched the rules, before
  exclusions); audience: arm treatment or control;
- per group: both counts, their shares, the selection rate (audience / eligible) and its ratio to
  the run's overall rate: the "four-fifths rule" of disparate impact warns below 0.8;
- country is `customers.country` (the latest order's); segment is the one in the profile snapshot
  the run selected from (`campaign_runs.inputs`), not today's, so the figures describe that run.

A warning names the group's most common exclusion reason: consent always wins (no rule may override
it), a campaign rule such as `over_max_size` is the marketer's to change. Thresholds are JSON in
`MARKETFLOW_AUDIENCE_THRESHOLDS`; groups smaller than `min_group_customers` are shown, never warned about.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from pydantic import Field
from sqlalchemy import ColumnElement, Connection, Table, and_, false, func, select

from marketflow.audiences.selection import CONSENT_REASONS, input_day
from marketflow.env_settings import JsonEnvLimits
from marketflow.campaigns.sqlutil import as_date
from marketflow.warehouse.schema import audience_members, campaign_runs, customer_profiles, customers

THRESHOLDS_ENV = "MARKETFLOW_AUDIENCE_THRESHOLDS"
AUDIENCE_ARMS = ("treatment", "control")
#: A member without a customers row or without a profile in the run's snapshot.
UNKNOWN = "unknown"
OTHER_COUNTRIES = "other countries"


class AudienceThresholds(JsonEnvLimits):
    """When a group's selection rate warrants a warning (JSON in the env var)."""

    ENV = THRESHOLDS_ENV

    min_selection_ratio: float = Field(
        default=0.8, gt=0, le=1, description="a group's selection rate over the overall rate (four-fifths rule)"
    )
    min_group_customers: int = Field(
        default=30, ge=1, description="eligible customers a group needs to be warned about (and listed by name)"
    )



@dataclass(frozen=True)
class GroupFigures:
    """One country or segment of a run: eligible and selected customers, and why the rest were left out."""

    name: str
    eligible: int
    audience: int
    eligible_share: float  # of the run's eligible customers
    audience_share: float  # of the run's audience (0 when nobody was selected)
    selection_rate: float  # audience / eligible
    selection_ratio: float | None  # selection_rate / the run's overall rate (None when nobody was selected)
    exclusions: dict[str, int]  # exclusion reason -> customers, largest first

    @property
    def excluded(self) -> int:
        return self.eligible - self.audience

    @property
    def top_exclusion(self) -> str | None:
        return next(iter(self.exclusions), None)


@dataclass(frozen=True)
class Composition:
    """A run's audience against its eligible population, by country and by segment (largest first)."""

    run_key: str
    run_day: dt.date
    profiles_as_of: dt.date | None
    eligible: int
    audience: int
    by_country: list[GroupFigures]
    by_segment: list[GroupFigures]

    @property
    def selection_rate(self) -> float:
        return self.audience / self.eligible if self.eligible else 0.0

    def countries_shown(self, min_group_customers: int) -> list[GroupFigures]:
        """Countries with at least `min_group_customers` eligible, then the rest summed as one line."""
        named = [g for g in self.by_country if g.eligible >= min_group_customers]
        rest = [g for g in self.by_country if g.eligible < min_group_customers]
        if not rest:
            return named
        exclusions: Counter[str] = Counter()
        for group in rest:
            exclusions.update(group.exclusions)
        pooled = _Tally(sum(g.eligible for g in rest), sum(g.audience for g in rest), exclusions)
        return named + [pooled.figures(OTHER_COUNTRIES, self.eligible, self.audience)]


@dataclass
class _Tally:
    """Counts of one group, summed from the grouped rows."""

    eligible: int = 0
    audience: int = 0
    exclusions: Counter[str] = field(default_factory=Counter)

    def add(self, arm: str | None, reason: str | None, n: int) -> None:
        self.eligible += n
        if arm in AUDIENCE_ARMS:
            self.audience += n
        else:
            self.exclusions[reason or UNKNOWN] += n

    def figures(self, name: str, total_eligible: int, total_audience: int) -> GroupFigures:
        rate = self.audience / self.eligible if self.eligible else 0.0
        overall = total_audience / total_eligible if total_eligible else 0.0
        ranked = sorted(self.exclusions.items(), key=lambda item: (-item[1], item[0]))
        return GroupFigures(
            name=name,
            eligible=self.eligible,
            audience=self.audience,
            eligible_share=self.eligible / total_eligible if total_eligible else 0.0,
            audience_share=self.audience / total_audience if total_audience else 0.0,
            selection_rate=rate,
            selection_ratio=rate / overall if overall else None,
            exclusions=dict(ranked),
        )


def _group_counts(
    conn: Connection, run_key: str, table: Table, join_on: ColumnElement, group: ColumnElement
) -> list[tuple[str | None, str | None, str | None, int]]:
    """(group, arm, exclusion reason, customers) for the run's members: one row per combination."""
    a = audience_members.c
    stmt = (
        select(group, a.arm, a.exclusion_reason, func.count())
        .select_from(audience_members.outerjoin(table, join_on))
        .where(a.run_key == run_key)
        .group_by(group, a.arm, a.exclusion_reason)
    )
    return [(g, arm, reason, int(n)) for g, arm, reason, n in conn.execute(stmt)]


def _breakdown(rows: Iterable[tuple[str | None, str | None, str | None, int]]) -> tuple[list[GroupFigures], int, int]:
    """Figures per group, largest eligible first (ties by name), and the run's eligible and audience totals."""
    tallies: dict[str, _Tally] = defaultdict(_Tally)
    for group, arm, reason, n in rows:
        tallies[group or UNKNOWN].add(arm, reason, n)
    eligible = sum(t.eligible for t in tallies.values())
    audience = sum(t.audience for t in tallies.values())
    groups = [t.figures(name, eligible, audience) for name, t in tallies.items()]
    return sorted(groups, key=lambda g: (-g.eligible, g.name)), eligible, audience


def run_composition(conn: Connection, run_key: str) -> Composition | None:
    """The composition of `run_key`'s recorded audience (None: no such run)."""
    run = conn.execute(
        select(campaign_runs.c.run_day, campaign_runs.c.inputs).where(campaign_runs.c.run_key == run_key)
    ).first()
    if run is None:
        return None
    profiles_as_of = input_day(run.inputs or {}, "profiles")
    a, c, p = audience_members.c, customers.c, customer_profiles.c
    by_country, eligible, audience = _breakdown(
        _group_counts(conn, run_key, customers, c.customer_id == a.customer_id, c.country)
    )
    snapshot = p.as_of_date == profiles_as_of if profiles_as_of is not None else false()
    by_segment, _, _ = _breakdown(
        _group_counts(conn, run_key, customer_profiles, and_(p.customer_id == a.customer_id, snapshot), p.segment)
    )
    return Composition(run_key, as_date(run.run_day), profiles_as_of, eligible, audience, by_country, by_segment)


def _reason_words(reason: str) -> str:
    if reason in CONSENT_REASONS:
        return f"{reason}, a consent reason, which always wins"
    return f"{reason}, a campaign rule"


def _warning(composition: Composition, dimension: str, group: GroupFigures, thresholds: AudienceThresholds) -> str:
    reason = group.top_exclusion or UNKNOWN
    return (
        f"{composition.run_key}: {dimension} {group.name} was selected at {group.selection_rate:.1%} of its "
        f"{group.eligible} eligible customers against {composition.selection_rate:.1%} overall "
        f"(ratio {group.selection_ratio:.2f}, below {thresholds.min_selection_ratio:.2f}); most common "
        f"exclusion there: {_reason_words(reason)} ({group.exclusions.get(reason, 0)} of {group.excluded} left out)"
    )


def composition_warnings(composition: Composition, thresholds: AudienceThresholds) -> list[str]:
    """Plain sentences, one per country or segment with enough customers selected at less than
    `min_selection_ratio` times the overall rate."""
    warnings = []
    for dimension, groups in (("country", composition.by_country), ("segment", composition.by_segment)):
        for group in groups:
            low = group.selection_ratio is not None and group.selection_ratio < thresholds.min_selection_ratio
            if low and group.eligible >= thresholds.min_group_customers:
                warnings.append(_warning(composition, dimension, group, thresholds))
    return warnings
