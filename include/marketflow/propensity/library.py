"""The propensity model on a plain orders table, without a warehouse or Airflow.

`orders` is a DataFrame with the `orders` table's columns (`order_date`, `invoice_no`, `stock_code`,
`description`, `quantity`, `unit_price`, `customer_id`, `country`, `is_return`, `invoice_ts`): what
ingest stores, whatever the shop's platform. The `score_audiences` DAG trains through `train` (on the
warehouse's orders) and the bench calls both, so all of them fit and score the same model.

    model, report = train(orders, as_of=dt.date(2011, 10, 31))
    scores = score(model, orders, as_of=dt.date(2011, 10, 31))  # customer_id, propensity_30d, top_reasons
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from marketflow.profiles.history import OrderHistory, prepare_history
from marketflow.profiles.settings import ProfileSettings
from marketflow.propensity.dataset import snapshot_builder, stacked_dataset, training_cutoffs
from marketflow.propensity.features import feature_matrix
from marketflow.propensity.model import PropensityModel, TrainingReport, train_model
from marketflow.propensity.scoring import score_customers
from marketflow.propensity.settings import PropensitySettings


def history_through(orders: pd.DataFrame, as_of: dt.date, profile_settings: ProfileSettings) -> OrderHistory:
    """The profile stage's history of the lines dated on or before `as_of` (nothing later is read)."""
    dated = pd.to_datetime(orders["order_date"]) <= pd.Timestamp(as_of)
    return prepare_history(orders if dated.all() else orders[dated.to_numpy()], profile_settings)


def train(
    orders: pd.DataFrame,
    as_of: dt.date,
    settings: PropensitySettings | None = None,
    profile_settings: ProfileSettings | None = None,
) -> tuple[PropensityModel, TrainingReport]:
    """A calibrated model trained on weekly cut-offs whose label windows end by `as_of`."""
    settings = settings or PropensitySettings()
    profile_settings = profile_settings or ProfileSettings()
    history = history_through(orders, as_of, profile_settings)
    cutoffs = training_cutoffs(history, as_of, settings)
    dataset = stacked_dataset(snapshot_builder(history, profile_settings), cutoffs, settings.horizon_days)
    return train_model(dataset, settings)


def score(
    model: PropensityModel,
    orders: pd.DataFrame,
    as_of: dt.date,
    settings: PropensitySettings | None = None,
    profile_settings: ProfileSettings | None = None,
) -> pd.DataFrame:
    """`customer_id`, `propensity_30d` and `top_reasons` of every customer with a purchase by `as_of`,
    from their profile as of that day (the one the profile stage would store)."""
    settings = settings or PropensitySettings()
    profile_settings = profile_settings or ProfileSettings()
    history = history_through(orders, as_of, profile_settings)
    profiles = snapshot_builder(history, profile_settings).build(as_of).profiles
    return score_customers(model, feature_matrix(profiles), settings.top_reasons)
