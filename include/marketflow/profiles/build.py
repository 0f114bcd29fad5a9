"""A day's snapshot (customer profiles, product groups, product statistics) from order history and
consent events: pure pandas, no database and no Airflow, so every rule is testable on small frames.

Point in time: a snapshot as of D reads only facts dated on or before D, and its models (product
groups, lifetime value) are fitted on the data as of the first of D's month (`OrderHistory.fit_day`).
`SnapshotBuilder` caches those monthly models, so building a range of days gives the same rows as
building each day on its own.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from marketflow.profiles.clv import ClvModel, fit_clv, rfm_summary
from marketflow.profiles.customers import customer_facts
from marketflow.profiles.groups import GroupModel, groups_as_of
from marketflow.profiles.history import OrderHistory, catalogue_as_of, day_number
from marketflow.profiles.products import product_stats
from marketflow.profiles.segments import score_and_segment
from marketflow.profiles.settings import ProfileSettings

#: Prediction horizon of the lifetime-value columns (`expected_*_90d`).
CLV_HORIZON_DAYS = 90

#: Columns of `customer_profiles` after `as_of_date`, in table order.
PROFILE_COLUMNS = [
    "customer_id",
    "country",
    "recency_days",
    "frequency",
    "monetary",
    "tenure_days",
    "avg_basket_value",
    "return_rate",
    "purchases_30d",
    "purchases_90d",
    "purchases_365d",
    "favourite_products",
    "favourite_group",
    "price_band",
    "marketing_consent",
    "r_score",
    "f_score",
    "m_score",
    "segment",
    "expected_purchases_90d",
    "expected_spend_90d",
]
#: The columns a shard stages (`customer_profiles_staging`): all but the scores, which rank the whole day.
STAGED_COLUMNS = [name for name in PROFILE_COLUMNS if name not in {"r_score", "f_score", "m_score", "segment"}]


def consent_as_of(consent_events: pd.DataFrame, as_of: dt.date) -> pd.Series:
    """customer_id -> marketing consent from the latest event effective on or before `as_of`
    (customers without such an event are absent: no event means no consent)."""
    effective = consent_events[pd.to_datetime(consent_events["effective_date"]).dt.date <= as_of]
    latest = effective.sort_values(["customer_id", "effective_date"], kind="stable").groupby("customer_id").tail(1)
    return latest.set_index("customer_id")["marketing_consent"].astype(bool)


def fit_lifetime_value(history: OrderHistory, fitted_on: dt.date, settings: ProfileSettings) -> ClvModel | None:
    """The CLV model fitted on purchases up to `fitted_on`, or None while the history is shorter than
    `clv_min_history_days` or has fewer than `clv_min_repeat_customers` repeat customers."""
    today = day_number(fitted_on)
    first_day = history.first_day
    if first_day is None or today - first_day < settings.clv_min_history_days:
        return None
    summary = rfm_summary(history.invoices, today)
    if int((summary["x"] > 0).sum()) < settings.clv_min_repeat_customers:
        return None
    return fit_clv(summary)


def profiles_as_of(
    history: OrderHistory,
    as_of: dt.date,
    consent_events: pd.DataFrame,
    groups: pd.DataFrame,
    clv_model: ClvModel | None,
    settings: ProfileSettings,
) -> pd.DataFrame:
    """Every customer's profile as of `as_of` (columns `PROFILE_COLUMNS`, sorted by customer_id).

    `groups` (stock_code -> group_name) and `clv_model` must be those valid on `as_of`.
    """
    profile = unscored_profiles(history, as_of, consent_events, groups, clv_model, settings)
    if profile.empty:
        return pd.DataFrame(columns=PROFILE_COLUMNS)
    profile = profile.join(score_and_segment(profile))
    return profile.reset_index()[PROFILE_COLUMNS].sort_values("customer_id", kind="stable").reset_index(drop=True)


def unscored_profiles(
    history: OrderHistory,
    as_of: dt.date,
    consent_events: pd.DataFrame,
    groups: pd.DataFrame,
    clv_model: ClvModel | None,
    settings: ProfileSettings,
    catalogue: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The profile of each customer of `history` without the RFM scores and segment (ranks across
    every customer of the day: a shard of customers gets them once all shards are stored), indexed
    by customer_id; empty when nobody has bought by `as_of`. `catalogue` (stock_code, description
    of every product sold by `as_of`) defaults to the history's own."""
    if catalogue is None:
        catalogue = catalogue_as_of(history, as_of)
    profile = customer_facts(history, as_of, groups, catalogue, settings)
    if profile.empty:
        return profile
    consent = consent_as_of(consent_events, as_of)
    profile["marketing_consent"] = consent.reindex(profile.index, fill_value=False).astype(bool)
    if clv_model is None:
        profile["expected_purchases_90d"] = np.nan
        profile["expected_spend_90d"] = np.nan
    else:
        summary = rfm_summary(history.invoices, day_number(as_of))
        value = clv_model.predict(summary, CLV_HORIZON_DAYS).reindex(profile.index)
        profile["expected_purchases_90d"] = value["expected_purchases"]
        profile["expected_spend_90d"] = value["expected_spend"]
    return profile


@dataclass(frozen=True)
class DaySnapshot:
    """Everything the stage writes for one as-of date."""

    as_of: dt.date
    profiles: pd.DataFrame
    product_groups: pd.DataFrame
    product_stats: pd.DataFrame


@dataclass
class SnapshotBuilder:
    """Builds day snapshots from one history, fitting each month's models once."""

    history: OrderHistory
    consent_events: pd.DataFrame
    settings: ProfileSettings
    _group_models: dict[dt.date, GroupModel | None] = field(default_factory=dict, repr=False)
    _clv_models: dict[dt.date, ClvModel | None] = field(default_factory=dict, repr=False)

    def build(self, as_of: dt.date) -> DaySnapshot:
        fitted_on = self.history.fit_day(as_of)
        groups, group_model = groups_as_of(
            self.history, as_of, self.settings, model=self._group_models.get(fitted_on)
        )
        self._group_models[fitted_on] = group_model
        if fitted_on not in self._clv_models:
            self._clv_models[fitted_on] = fit_lifetime_value(self.history, fitted_on, self.settings)
        profiles = profiles_as_of(
            self.history, as_of, self.consent_events, groups, self._clv_models[fitted_on], self.settings
        )
        stats = product_stats(self.history, as_of, catalogue_as_of(self.history, as_of))
        return DaySnapshot(as_of=as_of, profiles=profiles, product_groups=groups, product_stats=stats)
