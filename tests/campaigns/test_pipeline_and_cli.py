"""The run's steps end to end through Airflow connections, the preview, and the CLI commands."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import signal
import smtplib
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from marketflow.campaigns import cli as campaigns_cli
from marketflow.campaigns.pipeline import (
    campaign,
    preview_run,
    render_messages,
    report_run,
    select_audience,
    send_emails,
    sync_ad_audiences,
)
from marketflow.campaigns.runs import plan_run
from marketflow.channels import cli as channels_cli
from marketflow.channels.sink import stored_messages
from marketflow.warehouse import schema, warehouse_engine
from tests.campaigns.seed import DAY, Customer, seed_catalogue, seed_customers, seeded_inputs
from tests.campaigns.smtp_server import smtp_sink
from tests.conftest import REPO

WINBACK_PEOPLE = [Customer(str(19000 + i), segment="at_risk" if i % 3 else "cant_lose", recency_days=90 + i, frequency=3)
                  for i in range(24)]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="marketflow")
    commands = parser.add_subparsers(dest="command", required=True)
    campaigns_cli.add_commands(commands)
    channels_cli.add_commands(commands)
    return parser


def _cli(*argv: str) -> int:
    args = _parser().parse_args(list(argv))
    return int(args.handler(args))


def _counts(engine: Any) -> dict[str, int]:
    with engine.connect() as conn:
        return {t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in (schema.campaign_runs, schema.audience_members, schema.messages)}


def test_the_shipped_winback_runs_every_step_through_airflow_connections(
    warehouse_connection_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = warehouse_engine()
    seed_catalogue(engine)
    seed_customers(engine, WINBACK_PEOPLE)
    config = campaign("winback")
    with smtp_sink(tmp_path / "sink") as sink:
        monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", json.dumps({
            "conn_type": "smtp", "host": "127.0.0.1", "port": sink.port,
            "extra": {"disable_ssl": True, "disable_tls": True, "delivery_log": str(sink.delivery_log)}}))
        plan = plan_run("winback", DAY, today=DAY + dt.timedelta(days=1))
        selected = select_audience(engine, config, plan, seeded_inputs(plan.day))
        rendered = render_messages(engine, config, plan, seeded_inputs(plan.day))
        sent = send_emails(engine, config, plan)
        exported = sync_ad_audiences(engine, config, plan, export_root=tmp_path / "exports")
        reported = report_run(engine, config, plan)
        received = sink.message_ids()
    assert selected["treatment"] == rendered["rendered"] == sent["sent"] == len(received) > 0
    assert selected["control"] > 0 and reported["control"] == selected["control"]
    assert exported["google_ads"]["rows"] == exported["meta"]["rows"] == sent["sent"]
    with engine.connect() as conn:
        run = conn.execute(select(schema.campaign_runs)).mappings().one()
    assert run["status"] == "reported" and run["treatment_size"] == sent["sent"]
    assert run["report"]["messages"] == {"sent": sent["sent"]}


def test_preview_renders_messages_and_writes_nothing(warehouse_url: str) -> None:
    engine = warehouse_engine(warehouse_url)
    seed_catalogue(engine)
    seed_customers(engine, WINBACK_PEOPLE)
    before = _counts(engine)
    preview = preview_run(engine, campaign("winback"), DAY, 3)
    messages = preview.messages
    assert len(messages) == 3 and all("Unsubscribe" in m.body_text for m in messages)
    assert {m.customer_id for m in messages} <= {m.customer_id for m in preview.audience.treatment}
    assert len(preview.audience.members) >= len(preview.audience.treatment) + len(preview.audience.control) > 3
    assert {m.variant for m in messages} <= {"we_miss_you", "whats_new"}
    assert _counts(engine) == before == {"campaign_runs": 0, "audience_members": 0, "messages": 0}


def test_cli_validate_preview_and_resolve(warehouse_connection_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _cli("campaigns", "validate") == 0
    out = capsys.readouterr().out
    assert all(f"ok  {name}" in out for name in ("winback", "cross_sell", "reorder_reminder"))
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "oops.yaml").write_text("name: oops\ncontrol_share: 2\n")
    assert _cli("campaigns", "validate", "--dir", str(bad)) == 1
    assert f"{bad / 'oops.yaml'}: control_share: Input should be less than or equal to 0.5" in capsys.readouterr().out

    engine = warehouse_engine()
    seed_catalogue(engine)
    seed_customers(engine, WINBACK_PEOPLE)
    assert _cli("campaigns", "preview", "winback", "--date", DAY.isoformat(), "-n", "2", "--out", str(tmp_path / "html")) == 0
    out = capsys.readouterr().out
    assert out.count("--- customer ") == 2 and "nothing stored, nothing sent" in out
    assert re.search(rf"audience of {DAY}: [1-9]\d* treatment, \d+ control; left out: ", out), out
    assert len(list((tmp_path / "html").glob("*.html"))) == 2
    later = DAY + dt.timedelta(days=2)  # nothing is ingested or profiled for it: a run would be blocked
    assert _cli("campaigns", "preview", "winback", "--date", later.isoformat()) == 1
    assert (
        f"no preview: a run of {later} would be blocked: stale or missing inputs for {later}: "
        f"orders as of {DAY} is 2 day(s) older than {later} (the same day allowed)"
    ) in capsys.readouterr().out

    with engine.begin() as conn:
        conn.execute(schema.campaign_runs.insert().values(run_key="winback:2011-10-03", campaign="winback", run_day=DAY,
                                                          send_mode="live", status="sent", audience_size=1, treatment_size=1, control_size=0))
        conn.execute(schema.messages.insert().values(run_key="winback:2011-10-03", customer_id="19001", channel="email",
                                                     status="unknown", attempts=1))
    assert _cli("campaigns", "resolve-unknown", "winback:2011-10-03", "--mark-sent") == 0
    with engine.connect() as conn:
        assert conn.execute(select(schema.messages.c.status)).scalar_one() == "sent"


def test_the_smtp_sink_command_stores_what_it_receives_and_stops_on_sigterm(tmp_path: Path) -> None:
    probe = ("import sys; from tests.campaigns.test_pipeline_and_cli import _cli; "
             f"sys.exit(_cli('channels', 'smtp-sink', '--dir', {str(tmp_path / 'inbox')!r}, '--port', '0'))")
    sink = subprocess.Popen([sys.executable, "-c", probe], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = sink.stdout.readline()
        port = int(first.split(":")[1].split()[0])
        assert "AIRFLOW_CONN_SMTP_DEFAULT=" in sink.stdout.readline()
        msg = EmailMessage()
        msg["From"], msg["To"], msg["Subject"], msg["Message-ID"] = "a@shop.example", "b@example.com", "Hi", "<1@shop.example>"
        msg.set_content("hello")
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
            smtp.send_message(msg)
        (eml,) = stored_messages(tmp_path / "inbox")
        assert b"Subject: Hi" in eml.read_bytes()
        log = [json.loads(line) for line in (tmp_path / "inbox" / "delivery-log.jsonl").read_text().splitlines()]
        assert [(e["event_type"], e["message_id"]) for e in log] == [("delivered", "<1@shop.example>")]
    finally:
        sink.send_signal(signal.SIGTERM)
        assert sink.wait(10) == 0
