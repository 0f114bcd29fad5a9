"""The right to erasure and subject access, on both warehouses: a customer with orders, a quarantined line, CRM rows,
a profile, a score, recommendations, a sent e-mail, an engagement event, ad-audience rows and a
place in a recommender's artifact is erased through the CLI; then every table and every file we
wrote is scanned for their id, address and hashed address, the shop's revenue is compared, and the
old exports are loaded again."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from pathlib import Path

import pytest
import torch
from sqlalchemy import Engine, func, select

from marketflow.campaigns.pipeline import render_messages, select_audience, send_emails, sync_ad_audiences
from marketflow.campaigns.runs import plan_run
from marketflow.channels.events import record_events
from marketflow.cli import main as marketflow
from marketflow.ingest import ingest_customers_day, ingest_orders_day
from marketflow.warehouse import schema, warehouse_engine
from tests.campaigns.seed import DAY, Customer, make_config, seed_customers, seeded_inputs
from tests.campaigns.smtp_server import smtp_sink

ERASED, KEPT = "98765", "12345"
ERASED_EMAIL, KEPT_EMAIL = "Erase.Me@Example.com", "keep.me@example.com"
KEY = "k" * 40
HEADER = "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country"


def _orders_export() -> str:
    """The day's export: the erased customer's lines (one of them malformed), the kept customer's,
    and a guest's; enough good lines that the malformed one stays under the bad-row limit."""
    lines = [HEADER]
    when = f"{DAY} 10:30:00"
    lines += [f"5700{i:02d},22423,REGENCY CAKESTAND 3 TIER,2,{when},12.75,{ERASED}.0,United Kingdom" for i in range(3)]
    lines.append(f"570099,71053,WHITE METAL LANTERN,two,{when},3.39,{ERASED}.0,United Kingdom")
    lines += [f"5701{i:02d},71053,WHITE METAL LANTERN,{i + 1},{when},3.39,{KEPT}.0,United Kingdom" for i in range(40)]
    lines.append(f"570200,85123A,WHITE HANGING HEART T-LIGHT HOLDER,6,{when},2.95,,United Kingdom")
    return "\n".join(lines) + "\n"


def _crm_export() -> str:
    return f"CustomerID,Email,MarketingConsent\n{ERASED},{ERASED_EMAIL},true\n{KEPT},{KEPT_EMAIL},true\n"


def _revenue(engine: Engine) -> tuple[int, float]:
    o = schema.orders.c
    with engine.connect() as conn:
        count, total = conn.execute(select(func.count(), func.sum(o.quantity * o.unit_price))).one()
    return int(count), round(float(total), 2)


def _needles(customer_id: str, email: str) -> list[re.Pattern[str]]:
    normalised = email.strip().lower()
    hashed = [hashlib.sha256(normalised.encode()).hexdigest()]  # both platforms' normalisations agree here
    return [re.compile(rf"(?<![\d.]){customer_id}(?![\d])"), *(re.compile(re.escape(v), re.IGNORECASE) for v in [normalised, *hashed])]


def _hits_in_tables(engine: Engine, needles: list[re.Pattern[str]]) -> list[str]:
    hits = []
    with engine.connect() as conn:
        for table in schema.metadata.sorted_tables:
            for row in conn.execute(select(table)).mappings():
                text = json.dumps({k: v for k, v in row.items()}, default=str)
                hits += [f"{table.name}: {pattern.pattern}" for pattern in needles if pattern.search(text)]
    return hits


def _hits_in_files(folders: list[Path], needles: list[re.Pattern[str]]) -> list[str]:
    hits = []
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file():
                data = path.read_bytes()
                if path.suffix == ".pt":  # tensors and lists: read what they say, not their bytes
                    data = repr(torch.load(path, weights_only=True)).encode()
                text = data.decode("utf-8", errors="replace")
                hits += [f"{path.name}: {pattern.pattern}" for pattern in needles if pattern.search(text)]
    return hits


