"""Compile a campaign's audience rules (data) into SQLAlchemy conditions (bound parameters).

No value from a campaign file is ever pasted into SQL: segments, countries and groups become
`IN (...)` parameter lists and ranges become `>=`/`<=` comparisons, so a value such as
`"x'; DROP TABLE orders; --"` is just a string that matches nobody.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Table

from marketflow.campaigns.config import AudienceRules, FloatRange, IntRange, ProbabilityRange

Bounds = IntRange | FloatRange | ProbabilityRange


def _within(column: ColumnElement, bounds: Bounds | None) -> list[ColumnElement[bool]]:
    if bounds is None:
        return []
    conditions = []
    if bounds.min is not None:
        conditions.append(column >= bounds.min)
    if bounds.max is not None:
        conditions.append(column <= bounds.max)
    return conditions


def profile_conditions(rules: AudienceRules, profiles: Table, scores: Table) -> list[ColumnElement[bool]]:
    """WHERE conditions over `customer_profiles` joined (outer) with `audience_scores`."""
    p, s = profiles.c, scores.c
    conditions: list[ColumnElement[bool]] = []
    if rules.segments:
        conditions.append(p.segment.in_(rules.segments))
    if rules.favourite_groups:
        conditions.append(p.favourite_group.in_(rules.favourite_groups))
    if rules.countries:
        conditions.append(p.country.in_(rules.countries))
    conditions += _within(p.recency_days, rules.recency_days)
    conditions += _within(p.frequency, rules.frequency)
    conditions += _within(p.monetary, rules.monetary)
    conditions += _within(s.propensity_30d, rules.propensity_30d)
    return conditions


def needs_scores(rules: AudienceRules) -> bool:
    """True when the rules cannot be evaluated without propensity scores."""
    return rules.propensity_30d is not None
