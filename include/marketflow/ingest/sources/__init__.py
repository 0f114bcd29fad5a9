"""Source adapters: each shop platform's exports -> the canonical order line and CRM record
(`contract`), chosen by `IngestSettings.source`. The contract's checks then run the same for every
source, so every source gets the same quarantine and reasons (worded with its own column names).

- `online_retail` (default): the UK shop's layout, unchanged;
- `shopify`: Shopify's orders and customers exports;
- `mapped`: any other CSV through a YAML column mapping (`IngestSettings.mapping_file`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from marketflow.ingest.csv_export import ExportText
from marketflow.ingest.sources import mapped, online_retail, shopify
from marketflow.ingest.sources.contract import Checks

if TYPE_CHECKING:
    from marketflow.ingest.settings import IngestSettings


@dataclass(frozen=True)
class Source:
    """How to read one platform's two daily exports, and how its checks word their reasons."""

    name: str
    read_orders: Callable[[bytes, str], ExportText]
    read_customers: Callable[[bytes, str], ExportText]
    orders_checks: Checks
    customers_checks: Checks


def source_for(settings: IngestSettings) -> Source:
    """The adapter `settings.source` names (a mapped source loads and validates its mapping file)."""
    currency = settings.currency

    def orders_checks(checks: Checks) -> Checks:
        """Lines carrying their own currency must end up in the shop's (converted, or quarantined)."""
        return dataclasses.replace(checks, shop_currency=currency)

    if settings.source == "shopify":
        return Source(
            "shopify", shopify.read_orders, shopify.read_customers,
            orders_checks(shopify.ORDERS_CHECKS), shopify.CUSTOMERS_CHECKS,
        )
    if settings.source == "mapped":
        assert settings.mapping_file is not None  # the settings' validator requires it
        mapping = mapped.load_mapping(settings.mapping_file)
        return Source(
            "mapped", partial(mapped.read_orders, mapping=mapping, shop_currency=currency),
            online_retail.read_customers, orders_checks(mapping.checks(settings.mapping_file)),
            online_retail.CUSTOMERS_CHECKS,
        )
    return Source(
        "online_retail", partial(online_retail.read_orders, shop_currency=currency), online_retail.read_customers,
        online_retail.ORDERS_CHECKS, online_retail.CUSTOMERS_CHECKS,
    )


__all__ = ["Checks", "Source", "source_for"]