def _export(path: Path, capsys: pytest.CaptureFixture[str]) -> dict:
    """`marketflow privacy export` of the erased customer, read back."""
    assert marketflow(["privacy", "export", "--customer", ERASED, "--out", str(path)]) == 0
    assert str(path) in capsys.readouterr().out
    return json.loads(path.read_text())


def _seed_artifact(engine: Engine, store: Path) -> Path:
    """A recommender artifact in the store's format whose BPR component lists both customers."""
    store.mkdir()
    path = store / "rec-1.pt"
    torch.save({"components": {"bpr": {"user_ids": [KEPT, ERASED], "user_factors": torch.arange(8.0).reshape(2, 4),
                                       "item_factors": torch.ones(3, 4)}}}, path)
    with engine.begin() as conn:
        conn.execute(schema.model_registry.update().where(schema.model_registry.c.model_id == "rec-1")
                     .values(artifact_uri=path.as_uri()))
    return path


def test_an_erased_customer_is_gone_from_every_table_and_file_and_stays_gone(
    warehouse_connection_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = warehouse_engine()
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / f"{DAY}.csv").write_text(_orders_export())
    (landing / f"customers-{DAY}.csv").write_text(_crm_export())
    ingest_orders_day(engine, str(landing), DAY)
    ingest_customers_day(engine, str(landing), DAY)
    people = [Customer(ERASED, email="", consent=None), Customer(KEPT, email="", consent=None)]
    seed_customers(engine, people)
    artifact = _seed_artifact(engine, tmp_path / "models")
    config = make_config(control_share=0.0)
    plan = plan_run(config.name, DAY, today=DAY + dt.timedelta(days=1))
    with smtp_sink(tmp_path / "outbox") as sink:
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps({
            "conn_type": "smtp", "host": "127.0.0.1", "port": sink.port,
            "extra": {"disable_ssl": True, "disable_tls": True, "delivery_log": str(sink.delivery_log)}}))
        select_audience(engine, config, plan, seeded_inputs(DAY))
        render_messages(engine, config, plan, seeded_inputs(DAY))
        assert send_emails(engine, config, plan)["sent"] == 2
        sync_ad_audiences(engine, config, plan, export_root=tmp_path / "exports")
    with engine.connect() as conn:
        message_id = conn.execute(select(schema.messages.c.message_id).where(schema.messages.c.customer_id == ERASED)).scalar_one()
    record_events(engine, [{"event_type": "open", "occurred_at": f"{DAY}T12:00:00", "message_id": message_id}], "test")

    erased, kept = _needles(ERASED, ERASED_EMAIL), _needles(KEPT, KEPT_EMAIL)
    # Every file we wrote. The landing folder holds the shop's own exports, which name them until
    # retention removes them (issue 18): not ours to rewrite.
    folders = [tmp_path / "outbox", tmp_path / "exports", tmp_path / "models"]
    held = _hits_in_tables(engine, erased)
    for table in ("orders", "quarantine", "customers", "customer_contacts", "consent_events", "customer_profiles",
                  "recommendations", "audience_scores", "audience_members", "messages", "engagement_events"):
        assert any(hit.startswith(f"{table}:") for hit in held), f"the setup should put them in {table}"
    assert len(_hits_in_files(folders, erased)) >= 4, "outbox e-mail, delivery log, two ad files, the artifact"
    revenue = _revenue(engine)

    assert marketflow(["privacy", "consent", "--customer", ERASED]) == 0
    proof = capsys.readouterr().out
    assert re.search(rf"{config.name}:{DAY}\s+email\s+sent\s+consent given on {DAY} \(customers-{DAY}.csv\)", proof), proof
    assert f"{DAY}  given      customers-{DAY}.csv" in proof

    access = _export(tmp_path / "before.json", capsys)
    assert access["addresses"] == [ERASED_EMAIL.lower()]
    counts = {table: len(rows) for table, rows in access["tables"].items()}
    assert counts == {"orders": 3, "customers": 1, "customer_contacts": 1, "consent_events": 1, "customer_profiles": 1,
                      "customer_profiles_staging": 0,
                      "recommendations": 3, "audience_scores": 1, "audience_members": 1, "suppressions": 0,
                      "messages": 1, "engagement_events": 2, "quarantine": 1}  # delivered (the sink's log), open
    assert "570099" in access["tables"]["quarantine"][0]["raw_line"] and access["tables"]["messages"][0]["body_html"]

    monkeypatch.setenv("MARKETFLOW_PRIVACY_KEY", KEY)
    assert marketflow(["privacy", "erase", "--customer", ERASED, "--source", "ticket 4711",
                       "--outbox", str(tmp_path / "outbox")]) == 0
    printed = capsys.readouterr().out
    assert re.search(r"orders \(kept, unlinked\)\s+3\b", printed) and re.search(r"quarantine\s+1\b", printed), printed

    assert _hits_in_tables(engine, erased) == []
    assert _hits_in_files(folders, erased) == []
    assert _revenue(engine) == revenue, "their orders stay in the shop's figures, without them"
    after = _export(tmp_path / "after.json", capsys)
    assert after["addresses"] == [] and all(rows == [] for rows in after["tables"].values())
    assert {hit.split(":")[0] for hit in _hits_in_tables(engine, kept)} >= {"customer_contacts", "messages", "orders"}
    assert len(_hits_in_files(folders, kept)) >= 4, "the other customer's rows and files are untouched"
    assert torch.load(artifact, weights_only=True)["components"]["bpr"]["user_factors"].tolist() == [[0.0, 1.0, 2.0, 3.0]]
    with engine.connect() as conn:
        ledger = conn.execute(select(schema.erasures)).mappings().one()
        exports = conn.execute(select(schema.ad_audience_exports.c.rows)).scalars().all()
    assert ledger["source"] == "ticket 4711" and ledger["removed"]["messages"] == 1 and len(ledger["email_pseudonyms"]) == 1
    assert exports == [1, 1]

    ingest_orders_day(engine, str(landing), DAY)  # the old exports, loaded again
    ingest_customers_day(engine, str(landing), DAY)
    assert _hits_in_tables(engine, erased) == []
    assert _revenue(engine) == revenue
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(schema.customer_contacts)).scalar_one() == 1

    assert marketflow(["privacy", "erase", "--customer", ERASED, "--source", "ticket 4712"]) == 0
    assert "already erased" in capsys.readouterr().out


