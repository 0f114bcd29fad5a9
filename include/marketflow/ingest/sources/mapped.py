"""Any other orders export (WooCommerce, Magento, a warehouse dump) through a column mapping in YAML.

```yaml
delimiter: ";"                       # one character; default ","
columns:                             # canonical field: the export's column
  order_id: Order Number
  product_id: SKU
  product_name: Item Name            # optional
  quantity: Quantity
  unit_price: Item Cost
  timestamp: Order Date
  customer_id: Customer ID           # optional: no column, every line is a guest checkout
  country: Billing Country           # optional if `country` is given
  currency: Order Currency           # optional if `currency` is given
country: United Kingdom              # constant, when there is no country column
currency: EUR                        # constant, when there is no currency column (default: the shop's)
timestamp_format: "%d/%m/%Y %H:%M"   # strptime format of the timestamp column
decimal_comma: true                  # 1.234,50 -> 1234.50 in quantity and unit_price
returns:                             # lines that reverse an earlier purchase (stored with negative quantity)
  column: Order Number
  prefix: R-
cancelled:                           # orders placed then cancelled: stored as bought and as returned
  column: Status
  values: [cancelled, refunded]
```

A marker matches a column's value by `prefix` or by one of `values` (case-insensitive). The CRM export
stays in the standard `CustomerID,Email,MarketingConsent` layout.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from pathlib import Path
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from marketflow.ingest.csv_export import ExportText, read_records
from marketflow.ingest.sources.contract import CANONICAL_TIMESTAMP, ORDER_FIELDS, Checks


class ColumnNames(BaseModel):
    """The export's column for each canonical field."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    order_id: str = Field(min_length=1)
    product_id: str = Field(min_length=1)
    product_name: str | None = None
    quantity: str = Field(min_length=1)
    unit_price: str = Field(min_length=1)
    timestamp: str = Field(min_length=1)
    customer_id: str | None = None
    country: str | None = None
    currency: str | None = None


class Marker(BaseModel):
    """Lines whose `column` starts with `prefix` or equals one of `values` (case-insensitive)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    column: str = Field(min_length=1)
    prefix: str | None = Field(default=None, min_length=1)
    values: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _one_test(self) -> Self:
        if (self.prefix is None) == (not self.values):
            raise ValueError("give exactly one of prefix or values")
        return self

    def matches(self, value: str) -> bool:
        if self.prefix is not None:
            return value.lower().startswith(self.prefix.lower())
        return value.lower() in {candidate.lower() for candidate in self.values}


class ColumnMapping(BaseModel):
    """How an export's columns and values become canonical order lines."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    delimiter: str = Field(default=",", min_length=1, max_length=1)
    columns: ColumnNames
    country: str | None = None
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")
    timestamp_format: str = CANONICAL_TIMESTAMP
    decimal_comma: bool = False
    returns: Marker | None = None
    cancelled: Marker | None = None

    @field_validator("timestamp_format")
    @classmethod
    def _formats_a_time(cls, value: str) -> str:
        example = dt.datetime(2011, 10, 3, 9, 15, 30)
        try:
            parsed = dt.datetime.strptime(example.strftime(value), value)
        except ValueError as error:
            raise ValueError(f"not a strptime format that reads back what it writes: {error}") from None
        if parsed.date() != example.date():
            raise ValueError("must hold the day, month and year")
        return value

    @model_validator(mode="after")
    def _country_given(self) -> Self:
        if self.columns.country is None and self.country is None:
            raise ValueError("give columns.country or a constant country")
        return self

    def source_columns(self) -> tuple[str, ...]:
        named = [name for name in self.columns.model_dump().values() if name]
        named += [marker.column for marker in (self.returns, self.cancelled) if marker is not None]
        return tuple(dict.fromkeys(named))

    def checks(self, path: str) -> Checks:
        columns = self.columns
        return Checks(
            source=f"mapped:{path}",
            labels=(
                ("invoice_no", columns.order_id), ("stock_code", columns.product_id),
                ("description", columns.product_name or "product name"), ("quantity", columns.quantity),
                ("invoice_ts", columns.timestamp), ("unit_price", columns.unit_price),
                ("currency", columns.currency or "currency"), ("customer_id", columns.customer_id or "customer"),
                ("country", columns.country or "country"),
            ),
            formats=(),
            timestamp_says=f"'{self.timestamp_format}'",
        )


