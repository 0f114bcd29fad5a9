"""A Shopify shop and a WooCommerce shop (through the shipped column mapping) run the whole pipeline on
both backends: the sample's last four weeks of real orders, rewritten as each platform's exports, are
ingested, profiled, scored by a propensity model trained on them, and a cross-sell campaign selects
and e-mails its audience through a real SMTP server.

The same purchases loaded from the shop's own layout are the reference: the mapped export must give a
warehouse identical to it (order lines, quarantine, profiles), and the Shopify export the same
purchases per customer (Shopify has no cancellation invoices; its customers are known by e-mail).
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections import defaultdict
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from marketflow.campaigns.pipeline import campaign, render_messages, select_audience, send_emails
from marketflow.campaigns.runs import plan_run
from marketflow.ingest import IngestSettings, ingest_history
from marketflow.ingest.landing import FileKind, Landing
from marketflow.ingest.sample import unpack_sample
from marketflow.ingest.sources.shopify import customer_id_from_email
from marketflow.profiles.settings import ProfileSettings
from marketflow.profiles.warehouse import build_days
from marketflow.propensity.settings import PropensitySettings
from marketflow.propensity.warehouse import ensure_model, score_shard
from marketflow.warehouse import schema, upgrade_to_head, warehouse_engine
from tests.campaigns.smtp_server import smtp_sink
from tests.conftest import REPO
from tests.ingest.source_exports import as_shopify_customers, as_shopify_orders, as_woocommerce_orders, crm_emails
from tests.scratch_db import scratch_database

pytestmark = pytest.mark.slow

FIRST, LAST = dt.date(2011, 10, 3), dt.date(2011, 10, 31)
WOOCOMMERCE = REPO / "include" / "sources" / "woocommerce.yaml"


@pytest.fixture(scope="module")
def sample_landing(tmp_path_factory: pytest.TempPathFactory) -> Path:
    landing = tmp_path_factory.mktemp("sample")
    unpack_sample(str(landing))
    return landing


def _landings(sample: Path, root: Path) -> dict[str, Path]:
    """The four weeks as each platform's exports (the CRM files stay in the standard layout for the mapped shop)."""
    days = sorted(dt.date.fromisoformat(p.stem) for p in sample.glob("????-??-??.csv"))
    days = [day for day in days if FIRST <= day <= LAST]
    emails = crm_emails([p.read_bytes() for p in sample.glob("customers-*.csv")])
    landings = {name: Landing(str(root / name)) for name in ("online_retail", "shopify", "mapped")}
    for day in days:
        orders = (sample / FileKind.ORDERS.file_name(day)).read_bytes()
        crm = (sample / FileKind.CUSTOMERS.file_name(day)).read_bytes()
        for name, content in (("online_retail", orders), ("shopify", as_shopify_orders(orders, emails)),
                              ("mapped", as_woocommerce_orders(orders))):
            landings[name].write_bytes(FileKind.ORDERS, day, content)
        for name, content in (("online_retail", crm), ("shopify", as_shopify_customers(crm)), ("mapped", crm)):
            landings[name].write_bytes(FileKind.CUSTOMERS, day, content)
    return {name: Path(landing.url) for name, landing in landings.items()}


def _warehouse(backend: str, root: Path, name: str, stack: list) -> Engine:
    if backend == "sqlite":
        url = f"sqlite:///{root / f'{name}.db'}"
    else:
        manager = scratch_database(backend)
        url = manager.__enter__()
        stack.append(manager)
    engine = warehouse_engine(url)
    upgrade_to_head(engine)
    return engine


def _rows(engine: Engine, table, *columns) -> list[tuple]:
    with engine.connect() as conn:
        return sorted(tuple(row) for row in conn.execute(select(*(table.c[c] for c in columns))))


def _purchases(engine: Engine) -> dict[str, float]:
    """Customer -> value of their purchase lines (not returns)."""
    o = schema.orders.c
    totals: dict[str, float] = defaultdict(float)
    with engine.connect() as conn:
        query = select(o.customer_id, o.quantity, o.unit_price).where(
            o.customer_id.is_not(None), o.is_return.is_(False), o.quantity > 0
        )
        for customer, quantity, price in conn.execute(query):
            totals[customer] += quantity * price
    return dict(totals)


def _run(engine: Engine, landing: Path, settings: IngestSettings, tmp_path: Path) -> None:
    ingest_history(engine, str(landing), FIRST, LAST, settings.model_copy(update={"landing_url": str(landing)}))
    build_days(engine, [LAST], ProfileSettings())


