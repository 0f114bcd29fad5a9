"""Per-customer facts as of a date: recency, frequency, spend, returns, windows, tastes.

Only customers with at least one purchase on or before the date get a row. The definitions of
purchase, purchase value and returned value are in `marketflow.profiles.history`.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from marketflow.profiles.arrays import run_starts, sort_order
from marketflow.profiles.history import OrderHistory, day_number
from marketflow.profiles.settings import ProfileSettings

WINDOWS = (30, 90, 365)
PRICE_BANDS = ("budget", "mid", "premium")


def customer_facts(
    history: OrderHistory, as_of: dt.date, groups: pd.DataFrame, catalogue: pd.DataFrame, settings: ProfileSettings
) -> pd.DataFrame:
    """One row per customer (index customer_id) with every measured profile column.

    `groups` maps stock_code -> group_name (products without a group are ignored for the favourite
    group); `catalogue` maps stock_code -> description as of the date.
    """
    today = day_number(as_of)
    invoices = history.invoices[history.invoices["day"] <= today]
    purchases = invoices[invoices["is_purchase"]]
    if purchases.empty:
        return _empty_facts()
    per_customer = purchases.groupby("customer_id", sort=True, observed=True)
    facts = pd.DataFrame(
        {
            "first_day": per_customer["day"].min(),
            "last_day": per_customer["day"].max(),
            "frequency": per_customer.size(),
            "gross_spend": per_customer["purchase_value"].sum(),
        }
    )
    facts.index = facts.index.astype(str)
    returned = _plain(invoices.groupby("customer_id", sort=True, observed=True)["returned_value"].sum())
    facts["returned_value"] = returned.reindex(facts.index, fill_value=0.0)
    facts["recency_days"] = today - facts["last_day"]
    facts["tenure_days"] = today - facts["first_day"]
    facts["monetary"] = facts["gross_spend"] - facts["returned_value"]
    facts["avg_basket_value"] = facts["gross_spend"] / facts["frequency"]
    facts["return_rate"] = _return_rate(facts["returned_value"], facts["gross_spend"])
    for window in WINDOWS:
        recent = purchases[purchases["day"] > today - window]
        counts = _plain(recent.groupby("customer_id", sort=True, observed=True).size())
        facts[f"purchases_{window}d"] = counts.reindex(facts.index, fill_value=0).astype(int)
    facts["country"] = _plain(_latest_country(invoices)).reindex(facts.index)

    pairs = _BasketPairs(history.basket_arrays(), today)
    facts["favourite_products"] = pairs.favourite_products(catalogue, settings.favourite_products).reindex(facts.index)
    facts["favourite_group"] = pairs.favourite_group(groups).reindex(facts.index)
    facts["price_band"] = pairs.price_band(settings).reindex(facts.index)
    facts.index.name = "customer_id"
    return facts


def _plain(by_customer: pd.Series) -> pd.Series:
    """A per-customer series indexed by plain string ids: reindexing one categorical index by another
    fails in pandas when their code widths differ (an empty window of a day without recent orders)."""
    return by_customer.set_axis(by_customer.index.astype(str))


def _empty_facts() -> pd.DataFrame:
    return pd.DataFrame(index=pd.Index([], name="customer_id", dtype=str))


def _return_rate(returned: pd.Series, gross: pd.Series) -> pd.Series:
    """Returned value / purchased value, in [0, 1] (returns of purchases made before the history
    starts can exceed what the history shows bought, hence the clip)."""
    rate = np.where(gross > 0, returned / gross.where(gross > 0, 1.0), 0.0)
    return pd.Series(np.clip(rate, 0.0, 1.0), index=gross.index)


def _latest_country(invoices: pd.DataFrame) -> pd.Series:
    """Country of each customer's latest invoice (invoices come in the order they happened)."""
    return invoices.groupby("customer_id", sort=True, observed=True)["country"].last().astype(object)


