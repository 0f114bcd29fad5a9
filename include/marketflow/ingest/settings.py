"""Typed settings of the ingest stage, validated when loaded (errors name the field and its env var).

Kept light (pydantic only): the DAG file reads the sensor's poke interval and timeout at parse time.

Environment overrides (all optional):

| variable | field |
|---|---|
| `MARKETFLOW_LANDING_URL` | `landing_url` (a folder or any fsspec URL: `s3://bucket/exports`, `memory://x`) |
| `MARKETFLOW_INGEST_MAX_BAD_ROW_SHARE` | `max_bad_row_share` |
| `MARKETFLOW_INGEST_ROW_COUNT_WINDOW_DAYS` | `row_count_window_days` |
| `MARKETFLOW_INGEST_ROW_COUNT_MIN_RATIO` | `row_count_min_ratio` |
| `MARKETFLOW_INGEST_ROW_COUNT_MAX_RATIO` | `row_count_max_ratio` |
| `MARKETFLOW_INGEST_EXPORT_POKE_INTERVAL_S` | `export_poke_interval_s` |
| `MARKETFLOW_INGEST_EXPORT_TIMEOUT_S` | `export_timeout_s` |
| `MARKETFLOW_INGEST_BATCH_DAYS` | `batch_days` |
| `MARKETFLOW_INGEST_SOURCE` | `source` (`online_retail`, `shopify` or `mapped`) |
| `MARKETFLOW_INGEST_MAPPING_FILE` | `mapping_file` (the YAML column mapping of a `mapped` source) |
| `MARKETFLOW_INGEST_CURRENCY` | `currency` |
| `MARKETFLOW_INGEST_EXCHANGE_RATES` | `exchange_rates` (JSON: `{"USD": 0.79}`) |
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from pathlib import Path

from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from marketflow.env_settings import settings_from_env

ENV_PREFIX = "MARKETFLOW_INGEST_"
LANDING_URL_ENV = "MARKETFLOW_LANDING_URL"


def default_landing_url() -> str:
    """`$AIRFLOW_HOME/landing`: where the shop drops its daily exports unless configured."""
    airflow_home = Path(os.environ.get("AIRFLOW_HOME", Path.home() / "airflow"))
    return str(airflow_home / "landing")


class AnnualClosure(BaseModel):
    """Days the shop closes every year, e.g. the Christmas shutdown 24 Dec - 3 Jan (may wrap the year)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    first: str = Field(pattern=r"^\d{2}-\d{2}$", description="MM-DD of the first closed day")
    last: str = Field(pattern=r"^\d{2}-\d{2}$", description="MM-DD of the last closed day")
    label: str

    @field_validator("first", "last")
    @classmethod
    def _is_a_calendar_day(cls, value: str) -> str:
        dt.date.fromisoformat(f"2000-{value}")  # a leap year accepts every real MM-DD
        return value

    def covers(self, day: dt.date) -> bool:
        month_day = day.strftime("%m-%d")
        if self.first <= self.last:
            return self.first <= month_day <= self.last
        return month_day >= self.first or month_day <= self.last


class CalendarSettings(BaseModel):
    """When the shop trades. Defaults reproduce the real shop: every gap in its history is one of these."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    closed_weekdays: tuple[int, ...] = Field(
        default=(5,), description="Python weekday numbers the shop never trades (5 = Saturday)"
    )
    bank_holidays_country: str | None = Field(
        default="GB", description="`holidays` country code whose public holidays close the shop"
    )
    bank_holidays_subdiv: str | None = Field(default="ENG", description="subdivision, e.g. ENG")
    annual_closures: tuple[AnnualClosure, ...] = (
        AnnualClosure(first="12-24", last="01-03", label="Christmas shutdown"),
    )
    closed_dates: Mapping[dt.date, str] = Field(
        default_factory=lambda: {dt.date(2011, 4, 24): "Easter Sunday"},
        description="one-off closed days -> why",
    )

    @field_validator("closed_weekdays")
    @classmethod
    def _weekdays_in_range(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(not 0 <= day <= 6 for day in value):
            raise ValueError("weekdays are 0 (Monday) .. 6 (Sunday)")
        return value


class IngestSettings(BaseModel):
    """Everything the ingest stage can be told; `IngestSettings.from_env()` applies the env overrides."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    landing_url: str = Field(default_factory=default_landing_url, min_length=1)
    max_bad_row_share: float = Field(
        default=0.10,
        ge=0.0,
        le=1.0,
        description="a day fails, unpublished, when more than this share of its rows is quarantined "
        "(the real history peaks at 5.9%, all exact duplicate lines)",
    )
    row_count_window_days: int = Field(
        default=20, ge=1, description="how many recently loaded days the row-count sanity check compares with"
    )
    row_count_min_ratio: float = Field(
        default=0.05, gt=0.0, description="fewest rows, as a share of the recent median (real low: 0.13)"
    )
    row_count_max_ratio: float = Field(
        default=20.0, gt=1.0, description="most rows, as a multiple of the recent median (real high: 2.6)"
    )
    export_poke_interval_s: float = Field(
        default=300.0, gt=0.0, description="how often wait_for_export looks for a late export"
    )
    export_timeout_s: float = Field(
        default=6 * 3600.0, ge=0.0, description="how long wait_for_export waits before failing the day"
    )
    batch_days: int = Field(
        default=92,
        ge=1,
        description="a range load (backfill) validates and publishes this many trading days at a time",
    )
    calendar: CalendarSettings = Field(default_factory=CalendarSettings)
    source: Literal["online_retail", "shopify", "mapped"] = Field(
        default="online_retail", description="the shop platform whose exports land (see ingest/sources)"
    )
    mapping_file: str | None = Field(
        default=None, min_length=1, description="the YAML column mapping of a `mapped` source"
    )
    currency: str = Field(
        default="GBP", pattern=r"^[A-Z]{3}$", description="the shop's currency: every price is stored in it"
    )
    exchange_rates: Mapping[str, float] = Field(
        default_factory=dict,
        description="shop-currency value of one unit of another currency; lines in a currency without a "
        "rate are quarantined",
    )

    @field_validator("exchange_rates")
    @classmethod
    def _rates_are_positive(cls, value: Mapping[str, float]) -> Mapping[str, float]:
        bad = [code for code, rate in value.items() if not rate > 0 or len(code) != 3]
        if bad:
            raise ValueError(f"need 3-letter codes with positive rates: {', '.join(bad)}")
        return value

    @model_validator(mode="after")
    def _mapping_with_mapped_source(self) -> Self:
        if (self.source == "mapped") != (self.mapping_file is not None):
            raise ValueError("mapping_file is required by, and only read for, source 'mapped'")
        return self

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> IngestSettings:
        """Settings from `MARKETFLOW_LANDING_URL` / `MARKETFLOW_INGEST_*`, then `overrides`."""
        return settings_from_env(cls, ENV_PREFIX, "ingest", environ, overrides, {"landing_url": LANDING_URL_ENV})
