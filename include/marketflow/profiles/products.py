"""Product popularity and trend as of a date, guests' purchases included.

- `purchases_30d`: purchases (invoices) containing the product in the 30 days up to and including
  the date; `purchases_prev_30d`: in the 30 days before those.
- `popularity_rank`: 1 = most purchased in the last 30 days (ties: more units, then stock code);
  NULL when not bought in those 30 days.
- `revenue_30d`: quantity x unit price over those purchases, rounded to 6 decimals.
- `trend_ratio` = (purchases_30d + 1) / (purchases_prev_30d + 1); `trend` is "new" for a product
  first sold in the last 30 days, else "rising" (ratio >= 1.5), "falling" (ratio <= 1/1.5) or "steady".

A product gets a row when it was bought in the last 60 days.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from marketflow.profiles.arrays import sort_order
from marketflow.profiles.history import VALUE_DECIMALS, OrderHistory, day_number

TREND_WINDOW_DAYS = 30
RISING_FROM = 1.5

PRODUCT_STATS_COLUMNS = [
    "stock_code",
    "description",
    "purchases_30d",
    "purchases_prev_30d",
    "customers_30d",
    "units_30d",
    "revenue_30d",
    "popularity_rank",
    "trend_ratio",
    "trend",
]


#: Per-product counts of the 60 days up to a date, from which `stats_from_counts` makes the rest.
COUNT_COLUMNS = ["stock_code", "purchases_30d", "purchases_prev_30d", "customers_30d", "units_30d", "revenue_30d"]


def product_stats(history: OrderHistory, as_of: dt.date, catalogue: pd.DataFrame) -> pd.DataFrame:
    """One row per product bought in the 60 days up to `as_of` (columns `PRODUCT_STATS_COLUMNS`)."""
    return stats_from_counts(product_counts(history, as_of), as_of, catalogue)


def product_counts(history: OrderHistory, as_of: dt.date) -> pd.DataFrame:
    """`COUNT_COLUMNS` of every product bought in the 60 days up to `as_of`, by stock code (the
    sharded build asks the warehouse for the same counts: `marketflow.profiles.sharded`)."""
    today = day_number(as_of)
    window_start = today - TREND_WINDOW_DAYS
    basket = history.basket_arrays()
    in_window = (basket["day"] <= today) & (basket["day"] > window_start - TREND_WINDOW_DAYS)
    if not in_window.any():
        return pd.DataFrame(columns=COUNT_COLUMNS)
    codes = basket["products"]
    product, customer = basket["product"][in_window], basket["customer"][in_window]  # customer -1: guest
    units, value = basket["units"][in_window].astype(float), basket["value"][in_window]
    recent = basket["day"][in_window] > window_start

    def per_product(mask: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        return np.bincount(product[mask], weights=None if weights is None else weights[mask], minlength=len(codes))

    purchases = per_product(recent)
    previous = per_product(~recent)
    buyers = recent & (customer >= 0)
    stride = max(len(basket["customers"]), 1)
    pairs = np.unique(product[buyers] * stride + customer[buyers])
    customers = np.bincount(pairs // stride, minlength=len(codes))
    units_30d = per_product(recent, units)
    revenue = per_product(recent, value)
    present = np.flatnonzero(purchases + previous > 0)
    return pd.DataFrame(
        {
            "stock_code": codes[present],
            "purchases_30d": purchases[present],
            "purchases_prev_30d": previous[present],
            "customers_30d": customers[present],
            "units_30d": units_30d[present].astype(np.int64),
            "revenue_30d": revenue[present],
        }
    )


def stats_from_counts(counts: pd.DataFrame, as_of: dt.date, catalogue: pd.DataFrame) -> pd.DataFrame:
    """Rank, trend and description for `product_counts` rows (sorted by stock code: ties of the rank
    go to the first stock code)."""
    if counts.empty:
        return pd.DataFrame(columns=PRODUCT_STATS_COLUMNS)
    window_start = day_number(as_of) - TREND_WINDOW_DAYS
    stats = counts.reset_index(drop=True)
    # rounded like every value (`history.VALUE_DECIMALS`): the warehouse sums in its own order
    stats["revenue_30d"] = stats["revenue_30d"].astype(float).round(VALUE_DECIMALS)
    bought = np.flatnonzero(stats["purchases_30d"].to_numpy() > 0)
    purchases_30d, units_30d = stats["purchases_30d"].to_numpy(), stats["units_30d"].to_numpy()
    order = bought[sort_order(-purchases_30d[bought], -units_30d[bought], bought)]
    rank = np.full(len(stats), np.nan)
    rank[order] = np.arange(1, len(order) + 1)
    stats["popularity_rank"] = rank
    stats["trend_ratio"] = (stats["purchases_30d"] + 1) / (stats["purchases_prev_30d"] + 1)
    known = catalogue.set_index("stock_code")
    first_day = known["first_day"].reindex(stats["stock_code"]).to_numpy()
    stats["trend"] = np.select(
        [first_day > window_start, stats["trend_ratio"] >= RISING_FROM, stats["trend_ratio"] <= 1 / RISING_FROM],
        ["new", "rising", "falling"],
        default="steady",
    )
    stats["description"] = known["description"].reindex(stats["stock_code"]).to_numpy()
    return stats[PRODUCT_STATS_COLUMNS]
