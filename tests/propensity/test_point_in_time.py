"""Features as of D see nothing after D; labels see only D+1..D+horizon; cut-offs never reach past
the training date. Checked on real orders by rewriting everything after D."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pandas.testing as pdt
import pytest

from marketflow.profiles.history import OrderHistory, prepare_history
from marketflow.profiles.settings import ProfileSettings
from marketflow.propensity.dataset import bought_within, labelled_cutoff, snapshot_builder, training_cutoffs
from marketflow.propensity.features import FEATURES, feature_matrix
from marketflow.propensity.settings import PropensitySettings

pytestmark = pytest.mark.real_data

CUTOFF = dt.date(2011, 2, 15)


@pytest.fixture(scope="module")
def spring_orders(real_orders: pd.DataFrame) -> pd.DataFrame:
    return real_orders[real_orders["order_date"] <= dt.date(2011, 4, 30)].reset_index(drop=True)


def rewritten_after(orders: pd.DataFrame, day: dt.date) -> pd.DataFrame:
    """Orders up to `day` unchanged; every later line's customer, quantity and price rewritten."""
    later = orders["order_date"] > day
    changed = orders.copy()
    changed.loc[later, "customer_id"] = changed.loc[later, "customer_id"].sample(frac=1.0, random_state=1).to_numpy()
    changed.loc[later, "quantity"] = changed.loc[later, "quantity"] * 3
    changed.loc[later, "unit_price"] = changed.loc[later, "unit_price"] + 1.0
    return changed


def history(orders: pd.DataFrame) -> OrderHistory:
    return prepare_history(orders, ProfileSettings())


def test_changing_orders_after_the_cutoff_does_not_change_its_features(spring_orders: pd.DataFrame) -> None:
    original = feature_matrix(snapshot_builder(history(spring_orders), ProfileSettings()).build(CUTOFF).profiles)
    changed_orders = rewritten_after(spring_orders, CUTOFF)
    assert not changed_orders.equals(spring_orders)
    changed = feature_matrix(snapshot_builder(history(changed_orders), ProfileSettings()).build(CUTOFF).profiles)
    assert len(original) > 1000 and list(original.columns) == list(FEATURES)
    pdt.assert_frame_equal(original, changed)


def test_labels_are_purchases_in_the_window_only(spring_orders: pd.DataFrame) -> None:
    horizon = 30
    window_end = CUTOFF + dt.timedelta(days=horizon)
    labels = labelled_cutoff(snapshot_builder(history(spring_orders), ProfileSettings()), CUTOFF, horizon)["label"]
    after_window = rewritten_after(spring_orders, window_end)
    unchanged = bought_within(history(spring_orders), CUTOFF, horizon)
    assert bought_within(history(after_window), CUTOFF, horizon) == unchanged

    in_window = spring_orders[(spring_orders["order_date"] > CUTOFF) & (spring_orders["order_date"] <= window_end)]
    bought = in_window[~in_window["is_return"] & (in_window["quantity"] > 0) & in_window["customer_id"].notna()]
    buyers = set(bought["customer_id"]) & set(labels.index)
    returns_only = set(in_window.loc[in_window["is_return"], "customer_id"].dropna()) - set(bought["customer_id"])
    assert set(labels[labels == 1].index) <= buyers
    assert len(buyers) - labels.sum() < 0.02 * len(buyers), "only service-only invoices may be missing"
    assert labels.reindex(sorted(returns_only & set(labels.index))).sum() == 0, "a return is not a purchase"


def test_training_cutoffs_end_their_label_window_by_the_training_date(real_history: OrderHistory) -> None:
    settings = PropensitySettings()
    as_of = dt.date(2011, 6, 15)
    cutoffs = training_cutoffs(real_history, as_of, settings)
    assert cutoffs == sorted(cutoffs) and len(cutoffs) > 10
    assert cutoffs[-1] + dt.timedelta(days=settings.horizon_days) == as_of
    assert all(b - a == dt.timedelta(days=settings.cutoff_step_days) for a, b in zip(cutoffs, cutoffs[1:]))
    assert cutoffs[0] >= dt.date(2010, 12, 1) + dt.timedelta(days=settings.min_history_days)
