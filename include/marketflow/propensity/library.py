"""The propensity model on a plain orders table, without a warehouse or Airflow.

`orders` is a DataFrame with the `orders` table's columns (`order_date`, `invoice_no`, `stock_code`,
`description`, `quantity`, `unit_price`, `customer_id`, `country`, `is_return`, `invoice_ts`): what
ingest stores, whatever the shop's platform. The `score_audiences` DAG trains through `train` (on the
warehouse's orders) and the bench calls both, so all of them fit and score the same model.

    model, report = train(orders, as_of=dt.date(2011, 10, 31))
    scores = score(model, orders, as_of=dt.date(2011, 10, 31))  # customer_id, propensity_30d, top_reasons
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import pandas as pd

from marketflow.profiles.history import OrderHistory, day_number, prepare_history
from marketflow.profiles.settings import ProfileSettings
from marketflow.propensity.dataset import bought_within, snapshot_builder, stacked_dataset, training_cutoffs
from marketflow.propensity.features import feature_matrix
from marketflow.propensity.model import PropensityModel, TrainingReport, train_model
from marketflow.propensity.scoring import score_customers, score_without_purchases
from marketflow.propensity.settings import PropensitySettings


def _through(orders: pd.DataFrame, as_of: dt.date) -> pd.DataFrame:
    """The lines dated on or before `as_of` (the frame itself when that is all of them: no copy)."""
    dated = pd.to_datetime(orders["order_date"]) <= pd.Timestamp(as_of)
    return orders if dated.all() else orders[dated.to_numpy()]


#: Pseudo-customers of the prior in `no_purchase_rate`: a handful of observed customers moves it
#: little, hundreds decide it.
PRIOR_STRENGTH = 20


def first_order_days(orders: pd.DataFrame) -> pd.Series:
    """customer_id -> the day number of their first order line of any kind (services included)."""
    known = orders[orders["customer_id"].notna()]
    days = pd.to_datetime(known["order_date"]).dt.normalize()
    first = days.groupby(known["customer_id"].astype(str), observed=True).min()
    return (first - pd.Timestamp("1970-01-01")).dt.days


def no_purchase_rate(
    first_orders: pd.Series, history: OrderHistory, cutoffs: list[dt.date], horizon_days: int, prior: float
) -> float:
    """The share of known customers without a product purchase at each training cut-off who made one
    in the label window, shrunk toward `prior` with `PRIOR_STRENGTH` pseudo-customers."""
    invoices = history.invoices[history.invoices["is_purchase"]]
    first_purchase = invoices.groupby(invoices["customer_id"].astype(str), observed=True)["day"].min()
    seen = bought = 0
    for cutoff in cutoffs:
        day = day_number(cutoff)
        known = first_orders.index[first_orders.to_numpy() <= day]
        purchased = first_purchase.reindex(known).to_numpy()
        without = known[~(purchased <= day)]  # NaN (never) compares False
        seen += len(without)
        bought += len(set(without) & bought_within(history, cutoff, horizon_days))
    return float((bought + prior * PRIOR_STRENGTH) / (seen + PRIOR_STRENGTH))


def train(
    orders: pd.DataFrame,
    as_of: dt.date,
    settings: PropensitySettings | None = None,
    profile_settings: ProfileSettings | None = None,
) -> tuple[PropensityModel, TrainingReport]:
    """A calibrated model trained on weekly cut-offs whose label windows end by `as_of`."""
    settings = settings or PropensitySettings()
    profile_settings = profile_settings or ProfileSettings()
    dated = _through(orders, as_of)  # nothing later is read
    history = prepare_history(dated, profile_settings)
    cutoffs = training_cutoffs(history, as_of, settings)
    dataset = stacked_dataset(snapshot_builder(history, profile_settings), cutoffs, settings.horizon_days)
    model, report = train_model(dataset, settings)
    rate = no_purchase_rate(
        first_order_days(dated), history, cutoffs, settings.horizon_days, float(dataset["label"].mean())
    )
    return dataclasses.replace(model, no_purchase_rate=rate), report


def score(
    model: PropensityModel,
    orders: pd.DataFrame,
    as_of: dt.date,
    settings: PropensitySettings | None = None,
    profile_settings: ProfileSettings | None = None,
) -> pd.DataFrame:
    """`customer_id`, `propensity_30d` and `top_reasons` of every customer with an order line by `as_of`:
    from their profile as of that day (the one the profile stage would store), or, for a customer
    without a product purchase yet, the model's `no_purchase_rate`."""
    settings = settings or PropensitySettings()
    profile_settings = profile_settings or ProfileSettings()
    dated = _through(orders, as_of)
    profiles = snapshot_builder(prepare_history(dated, profile_settings), profile_settings).build(as_of).profiles
    scored = score_customers(model, feature_matrix(profiles), settings.top_reasons)
    known = first_order_days(dated).index
    without = sorted(set(known) - set(scored["customer_id"]))
    return pd.concat([scored, score_without_purchases(model, without)], ignore_index=True)
