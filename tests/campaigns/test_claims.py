"""Copy says only what the facts say: every sentence of a shipped campaign's subject, intro and body
that describes the products agrees with the reason attached to each product, whatever mix of reasons
a customer's picks carry; and a cross-sell offers only products the customer has not bought."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import insert

from marketflow.campaigns.config import templates_dir
from marketflow.campaigns.pipeline import campaign
from marketflow.channels.identifiers import new_message_id
from marketflow.copy.facts import CustomerFacts, ProductFact, product_basis, recommended_products
from marketflow.copy.render import MessageRenderer
from marketflow.warehouse import schema, warehouse_engine
from tests.conftest import REPO

CAMPAIGNS = sorted(path.stem for path in (REPO / "include" / "campaigns").glob("*.yaml"))
REASONS = {
    "repeat": ["you buy this often", "you bought this before"],
    "bought_with": ["bought with Regency Cakestand 3 Tier", "bought with Party Bunting"],
    "popular": ["popular this week", "a bestseller"],
}
PICKS = {
    basis: [ProductFact(f"2208{i}", f"Product {i}", 2.5 + i, reason) for i, reason in enumerate(reasons)]
    for basis, reasons in REASONS.items()
}
PICKS["mixed"] = [PICKS["repeat"][0], PICKS["popular"][1]]
PICKS["none"] = []
#: A phrase about the picks -> the bases under which it is true.
CLAIMS = {
    r"goes well with": {"bought_with"},
    r"basket like yours": {"bought_with"},
    r"often bought with": {"bought_with"},
    r"what you (?:bought|ordered)(?! from us:)": {"bought_with", "repeat"},
    r"bought before": {"bought_with", "repeat"},
    r"most popular|popular in our shop": {"popular"},
    r"usual orders|regulars|order regularly|favourite": {"repeat"},
    r"new in|has arrived|just arrived": set(),
}


def _prose(text: str, products: list[ProductFact]) -> str:
    """The message without its product lines (names, prices and reasons are the facts themselves)."""
    for product in products:
        text = text.replace(product.reason, "").replace(product.name, "")
    return text


def _picks_a_campaign_can_get() -> list[tuple[str, str]]:
    """(campaign, basis) pairs: a `repeat_products` campaign only messages customers with products they re-order."""
    sources = {name: campaign(name).message.product_source for name in CAMPAIGNS}
    return [
        (name, basis)
        for name in CAMPAIGNS
        for basis in sorted(PICKS)
        if sources[name] != "repeat_products" or basis == "repeat"
    ]


@pytest.mark.parametrize(("name", "basis"), _picks_a_campaign_can_get())
def test_what_a_message_says_about_its_products_is_true_of_every_product(name: str, basis: str) -> None:
    config = campaign(name)
    renderer = MessageRenderer(config, templates_dir())
    products = PICKS[basis]
    facts = CustomerFacts("17850", "United Kingdom", "at_risk", 90, 4, 420.0, "candles & lanterns", products)
    for variant in config.message.variants:
        message = renderer.render(facts, variant.name, new_message_id("giftshop.example"))
        prose = _prose(" ".join([message.subject, message.body_text]), products).lower()
        prose = " ".join(prose.split())
        for pattern, true_for in CLAIMS.items():
            found = re.search(pattern, prose)
            assert found is None or basis in true_for, (name, variant.name, basis, found and found.group(0))
        if products:
            cheapest = min(p.price for p in products)
            assert f"from £{cheapest:.2f}" in message.subject or " from £" not in message.subject


def test_the_basis_of_a_list_is_shared_by_all_its_products() -> None:
    assert {basis: product_basis(PICKS[basis]) for basis in PICKS} == {
        "repeat": "repeat", "bought_with": "bought_with", "popular": "popular", "mixed": "mixed", "none": None,
    }
    assert ProductFact("1", "x", 1.0, "you usually re-order every 30 days; last time 40 days ago").basis == "repeat"


def test_a_cross_sell_offers_only_products_the_customer_has_not_bought(warehouse_url: str) -> None:
    """On both backends: PostgreSQL looks the customer's orders up in their own partition."""
    engine = warehouse_engine(warehouse_url)
    day = dt.date(2011, 10, 3)
    codes = ["85123A", "71053", "22423", "47566", "85099B"]
    with engine.begin() as conn:
        conn.execute(insert(schema.products), [
            {"stock_code": c, "description": f"PRODUCT {c}", "unit_price": 2.0, "first_seen": day, "last_seen": day}
            for c in codes])
        conn.execute(insert(schema.model_registry), [{
            "model_id": "rec-1", "model_kind": "recommender", "trained_as_of": day, "params": {}, "metrics": {},
            "artifact_uri": "memory://rec-1", "status": "champion", "registered_at": dt.datetime(2011, 10, 3)}])
        conn.execute(insert(schema.recommendations), [
            {"as_of_date": day, "customer_id": "17850", "rank": rank, "model_id": "rec-1", "stock_code": code,
             "score": 1.0 / rank, "reason": "you buy this often" if code in ("85123A", "22423") else "popular this week"}
            for rank, code in enumerate(codes, start=1)])
        conn.execute(insert(schema.orders), [
            {"order_date": day - dt.timedelta(days=d), "source_line": n, "invoice_no": f"53{n:04d}", "stock_code": code,
             "description": None, "quantity": quantity, "invoice_ts": dt.datetime.combine(day, dt.time(9)),
             "unit_price": 2.0, "customer_id": "17850", "country": "United Kingdom", "is_return": quantity < 0,
             "source_file": "x.csv"}
            # bought twice; bought once; bought *after* the as-of day (not yet bought then); only a return line
            for n, (d, code, quantity) in enumerate([(5, "85123A", 6), (9, "85123A", 6), (2, "22423", 1),
                                                     (-1, "47566", 2), (3, "85099B", -1)], start=2)])
    with engine.connect() as conn:
        every = recommended_products(conn, ["17850"], 5, day)["17850"]
        new = recommended_products(conn, ["17850"], 5, day, new_only=True)["17850"]
    assert [p.stock_code for p in every] == codes
    assert [p.stock_code for p in new] == ["71053", "47566", "85099B"]
    assert campaign("cross_sell").message.product_source == "new_recommendations"