def test_erasure_and_ingest_after_an_erasure_need_the_key(
    warehouse_connection_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MARKETFLOW_PRIVACY_KEY", raising=False)
    assert marketflow(["privacy", "erase", "--customer", ERASED, "--source", "ticket 1"]) == 1
    assert "MARKETFLOW_PRIVACY_KEY is not set" in capsys.readouterr().out
    monkeypatch.setenv("MARKETFLOW_PRIVACY_KEY", "short")
    assert marketflow(["privacy", "erase", "--customer", ERASED, "--source", "ticket 1"]) == 1
    assert "has 5 characters, fewer than 32" in capsys.readouterr().out
    monkeypatch.setenv("MARKETFLOW_PRIVACY_KEY", KEY)
    assert marketflow(["privacy", "erase", "--customer", ERASED, "--source", "ticket 1"]) == 0
    monkeypatch.delenv("MARKETFLOW_PRIVACY_KEY")
    landing = tmp_path / "landing"
    landing.mkdir()
    (landing / f"customers-{DAY}.csv").write_text(_crm_export())
    from marketflow.privacy.pseudonyms import PrivacyKeyMissing

    with pytest.raises(PrivacyKeyMissing, match="MARKETFLOW_PRIVACY_KEY"):
        ingest_customers_day(engine := warehouse_engine(), str(landing), DAY)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(schema.consent_events)).scalar_one() == 0
