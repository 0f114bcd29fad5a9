"""Training rows: features as of each cut-off D stacked with the label "bought in D+1..D+horizon".

A purchase is a purchase invoice (not a return), as the profile stage defines it
(`marketflow.profiles.history`). Only cut-offs whose label window ends on or before the training
as-of date are used, so a model trained as of T never sees an order after T.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from marketflow.profiles.build import SnapshotBuilder
from marketflow.profiles.history import OrderHistory, day_from_number, day_number
from marketflow.profiles.settings import ProfileSettings
from marketflow.propensity.features import feature_matrix
from marketflow.propensity.settings import PropensitySettings

_NO_CONSENT_EVENTS = pd.DataFrame(
    {
        "customer_id": pd.Series(dtype=str),
        "effective_date": pd.Series(dtype="datetime64[ns]"),
        "marketing_consent": pd.Series(dtype=bool),
    }
)


def snapshot_builder(history: OrderHistory, profile_settings: ProfileSettings) -> SnapshotBuilder:
    """The profile stage's builder for past cut-offs (consent is not a feature, so none is read)."""
    return SnapshotBuilder(history, _NO_CONSENT_EVENTS, profile_settings)


def training_cutoffs(history: OrderHistory, as_of: dt.date, settings: PropensitySettings) -> list[dt.date]:
    """Weekly cut-offs D (ascending) with D + horizon <= as_of, the latest first counted back from
    as_of - horizon, none earlier than history start + min_history_days, at most `max_cutoffs`."""
    if history.first_day is None:
        return []
    earliest = day_from_number(history.first_day) + dt.timedelta(days=settings.min_history_days)
    cutoff = as_of - dt.timedelta(days=settings.horizon_days)
    cutoffs = []
    while cutoff >= earliest and len(cutoffs) < settings.max_cutoffs:
        cutoffs.append(cutoff)
        cutoff -= dt.timedelta(days=settings.cutoff_step_days)
    return cutoffs[::-1]


def bought_within(history: OrderHistory, cutoff: dt.date, horizon_days: int) -> set[str]:
    """Customers with a purchase invoice dated in cutoff+1 .. cutoff+horizon_days."""
    start = day_number(cutoff)
    invoices = history.invoices
    window = invoices[invoices["is_purchase"] & (invoices["day"] > start) & (invoices["day"] <= start + horizon_days)]
    return set(window["customer_id"].astype(str))


def labelled_cutoff(builder: SnapshotBuilder, cutoff: dt.date, horizon_days: int) -> pd.DataFrame:
    """Features as of `cutoff` for every customer with a purchase by then, plus `label` (0/1) and `cutoff`."""
    return labelled_profiles(builder.history, builder.build(cutoff).profiles, cutoff, horizon_days)


def labelled_profiles(history: OrderHistory, profiles: pd.DataFrame, cutoff: dt.date, horizon_days: int) -> pd.DataFrame:
    """`labelled_cutoff` of an already built snapshot (`profiles` as of `cutoff`)."""
    features = feature_matrix(profiles)
    buyers = bought_within(history, cutoff, horizon_days)
    features["label"] = features.index.isin(buyers).astype(int)
    features["cutoff"] = cutoff
    return features


def stacked_dataset(builder: SnapshotBuilder, cutoffs: list[dt.date], horizon_days: int) -> pd.DataFrame:
    """`labelled_cutoff` of every cut-off, stacked (index customer_id repeats across cut-offs)."""
    if not cutoffs:
        raise ValueError("no training cut-offs: the history is too short for the label horizon")
    return pd.concat([labelled_cutoff(builder, cutoff, horizon_days) for cutoff in cutoffs])
