"""Typed settings of the profile stage, validated when loaded (errors name the field and its env var).

Environment overrides (all optional): `MARKETFLOW_PROFILES_<FIELD>` for every scalar field, e.g.
`MARKETFLOW_PROFILES_BUDGET_BELOW=1.25` or `MARKETFLOW_PROFILES_SHARDS=8`; list fields take
comma-separated values (`MARKETFLOW_PROFILES_SERVICE_CODES=POST,DOT,M`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from marketflow.env_settings import settings_from_env

ENV_PREFIX = "MARKETFLOW_PROFILES_"
#: The most customer shards a build maps over.
MAX_SHARDS = 256

#: Stock codes that are not merchandise in the shop's data: postage, carriage, fees, manual
#: adjustments, discounts, samples, bad-debt write-offs; and the partial-refund line the Shopify
#: adapter adds (`REFUND`).
DEFAULT_SERVICE_CODES = (
    "POST", "DOT", "C2", "M", "D", "S", "B", "BANK CHARGES", "AMAZONFEE", "CRUK", "REFUND",
)


class ProfileSettings(BaseModel):
    """Everything the profile stage can be told; `ProfileSettings.from_env()` applies env overrides."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    service_codes: tuple[str, ...] = Field(
        default=DEFAULT_SERVICE_CODES,
        description="stock codes (case-insensitive) that are services, not merchandise: never counted",
    )
    service_code_prefixes: tuple[str, ...] = Field(
        default=("gift_",), description="stock-code prefixes of services (gift vouchers)"
    )
    favourite_products: int = Field(default=3, ge=1, le=20, description="products listed per customer")
    budget_below: float = Field(default=1.50, gt=0, description="unit price under which a line is 'budget'")
    premium_from: float = Field(default=4.00, gt=0, description="unit price from which a line is 'premium'")
    products_per_group: int = Field(
        default=50, ge=5, description="catalogue size / this = number of product groups"
    )
    max_groups: int = Field(default=100, ge=2, description="upper bound on the number of product groups")
    group_seed: int = Field(default=0, description="seed of the product clustering (same seed, same groups)")
    clv_min_history_days: int = Field(
        default=90, ge=1, description="history needed before lifetime value is predicted (else NULL)"
    )
    clv_min_repeat_customers: int = Field(
        default=50, ge=2, description="customers with a repeat purchase needed to fit the CLV models"
    )
    shards: int = Field(
        default=4,
        ge=1,
        le=MAX_SHARDS,
        description="the fewest customer shards whose profiles are built as mapped tasks",
    )
    lines_per_shard: int = Field(
        default=5_000_000,
        ge=1_000,
        description="most order lines of history a shard should hold (about 0.34 GB of a task's memory per "
        "million): a longer history is built in more shards than `shards`",
    )

    def shards_for(self, history_lines: int) -> int:
        """The shard count for a history of that many order lines: `shards`, or as many more as keep
        each shard within `lines_per_shard` (customers hash evenly, so their lines split evenly), up
        to MAX_SHARDS."""
        return min(MAX_SHARDS, max(self.shards, -(-history_lines // self.lines_per_shard)))

    def is_service(self, stock_codes: Any) -> Any:
        """True where a stock code (a pandas Series) is a service, not merchandise. The recommender and
        the campaigns' product picks honour the same list: services are never offered to a customer."""
        upper = stock_codes.astype(str).str.upper()
        service = upper.isin({code.upper() for code in self.service_codes})
        for prefix in self.service_code_prefixes:
            service |= upper.str.startswith(prefix.upper())
        return service

    def service_clause(self, stock_code: Any) -> Any:
        """The same test as a SQL expression on a stock-code column."""
        from sqlalchemy import func, or_

        upper = func.upper(stock_code)
        prefixes = [upper.startswith(prefix.upper(), autoescape=True) for prefix in self.service_code_prefixes]
        return or_(upper.in_([code.upper() for code in self.service_codes]), *prefixes)

    @model_validator(mode="after")
    def _bands_are_ordered(self) -> ProfileSettings:
        if self.premium_from <= self.budget_below:
            raise ValueError("premium_from must be greater than budget_below")
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> ProfileSettings:
        """Settings from `MARKETFLOW_PROFILES_*`, then `overrides`."""
        return settings_from_env(cls, ENV_PREFIX, "profile", environ, overrides)
