"""The home-market feature follows the shop's own data, whatever its platform calls the country."""

from __future__ import annotations

import pandas as pd

from marketflow.propensity.features import PROFILE_FEATURES, feature_matrix, home_market


def _profiles(countries: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame({name: [1.0] * len(countries) for name in PROFILE_FEATURES})
    return frame.assign(customer_id=[f"c{i}" for i in range(len(countries))], price_band="mid", country=countries)


def test_the_home_market_is_where_most_customers_are_in_any_spelling() -> None:
    shopify = _profiles(["GB", "GB", "FR", "GB", "US"])
    uk_shop = _profiles(["United Kingdom", "Germany", "United Kingdom"])
    assert home_market(shopify) == "GB" and home_market(uk_shop) == "United Kingdom"
    assert feature_matrix(shopify)["home_market"].tolist() == [1.0, 1.0, 0.0, 1.0, 0.0]
    # A shard is scored with the whole snapshot's home market, not its own majority.
    assert feature_matrix(shopify.iloc[[2, 4]], home="GB")["home_market"].tolist() == [0.0, 0.0]
    assert home_market(shopify.iloc[0:0]) is None