def _score_and_send(engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sink_dir: Path) -> dict:
    scoring = PropensitySettings(  # four weeks of history: ten-day labels, cut-offs every other day; one
        horizon_days=10, min_history_days=7, cutoff_step_days=2,  # booster (model quality is tested elsewhere)
        model_store=str(tmp_path / "models"), shards=2, ensemble_size=1,
    )
    model = ensure_model(engine, LAST, scoring, ProfileSettings())
    scored = sum(score_shard(engine, LAST, model.model_id, shard, scoring) for shard in range(scoring.shards))
    config = campaign("cross_sell")
    plan = plan_run("cross_sell", LAST, today=LAST + dt.timedelta(days=1))
    inputs = {"orders": str(LAST), "profiles": str(LAST), "scores": str(LAST)}
    with smtp_sink(sink_dir) as sink:
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps({
            "conn_type": "smtp", "host": "127.0.0.1", "port": sink.port,
            "extra": {"disable_ssl": True, "disable_tls": True, "delivery_log": str(sink.delivery_log)}}))
        selected = select_audience(engine, config, plan, inputs)
        render_messages(engine, config, plan, inputs)
        sent = send_emails(engine, config, plan)
        received = sink.message_ids()
    return {"scored": scored, "selected": selected, "sent": sent["sent"], "received": len(received)}


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_shopify_and_mapped_exports_run_the_whole_pipeline(
    backend: str, sample_landing: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    campaigns_dir = tmp_path / "campaigns"
    shutil.copytree(REPO / "include" / "campaigns", campaigns_dir)
    cross_sell = campaigns_dir / "cross_sell.yaml"
    cross_sell.write_text(cross_sell.read_text().replace("rate_per_second: 20\n", "rate_per_second: 2000\n")
                          .replace("  products: 4\n", "  products: 0\n"))
    monkeypatch.setenv("MARKETFLOW_CAMPAIGNS_DIR", str(campaigns_dir))
    landings = _landings(sample_landing, tmp_path)
    server = request.getfixturevalue("postgres_server_url") if backend == "postgres" else "sqlite"
    stack: list = []
    try:
        engines = {name: _warehouse(server, tmp_path, name, stack) for name in landings}
        base = IngestSettings(landing_url=str(tmp_path))
        _run(engines["online_retail"], landings["online_retail"], base, tmp_path)
        _run(engines["mapped"], landings["mapped"], base.model_copy(update={"source": "mapped", "mapping_file": str(WOOCOMMERCE)}), tmp_path)
        _run(engines["shopify"], landings["shopify"], base.model_copy(update={"source": "shopify"}), tmp_path)

        reference, mapped, shopify = (engines[name] for name in ("online_retail", "mapped", "shopify"))
        # The mapped export gives the reference warehouse, but for the returns' order numbers (R-... for C...).
        line = ("order_date", "source_line", "stock_code", "description", "quantity", "invoice_ts", "unit_price",
                "customer_id", "country", "is_return")
        assert _rows(mapped, schema.orders, *line) == _rows(reference, schema.orders, *line)
        assert len(_rows(reference, schema.orders, "source_line")) > 20_000
        quarantine = ("file_date", "source_line", "reason")
        assert [row[:2] for row in _rows(mapped, schema.quarantine, *quarantine)] == [
            row[:2] for row in _rows(reference, schema.quarantine, *quarantine)]
        profile = ("customer_id", "frequency", "monetary", "recency_days", "segment")

        def profiles(engine: Engine) -> list[tuple]:  # sums in the row order the backend returns: last-ulp noise
            return [(c, f, round(m, 6), r, s) for c, f, m, r, s in _rows(engine, schema.customer_profiles, *profile)]

        assert profiles(mapped) == profiles(reference)
        # Shopify: the same purchases per customer, the customer known by the e-mail address.
        emails = crm_emails([p.read_bytes() for p in sample_landing.glob("customers-*.csv")])
        expected = {customer_id_from_email(emails[c]): value for c, value in _purchases(reference).items() if c in emails}
        assert _purchases(shopify) == pytest.approx(expected)

        matched = set()
        for name in ("shopify", "mapped"):
            outcome = _score_and_send(engines[name], tmp_path / name, monkeypatch, tmp_path / f"sink-{name}")
            profiles = len(_rows(engines[name], schema.customer_profiles, "customer_id"))
            assert outcome["scored"] >= profiles > 1000, (name, outcome)  # and customers without purchases
            assert outcome["selected"]["treatment"] == outcome["sent"] == outcome["received"] > 50, (name, outcome)
            matched.add(outcome["selected"]["matched"])
        assert len(matched) == 1, "both shops' campaigns match the same buyers"
    finally:
        for manager in reversed(stack):
            manager.__exit__(None, None, None)