@lru_cache(maxsize=8)
def _load(path: str, modified_ns: int) -> ColumnMapping:
    import yaml

    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        raise ValueError(f"column mapping {path}: cannot be read: {error}") from None
    try:
        return ColumnMapping.model_validate(document)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, item['loc'])) or 'mapping'}: {item['msg']}" for item in error.errors()
        )
        raise ValueError(f"column mapping {path}: {problems}") from None


def load_mapping(path: str) -> ColumnMapping:
    """The mapping in the YAML file `path`, validated (errors name the file and the field)."""
    try:
        modified = Path(path).stat().st_mtime_ns
    except OSError as error:
        raise ValueError(f"column mapping {path}: cannot be read: {error}") from None
    return _load(path, modified)


def _decimal_text(value: str, decimal_comma: bool) -> str:
    return value.replace(".", "").replace(",", ".") if decimal_comma else value


def _timestamps(values: list[str], timestamp_format: str) -> list[str]:
    """Canonical timestamps (vectorised); a value the format does not read is passed on as it was."""
    import pandas as pd

    text = pd.Series(values, dtype=object)
    parsed = pd.to_datetime(text, format=timestamp_format, errors="coerce")
    return parsed.dt.strftime(CANONICAL_TIMESTAMP).where(parsed.notna(), text).tolist()


def _negative(quantity: str) -> str:
    return quantity if quantity.startswith("-") else "-" + quantity


def read_orders(content: bytes, url: str, mapping: ColumnMapping, shop_currency: str) -> ExportText:
    """An export read through `mapping` as canonical order lines."""
    records = read_records(content, url, delimiter=mapping.delimiter)
    records.require(mapping.source_columns(), "the column mapping")
    names = mapping.columns
    count = len(records.records)

    def column(name: str | None, constant: str | None = None) -> list[str]:
        return records.column(name) if name else [constant or ""] * count

    quantity = [_decimal_text(value, mapping.decimal_comma) for value in column(names.quantity)]
    base = {
        "invoice_no": column(names.order_id),
        "stock_code": column(names.product_id),
        "description": column(names.product_name),
        "invoice_ts": _timestamps(column(names.timestamp), mapping.timestamp_format),
        "unit_price": [_decimal_text(value, mapping.decimal_comma) for value in column(names.unit_price)],
        "currency": column(names.currency, mapping.currency or shop_currency),
        "customer_id": column(names.customer_id),
        "country": column(names.country, mapping.country),
    }
    returned = [mapping.returns.matches(value) for value in column(mapping.returns.column)] if mapping.returns else [False] * count
    cancelled = (
        [mapping.cancelled.matches(value) for value in column(mapping.cancelled.column)] if mapping.cancelled else [False] * count
    )
    columns: dict[str, list] = {field: [] for field in ORDER_FIELDS}
    line_numbers: list[int] = []
    raw_lines: list[str] = []
    for index, record in enumerate(records.records):
        line = {field: values[index] for field, values in base.items()}
        rows = [(record.line_no, quantity[index], returned[index])]
        if returned[index]:
            rows = [(record.line_no, _negative(quantity[index]), True)]
        elif cancelled[index]:
            rows.append((-record.line_no, _negative(quantity[index]), True))
        for line_no, units, is_return in rows:
            for field, value in (line | {"quantity": units, "is_return": is_return}).items():
                columns[field].append(value)
            line_numbers.append(line_no)
            raw_lines.append(record.raw)
    return ExportText(url, columns, line_numbers, raw_lines, records.rejected)
