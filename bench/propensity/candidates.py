"""Candidate signals the shipped features lack (issue 14), computed here for the ablation's "with"
variants: a signal joins `marketflow.propensity.features` only if it wins across the validation
cut-offs. Each is a function of data up to the cut-off D (and of the shop's trading calendar, which
is known ahead), so adding one cannot leak the label window.

- **season**: trading days in the label window D+1..D+30 (bank holidays, Easter, the shop's closed
  weekdays: `marketflow.ingest.calendar`) and days from D to the next Christmas, the shop's peak.
  The history starts 2010-12-01, so no training cut-off has the same weeks of a previous year:
  "the same weeks last year" cannot be computed for any cut-off here.
- **products**: distinct products the customer has bought, and the momentum of what they buy: the
  spend-weighted mean over their last year's basket lines of each product's log units sold in
  D-29..D over its monthly mean in D-119..D-30 (their products selling more this month than before).
- **country_activity**: the share of the customer's country's customers in D's snapshot who bought
  in the last 30 days (countries with fewer than 20 customers: unknown).
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import numpy as np
import pandas as pd

from marketflow.ingest.calendar import is_trading_day
from marketflow.ingest.settings import CalendarSettings
from marketflow.profiles.history import OrderHistory, day_number

CANDIDATES: dict[str, tuple[str, ...]] = {
    "season": ("trading_days_ahead", "days_to_christmas"),
    "products": ("distinct_products", "product_momentum"),
    "country_activity": ("country_active_share_30d",),
}
#: Countries with fewer customers in the snapshot get no activity share (too noisy to mean anything).
MIN_COUNTRY_CUSTOMERS = 20
HORIZON_DAYS = 30


@lru_cache(maxsize=512)
def trading_days_ahead(day: dt.date, horizon_days: int = HORIZON_DAYS) -> int:
    calendar = CalendarSettings()
    return sum(is_trading_day(day + dt.timedelta(days=offset), calendar) for offset in range(1, horizon_days + 1))


def days_to_christmas(day: dt.date) -> int:
    christmas = dt.date(day.year, 12, 25)
    return (christmas if christmas >= day else dt.date(day.year + 1, 12, 25)).toordinal() - day.toordinal()


def product_signals(history: OrderHistory, day: dt.date) -> pd.DataFrame:
    """distinct_products and product_momentum per customer_id (str) as of `day`."""
    lines = history.basket_lines
    today = day_number(day)
    lines = lines[(lines["day"] <= today) & lines["customer_id"].notna()]
    customers = lines["customer_id"].astype(str).to_numpy()
    products = lines["stock_code"].astype(str).to_numpy()
    distinct = pd.Series(products).groupby(customers).nunique()
    recent = lines["day"].to_numpy() > today - 30
    before = (lines["day"].to_numpy() > today - 120) & ~recent
    units = lines["units"].to_numpy(dtype=float)
    sold_recent = pd.Series(units[recent]).groupby(products[recent]).sum()
    sold_before = pd.Series(units[before]).groupby(products[before]).sum() / 3
    catalogue = sold_recent.index.union(sold_before.index)
    momentum = np.log1p(sold_recent.reindex(catalogue, fill_value=0.0)) - np.log1p(
        sold_before.reindex(catalogue, fill_value=0.0)
    )
    year = lines["day"].to_numpy() > today - 365
    weights = lines["value"].to_numpy(dtype=float)[year]
    weighted = momentum.reindex(products[year]).to_numpy() * weights
    owners = customers[year]
    customer_momentum = pd.Series(weighted).groupby(owners).sum() / pd.Series(weights).groupby(owners).sum()
    return pd.DataFrame({"distinct_products": distinct, "product_momentum": customer_momentum})


def country_active_share(profiles: pd.DataFrame) -> np.ndarray:
    """Per profile row: its country's share of customers with a purchase in the last 30 days."""
    active = pd.Series((profiles["purchases_30d"].to_numpy() > 0).astype(float))
    countries = profiles["country"].fillna("").to_numpy()
    share = active.groupby(countries).transform("mean").to_numpy()
    size = active.groupby(countries).transform("size").to_numpy()
    return np.where(size >= MIN_COUNTRY_CUSTOMERS, share, np.nan)


def with_candidates(rows: pd.DataFrame, profiles: pd.DataFrame, history: OrderHistory, day: dt.date) -> pd.DataFrame:
    """`rows` (a cut-off's features, index customer_id in `profiles`' order) plus every candidate column."""
    extended = rows.copy()
    extended["trading_days_ahead"] = float(trading_days_ahead(day))
    extended["days_to_christmas"] = float(days_to_christmas(day))
    signals = product_signals(history, day).reindex(extended.index)
    extended["distinct_products"] = signals["distinct_products"].to_numpy(dtype=float)
    extended["product_momentum"] = signals["product_momentum"].to_numpy(dtype=float)
    extended["country_active_share_30d"] = country_active_share(profiles)
    return extended
