"""What a message may say about a customer: profile facts and products with catalogue names and prices.

Everything here comes from the warehouse as of the run's date; templates and the LLM only get
these facts, and the guardrails check LLM copy against them (never against what the LLM says).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field

from sqlalchemy import Connection, select

from marketflow.audiences.selection import DueProduct
from marketflow.campaigns.sqlutil import chunks
from marketflow.recommend.reason_text import REPEAT, basis_of
from marketflow.warehouse.schema import customer_profiles, orders_of_customers, products, recommendations

REORDER_REASON_START = "you usually re-order"


@dataclass(frozen=True)
class ProductFact:
    """A catalogue product as the message shows it."""

    stock_code: str
    name: str
    price: float
    reason: str = ""

    @property
    def price_text(self) -> str:
        return format_money(self.price)

    @property
    def basis(self) -> str:
        """What the pick's reason claims: `repeat`, `bought_with`, `popular` or `other`."""
        if self.reason.startswith(REORDER_REASON_START):
            return REPEAT
        return basis_of(self.reason) or "other"


def product_basis(products: list[ProductFact]) -> str | None:
    """The basis every product shares (what a sentence about all of them may claim), `mixed`, or
    None without products."""
    kinds = {product.basis for product in products}
    if not kinds:
        return None
    return kinds.pop() if len(kinds) == 1 else "mixed"


@dataclass(frozen=True)
class CustomerFacts:
    """The profile facts a message may use (no e-mail address: that never leaves the ledger)."""

    customer_id: str
    country: str | None
    segment: str
    recency_days: int
    frequency: int
    monetary: float
    favourite_group: str | None
    products: list[ProductFact] = field(default_factory=list)

    def for_prompt(self) -> dict[str, object]:
        """The facts an external copywriter (LLM) gets: no identifiers."""
        data = asdict(self)
        data.pop("customer_id")
        data["products"] = [{"name": p.name, "price": p.price_text} for p in self.products]
        return data


def format_money(amount: float) -> str:
    """Prices in the shop's currency (the UCI shop sells in pounds sterling)."""
    return f"£{amount:,.2f}"


def display_name(description: str) -> str:
    """Catalogue descriptions are upper case ("WHITE HANGING HEART T-LIGHT HOLDER"): title-case them."""
    return " ".join(word.capitalize() if word.isalpha() else word.title() for word in description.split())


def _catalogue(conn: Connection, stock_codes: set[str]) -> dict[str, tuple[str, float]]:
    """stock_code -> (display name, price) for products that can be shown (named and priced)."""
    found: dict[str, tuple[str, float]] = {}
    for chunk in chunks(sorted(stock_codes)):
        stmt = select(products.c.stock_code, products.c.description, products.c.unit_price).where(
            products.c.stock_code.in_(chunk)
        )
        for code, description, price in conn.execute(stmt).all():
            if description and description.strip() and price is not None and price > 0:
                found[code] = (display_name(description.strip()), round(float(price), 2))
    return found


def _bought(conn: Connection, customer_ids: list[str], as_of: dt.date) -> set[tuple[str, str]]:
    """(customer, product) pairs the customers bought on or before `as_of`, each customer looked up
    where its lines are (`orders_of_customers`: on PostgreSQL its `orders` partition)."""
    pairs: set[tuple[str, str]] = set()
    for lines, members in orders_of_customers(conn.dialect.name, customer_ids):
        o = lines.c
        for chunk in chunks(members):
            stmt = select(o.customer_id, o.stock_code).where(
                o.customer_id.in_(chunk), o.order_date <= as_of, o.is_return.is_(False), o.quantity > 0
            ).distinct()
            pairs.update((customer, code) for customer, code in conn.execute(stmt).all())
    return pairs


def recommended_products(
    conn: Connection, customer_ids: list[str], n: int, as_of: dt.date, new_only: bool = False
) -> dict[str, list[ProductFact]]:
    """Top `n` showable recommendations per customer from the set written as of `as_of`; with
    `new_only`, only products the customer has not bought up to that day (the orders say so, not
    the reasons)."""
    if n == 0:
        return {}
    rows: list[tuple[str, int, str, str | None]] = []
    for chunk in chunks(customer_ids):
        rec = recommendations.c
        stmt = (
            select(rec.customer_id, rec.rank, rec.stock_code, rec.reason)
            .where(rec.as_of_date == as_of, rec.customer_id.in_(chunk))
            .order_by(rec.customer_id, rec.rank)
        )
        rows += conn.execute(stmt).all()
    catalogue = _catalogue(conn, {row[2] for row in rows})
    bought = _bought(conn, customer_ids, as_of) if new_only else set()
    chosen: dict[str, list[ProductFact]] = {}
    for customer_id, _rank, code, reason in rows:
        picked = chosen.setdefault(customer_id, [])
        if (customer_id, code) in bought:
            continue
        if code in catalogue and len(picked) < n and all(p.stock_code != code for p in picked):
            name, price = catalogue[code]
            picked.append(ProductFact(code, name, price, reason or ""))
    return chosen


def due_products(conn: Connection, due: dict[str, list[DueProduct]], n: int, day: dt.date) -> dict[str, list[ProductFact]]:
    """The `n` most overdue repeat products per customer, with catalogue names and prices."""
    catalogue = _catalogue(conn, {p.stock_code for products_ in due.values() for p in products_})
    chosen: dict[str, list[ProductFact]] = {}
    for customer_id, products_ in due.items():
        facts = [
            ProductFact(
                p.stock_code,
                *catalogue[p.stock_code],
                reason=f"{REORDER_REASON_START} every {round(p.average_gap_days)} days; last time {p.days_since(day)} days ago",
            )
            for p in products_
            if p.stock_code in catalogue
        ]
        if facts:
            chosen[customer_id] = facts[:n]
    return chosen


def customer_facts(
    conn: Connection, profiles_as_of: dt.date, customer_ids: list[str], products_by_customer: dict[str, list[ProductFact]]
) -> dict[str, CustomerFacts]:
    """Facts per customer from the profile snapshot the audience was selected on."""
    p = customer_profiles.c
    facts: dict[str, CustomerFacts] = {}
    for chunk in chunks(customer_ids):
        stmt = select(
            p.customer_id, p.country, p.segment, p.recency_days, p.frequency, p.monetary, p.favourite_group
        ).where(p.as_of_date == profiles_as_of, p.customer_id.in_(chunk))
        for row in conn.execute(stmt).all():
            facts[row.customer_id] = CustomerFacts(
                customer_id=row.customer_id,
                country=row.country,
                segment=row.segment,
                recency_days=int(row.recency_days),
                frequency=int(row.frequency),
                monetary=round(float(row.monetary), 2),
                favourite_group=row.favourite_group,
                products=products_by_customer.get(row.customer_id, []),
            )
    return facts