class _BasketPairs:
    """A customer's basket lines condensed to (customer, product) pairs, on integer codes: the
    per-day hot path, so plain numpy rather than multi-key pandas groupbys. Relies on the basket
    lines being sorted by customer, then product (`history.prepare_history` sorts them)."""

    def __init__(self, basket: dict[str, np.ndarray], today: int) -> None:
        bought = (basket["day"] <= today) & (basket["customer"] >= 0)
        self.customers, self.products = basket["customers"], basket["products"]
        customer, product = basket["customer"][bought], basket["product"][bought]
        self.line_customer = customer
        self.line_unit_price = basket["value"][bought] / basket["units"][bought]
        key = customer * len(self.products) + product
        starts = run_starts(key)
        self.pair_customer = customer[starts]
        self.pair_product = product[starts]
        self.pair_purchases = np.diff(np.r_[starts, len(key)])
        units = basket["units"][bought]
        self.pair_units = np.add.reduceat(units, starts) if len(key) else units[:0]

    def _first_rows_per_customer(self, order: np.ndarray, per_customer: int) -> np.ndarray:
        """Positions (into `order`) of the first `per_customer` rows of each customer."""
        customers = self.pair_customer[order]
        starts = np.r_[0, np.flatnonzero(customers[1:] != customers[:-1]) + 1]
        rank = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
        return np.flatnonzero(rank < per_customer)

    def favourite_products(self, catalogue: pd.DataFrame, count: int) -> pd.Series:
        """Top products per customer by purchases containing them, then units, then stock code."""
        if len(self.pair_customer) == 0:
            return pd.Series(dtype=object)
        # product codes follow the sorted stock codes, so sorting by code sorts by stock code
        order = sort_order(self.pair_customer, -self.pair_purchases, -self.pair_units, self.pair_product)
        top = order[self._first_rows_per_customer(order, count)]
        descriptions = dict(zip(catalogue["stock_code"], catalogue["description"], strict=True))
        codes = self.products[self.pair_product[top]]
        items = [
            {"stock_code": code, "description": descriptions.get(code), "purchases": purchases}
            for code, purchases in zip(codes, self.pair_purchases[top].tolist(), strict=True)
        ]
        customers = self.pair_customer[top]
        starts = np.flatnonzero(np.r_[True, customers[1:] != customers[:-1]])
        ends = np.r_[starts[1:], len(customers)]
        return pd.Series(
            [items[start:end] for start, end in zip(starts.tolist(), ends.tolist(), strict=True)],
            index=self.customers[customers[starts]],
            dtype=object,
        )

    def favourite_group(self, groups: pd.DataFrame) -> pd.Series:
        """The product group with most (purchase, product) pairs; ties go to the alphabetically first."""
        if groups.empty or len(self.pair_customer) == 0:
            return pd.Series(dtype=object)
        names = np.array(sorted(set(groups["group_name"])), dtype=object)
        rank_of_name = {name: rank for rank, name in enumerate(names)}
        rank_of_code = {
            code: rank_of_name[name] for code, name in zip(groups["stock_code"], groups["group_name"], strict=True)
        }
        group_of_code = np.array([rank_of_code.get(code, -1) for code in self.products], dtype=np.int64)
        pair_group = group_of_code[self.pair_product]
        grouped = pair_group >= 0
        if not grouped.any():  # groups fitted on products none of these customers bought
            return pd.Series(dtype=object)
        key = self.pair_customer[grouped] * len(names) + pair_group[grouped]
        keys, inverse = np.unique(key, return_inverse=True)
        pairs = np.bincount(inverse, weights=self.pair_purchases[grouped], minlength=len(keys))
        customer, group = keys // len(names), keys % len(names)
        order = sort_order(customer, -pairs, group)
        first = np.r_[True, customer[order][1:] != customer[order][:-1]]
        best = order[first]
        return pd.Series(names[group[best]], index=self.customers[customer[best]], dtype=object)

    def price_band(self, settings: ProfileSettings) -> pd.Series:
        """The band (budget / mid / premium) of most basket lines by unit price paid; ties go to the
        cheaper band."""
        if len(self.line_customer) == 0:
            return pd.Series(dtype=object)
        unit_price = self.line_unit_price
        band = np.select([unit_price < settings.budget_below, unit_price < settings.premium_from], [0, 1], default=2)
        customer = self.line_customer
        lines = np.bincount(customer * 3 + band, minlength=3 * len(self.customers)).reshape(-1, 3)
        bought = lines.sum(axis=1) > 0
        best = lines[bought].argmax(axis=1)  # first maximum: the cheaper band on ties
        return pd.Series(np.array(PRICE_BANDS, dtype=object)[best], index=self.customers[bought], dtype=object)
