"""Small, realistic warehouse rows for the campaign tests (real UCI product codes and names)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine

from marketflow.warehouse import schema

DAY = dt.date(2011, 10, 3)

CATALOGUE = {
    "85123A": ("WHITE HANGING HEART T-LIGHT HOLDER", 2.55),
    "71053": ("WHITE METAL LANTERN", 3.39),
    "84406B": ("CREAM CUPID HEARTS COAT HANGER", 2.75),
    "22423": ("REGENCY CAKESTAND 3 TIER", 12.75),
    "47566": ("PARTY BUNTING", 4.95),
    "85099B": ("JUMBO BAG RED RETROSPOT", 2.08),
    "23084": ("RABBIT NIGHT LIGHT", 2.08),
    "22086": ("PAPER CHAIN KIT 50'S CHRISTMAS", 2.95),
    "POST": ("POSTAGE", 18.0),
    "NOPRICE": ("MYSTERY ITEM", 0.0),
}


@dataclass
class Customer:
    """One customer's rows across the input tables."""

    customer_id: str
    segment: str = "at_risk"
    recency_days: int = 120
    frequency: int = 4
    monetary: float = 420.0
    country: str = "United Kingdom"
    favourite_group: str | None = "candles & lanterns"
    email: str | None = None
    consent: bool | None = True
    propensity: float | None = 0.3
    recommended: list[str] = field(default_factory=lambda: ["22423", "71053", "85123A"])

    def address(self) -> str:
        return self.email if self.email is not None else f"customer{self.customer_id}@example.com"


