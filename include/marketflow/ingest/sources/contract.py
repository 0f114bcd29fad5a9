"""The canonical order line and CRM record every source is adapted into, and what its checks need to
know of the source.

An order line (one row of `orders`): `invoice_no` (order id), `source_line` (the line: the record's
line number in the file), `stock_code` (product id), `description` (product name), `quantity`
(negative on a return), `unit_price` (what one unit earned, after discounts, in the shop's currency),
`currency` (the line's own, before conversion), `invoice_ts` (the shop's local time), `customer_id`
(empty for a guest checkout), `country`, `is_return` (the line reverses a purchase: a cancellation or
a refund). A CRM record: `customer_id`, `email`, `marketing_consent`.

Adapters hand these over as text in canonical form (timestamps `YYYY-MM-DD HH:MM:SS`, decimals with a
point); a value they cannot convert is passed on as it was, for the checks to quarantine with a
reason that names the source's own column.
"""

from __future__ import annotations

from dataclasses import dataclass

ORDER_FIELDS = (
    "invoice_no", "stock_code", "description", "quantity", "invoice_ts", "unit_price", "currency",
    "customer_id", "country", "is_return",
)
CUSTOMER_FIELDS = ("customer_id", "email", "marketing_consent")
CANONICAL_TIMESTAMP = "%Y-%m-%d %H:%M:%S"


@dataclass(frozen=True)
class FieldFormat:
    """A source's format for an id field: the pattern and what a value breaking it "is not"."""

    pattern: str
    says: str


#: Ids of any source: what the warehouse columns can hold.
GENERIC_FORMATS = {
    "invoice_no": FieldFormat(r"^\S{1,16}$", "is empty, has spaces or is longer than 16 characters"),
    "stock_code": FieldFormat(r"^\S(?:.{0,30}\S)?$", "is empty or longer than 32 characters"),
    "customer_id": FieldFormat(r"^\S{1,16}$", "is not an id of 1 to 16 characters without spaces"),
}


@dataclass(frozen=True)
class Checks:
    """What the contract's checks need to know of a source to word their reasons and bound its ids.

    Hashable: the expectation suite of each distinct `Checks` is built once per process.
    """

    source: str
    labels: tuple[tuple[str, str], ...]  # canonical field -> the source's column, for reasons
    formats: tuple[tuple[str, FieldFormat], ...]
    timestamp_says: str = "YYYY-MM-DD HH:MM:SS"
    shop_currency: str | None = None  # set when lines carry their own currency

    def label(self, canonical: str) -> str:
        return dict(self.labels).get(canonical, canonical)

    def format(self, canonical: str) -> FieldFormat:
        return dict(self.formats).get(canonical) or GENERIC_FORMATS[canonical]

    @property
    def suite_name(self) -> str:
        import hashlib

        return f"{self.source}.{hashlib.sha256(repr(self).encode()).hexdigest()[:12]}"
