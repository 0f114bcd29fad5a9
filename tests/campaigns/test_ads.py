"""Ad audiences: platform normalisation on published examples, hashed files, signed webhook."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from marketflow.campaigns.pipeline import select_audience, sync_ad_audiences
from marketflow.campaigns.runs import plan_run
from marketflow.channels.ads import (
    WebhookTarget,
    hashed_email,
    normalise_for_google,
    normalise_for_meta,
    verify,
    webhook_from_connection,
)
from marketflow.warehouse import schema, warehouse_engine
from tests.campaigns.seed import DAY, Customer, make_config, seed_catalogue, seed_customers, seeded_inputs


def test_meta_published_example_hashes_exactly() -> None:
    # Meta Conversions API, customer information parameters, `em`: input John_Smith@gmail.com
    assert normalise_for_meta("John_Smith@gmail.com") == "john_smith@gmail.com"
    assert hashed_email("John_Smith@gmail.com", "meta") == "62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"


@pytest.mark.parametrize(
    ("raw", "google", "meta"),
    [
        ("  Jane.Doe+Shop@GMail.com \n", "jane.doe+shop@gmail.com", "jane.doe+shop@gmail.com"),
        ("TEST@gmail.com", "test@gmail.com", "test@gmail.com"),
        ("first last@Example.COM", "firstlast@example.com", "first last@example.com"),
        ("\tÉlodie@Exemple.fr", "élodie@exemple.fr", "élodie@exemple.fr"),
    ],
)
def test_each_platform_normalises_by_its_own_documented_rule(raw: str, google: str, meta: str) -> None:
    assert normalise_for_google(raw) == google  # lowercase, all whitespace removed, Gmail dots and +tags kept
    assert normalise_for_meta(raw) == meta  # trim and lowercase only
    assert hashed_email(raw, "google_ads") == hashlib.sha256(google.encode()).hexdigest()


def test_google_hash_of_a_plain_address_is_the_sha256_of_its_lowercase_form() -> None:
    assert hashed_email("Test@Gmail.com ", "google_ads") == "87924606b4131a8aceeeae8868531fbb9712aaa07a5d3a756b26ce0f5d6ca674"


@contextmanager
def webhook_receiver(secret: str, status: int = 200) -> Iterator[dict[str, Any]]:
    """A local HTTP server that checks the HMAC signature of every POST, like a receiver would."""
    seen: dict[str, Any] = {"posts": [], "url": ""}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            valid = verify(secret, body, self.headers.get("X-Marketflow-Signature", ""))
            seen["posts"].append({"valid": valid, "payload": json.loads(body), "raw": body})
            self.send_response(status if valid else 401)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    seen["url"] = f"http://127.0.0.1:{server.server_port}/audiences"
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        yield seen
    finally:
        server.shutdown()
        server.server_close()


def _seeded(warehouse_url: str) -> Any:
    engine = warehouse_engine(warehouse_url)
    seed_catalogue(engine)
    people = [Customer(str(16000 + i), email=f"  Shopper.{i}@Example.COM ") for i in range(20)]
    seed_customers(engine, people)
    return engine


def test_live_run_writes_both_files_and_pushes_a_signed_payload_with_no_raw_email(warehouse_url: str, tmp_path: Path) -> None:
    engine = _seeded(warehouse_url)
    config = make_config(audience={"segments": ["at_risk"]}, control_share=0.25,
                         channels={**make_config().channels.model_dump(), "ads": {"platforms": ["google_ads", "meta"], "webhook_conn_id": "ad_hook"}})
    plan = plan_run(config.name, DAY, today=DAY + dt.timedelta(days=1))
    select_audience(engine, config, plan, seeded_inputs(plan.day))
    with webhook_receiver("hook-secret") as hook:
        result = sync_ad_audiences(engine, config, plan, export_root=tmp_path / "exports", webhook=WebhookTarget(hook["url"], "hook-secret"))
    with engine.connect() as conn:
        treated = conn.execute(select(schema.audience_members.c.customer_id).where(schema.audience_members.c.arm == "treatment")).scalars().all()
        exports = {r.platform: r for r in conn.execute(select(schema.ad_audience_exports))}
    expected = {platform: sorted(hashed_email(f"  Shopper.{int(c) - 16000}@Example.COM ", platform) for c in treated)
                for platform in ("google_ads", "meta")}
    for platform, header in (("google_ads", "Email"), ("meta", "email")):
        rows = list(csv.reader(Path(result[platform]["file"]).open()))
        assert rows[0] == [header]
        assert [r[0] for r in rows[1:]] == expected[platform]
        assert exports[platform].rows == len(treated) and exports[platform].webhook_status == "http_200"
    assert all(post["valid"] for post in hook["posts"]) and len(hook["posts"]) == 2
    assert sorted(hook["posts"][0]["payload"]["hashed_emails"]) == expected[hook["posts"][0]["payload"]["platform"]]
    exported = sorted(p for p in (tmp_path / "exports").rglob("*") if p.is_file())
    assert [p.name for p in exported] == ["google_ads_customer_match.csv", "meta_custom_audience.csv"]
    everything = b"".join(p.read_bytes() for p in exported) + b"".join(p["raw"] for p in hook["posts"])
    assert b"@" not in everything and b"example" not in everything.lower(), "no raw e-mail leaves"


def test_a_backfill_writes_files_but_pushes_nothing(warehouse_url: str, tmp_path: Path) -> None:
    engine = _seeded(warehouse_url)
    config = make_config(audience={"segments": ["at_risk"]},
                         channels={**make_config().channels.model_dump(), "ads": {"platforms": ["meta"], "webhook_conn_id": "ad_hook"}})
    plan = plan_run(config.name, DAY, today=dt.date(2026, 1, 1))
    select_audience(engine, config, plan, seeded_inputs(plan.day))
    with webhook_receiver("hook-secret") as hook:
        result = sync_ad_audiences(engine, config, plan, export_root=tmp_path, webhook=WebhookTarget(hook["url"], "hook-secret"))
    assert hook["posts"] == [] and result["meta"]["webhook"] == "not_pushed:backfill"
    assert result["meta"]["rows"] > 0


def test_a_refused_webhook_fails_the_step_after_recording_it(warehouse_url: str, tmp_path: Path) -> None:
    engine = _seeded(warehouse_url)
    config = make_config(audience={"segments": ["at_risk"]},
                         channels={**make_config().channels.model_dump(), "ads": {"platforms": ["google_ads"], "webhook_conn_id": "ad_hook"}})
    plan = plan_run(config.name, DAY, today=DAY)
    select_audience(engine, config, plan, seeded_inputs(plan.day))
    with webhook_receiver("the-right-secret") as hook, pytest.raises(RuntimeError, match="http_401"):
        sync_ad_audiences(engine, config, plan, export_root=tmp_path, webhook=WebhookTarget(hook["url"], "a-wrong-secret"))
    with engine.connect() as conn:
        assert conn.execute(select(schema.ad_audience_exports.c.webhook_status)).scalar_one() == "http_401"


def test_webhook_target_from_an_airflow_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_AD_HOOK", json.dumps({"conn_type": "http", "host": "https://ads.example/hooks/audiences", "password": "k3y"}))
    target = webhook_from_connection("ad_hook")
    assert (target.url, target.secret) == ("https://ads.example/hooks/audiences", "k3y")