def seed_catalogue(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(
            schema.products.insert(),
            [
                {"stock_code": code, "description": name, "unit_price": price, "first_seen": dt.date(2010, 12, 1), "last_seen": DAY}
                for code, (name, price) in CATALOGUE.items()
            ],
        )


def seeded_inputs(day: dt.date = DAY) -> dict[str, str]:
    """The inputs (input -> as-of date) a run of `day` finds after `seed_customers(..., day=day)`."""
    return {name: day.isoformat() for name in ("orders", "profiles", "scores", "recommendations")}


def seed_customers(engine: Engine, customers: list[Customer], day: dt.date = DAY, model_id: str = "rec-1") -> None:
    """Profiles and scores as of `day`, contacts, consent events, recommendations as of `day`, and
    the day's exports recorded as ingested (so a campaign run of `day` finds fresh inputs)."""
    with engine.begin() as conn:
        ingested = conn.execute(schema.ingest_days.select().where(schema.ingest_days.c.file_date == day)).first()
        if ingested is None:
            conn.execute(
                schema.ingest_days.insert(),
                [{"file_date": day, "file_kind": kind, "status": "loaded", "source_file": f"{kind}-{day}.csv",
                  "rows_read": 1, "rows_loaded": 1, "rows_quarantined": 0} for kind in ("orders", "customers")],
            )
        if conn.execute(schema.model_registry.select().where(schema.model_registry.c.model_id == model_id)).first() is None:
            conn.execute(
                schema.model_registry.insert(),
                [
                    {"model_id": model_id, "model_kind": "recommender", "trained_as_of": day, "status": "champion",
                     "registered_at": dt.datetime(2011, 10, 1), "promoted_at": dt.datetime(2011, 10, 1)},
                    {"model_id": "prop-1", "model_kind": "propensity", "trained_as_of": day, "status": "champion",
                     "registered_at": dt.datetime(2011, 10, 1), "promoted_at": dt.datetime(2011, 10, 1)},
                ],
            )
        profiles: list[dict[str, Any]] = []
        for c in customers:
            profiles.append(
                {
                    "as_of_date": day, "customer_id": c.customer_id, "country": c.country,
                    "recency_days": c.recency_days, "frequency": c.frequency, "monetary": c.monetary,
                    "tenure_days": 300, "avg_basket_value": c.monetary / max(c.frequency, 1), "return_rate": 0.0,
                    "purchases_30d": 0, "purchases_90d": 1, "purchases_365d": c.frequency,
                    "favourite_products": [], "favourite_group": c.favourite_group, "price_band": "mid",
                    "marketing_consent": bool(c.consent), "r_score": 2, "f_score": 3, "m_score": 3, "segment": c.segment,
                }
            )
        if profiles:
            conn.execute(schema.customer_profiles.insert(), profiles)
        scores = [
            {"as_of_date": day, "customer_id": c.customer_id, "model_id": "prop-1", "propensity_30d": c.propensity}
            for c in customers
            if c.propensity is not None
        ]
        if scores:
            conn.execute(schema.audience_scores.insert(), scores)
        contacts = [
            {"customer_id": c.customer_id, "email": c.address(), "updated_on": dt.date(2011, 1, 1)}
            for c in customers
            if c.email != ""
        ]
        if contacts:
            conn.execute(schema.customer_contacts.insert(), contacts)
        consents = [
            {"customer_id": c.customer_id, "effective_date": dt.date(2011, 1, 1), "marketing_consent": c.consent,
             "source_file": "crm-2011-01-01.csv"}
            for c in customers
            if c.consent is not None
        ]
        if consents:
            conn.execute(schema.consent_events.insert(), consents)
        recs = [
            {"as_of_date": day, "model_id": model_id, "customer_id": c.customer_id, "rank": rank, "stock_code": code,
             "score": 1.0 / rank, "reason": "bought together with your favourites"}
            for c in customers
            for rank, code in enumerate(c.recommended, start=1)
        ]
        if recs:
            conn.execute(schema.recommendations.insert(), recs)


def order_line(customer_id: str, day: dt.date, stock_code: str, line: int, quantity: int = 6, invoice: str | None = None) -> dict[str, Any]:
    name, price = CATALOGUE[stock_code]
    return {
        "order_date": day, "source_line": line, "invoice_no": invoice or f"5{day:%m%d}{line:03d}",
        "stock_code": stock_code, "description": name, "quantity": quantity,
        "invoice_ts": dt.datetime(day.year, day.month, day.day, 10, 30), "unit_price": price,
        "customer_id": customer_id, "country": "United Kingdom", "is_return": quantity < 0,
        "source_file": f"{day.isoformat()}.csv",
    }


def seed_orders(engine: Engine, lines: list[dict[str, Any]]) -> None:
    with engine.begin() as conn:
        conn.execute(schema.orders.insert(), lines)


def config_dict(**overrides: Any) -> dict[str, Any]:
    """A valid campaign (as the YAML would say it); top-level keys replaced by `overrides`."""
    base: dict[str, Any] = {
        "name": "test_winback",
        "description": "Win back quiet regulars with picks from the recommender.",
        "schedule": "0 7 * * 1",
        "control_share": 0.2,
        "attribution_days": 14,
        "audience": {"segments": ["at_risk", "cant_lose"], "order_by": "propensity_desc"},
        "channels": {
            "email": {
                "from_address": "hello@giftshop.example",
                "from_name": "The Gift Shop",
                "unsubscribe_url": "https://giftshop.example/unsubscribe",
                "unsubscribe_mailto": "unsubscribe@giftshop.example",
                "rate_per_second": 1000,
            },
            "ads": {"platforms": ["google_ads", "meta"]},
        },
        "message": {
            "template": "winback",
            "product_source": "recommendations",
            "products": 3,
            "variants": [
                {"name": "a", "subject": "We miss you{% if products %}: {{ products[0].name }}{% endif %}", "intro": "It has been a while."},
                {"name": "b", "subject": "New in since your last visit", "intro": "A lot has arrived since you last shopped."},
            ],
        },
    }
    base.update(overrides)
    return base


def make_config(**overrides: Any) -> Any:
    from marketflow.campaigns.config import CampaignConfig

    return CampaignConfig.model_validate(config_dict(**overrides))
