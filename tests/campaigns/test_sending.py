"""E-mail through a real SMTP server: exactly once under retries, crashes and clears; rules honoured."""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from marketflow.campaigns.pipeline import SendIncomplete, render_messages, select_audience, send_emails
from marketflow.campaigns.runs import RunPlan, plan_run
from marketflow.channels.events import record_events
from marketflow.channels.ledger import SendPolicy, claimer_is_gone, resolve_unknown, worker_identity
from marketflow.channels.settings import DEFAULT_BATCH_SIZE, SendSettings
from marketflow.channels.smtp import SmtpSettings, settings_from_connection
from marketflow.warehouse import schema, warehouse_engine
from tests.campaigns.seed import DAY, Customer, make_config, seed_catalogue, seed_customers, seeded_inputs
from tests.campaigns.smtp_server import SmtpSink, smtp_sink
from tests.conftest import REPO

TODAY = DAY + dt.timedelta(days=1)
FAST = SendPolicy(rate_per_second=None, max_attempts=3, backoff_s=0.01, stale_claim_s=0.0)
#: As deployed: a claim counts as live for 300 s unless its claimer (on this machine) is gone.
RESUMING = SendPolicy(rate_per_second=None, max_attempts=3, backoff_s=0.01, stale_claim_s=300.0)


def _people(n: int) -> list[Customer]:
    return [Customer(str(15000 + i), propensity=round(0.9 - i / (2 * n), 4)) for i in range(n)]


@pytest.fixture
def sink(tmp_path: Path) -> Iterator[SmtpSink]:
    with smtp_sink(tmp_path / "sink") as server:
        yield server


def _prepared(warehouse_url: str, n: int = 12, control_share: float = 0.25, day: dt.date = DAY, today: dt.date = TODAY,
              **plan_args: Any) -> tuple[Any, Any, RunPlan]:
    engine = warehouse_engine(warehouse_url)
    seed_catalogue(engine)
    seed_customers(engine, _people(n), day=day)
    config = make_config(audience={"segments": ["at_risk"]}, control_share=control_share)
    plan = plan_run(config.name, day, today=today, **plan_args)
    select_audience(engine, config, plan, seeded_inputs(plan.day))
    render_messages(engine, config, plan, seeded_inputs(plan.day))
    return engine, config, plan


def _smtp(sink: SmtpSink, **kw: Any) -> SmtpSettings:
    return SmtpSettings(host="127.0.0.1", port=sink.port, timeout_s=20, **kw)


def _ledger(engine: Any, run_key: str) -> dict[str, Any]:
    with engine.connect() as conn:
        rows = conn.execute(select(schema.messages).where(schema.messages.c.run_key == run_key)).mappings().all()
    return {r["customer_id"]: r for r in rows}


def _arms(engine: Any) -> dict[str, set[str]]:
    with engine.connect() as conn:
        rows = conn.execute(select(schema.audience_members.c.customer_id, schema.audience_members.c.arm)).all()
    arms: dict[str, set[str]] = {}
    for customer_id, arm in rows:
        arms.setdefault(arm, set()).add(customer_id)
    return arms


def _assert_exactly_once(engine: Any, plan: RunPlan, sink: SmtpSink) -> None:
    ledger = _ledger(engine, plan.run_key)
    treatment = _arms(engine)["treatment"]
    assert set(ledger) == treatment
    assert {r["status"] for r in ledger.values()} == {"sent"}
    received = Counter(sink.message_ids())
    assert received == Counter({r["message_id"]: 1 for r in ledger.values()}), "each message once, none missing"
    recipients = sorted(str(m["To"]) for m in sink.messages())
    assert recipients == sorted(f"customer{c}@example.com" for c in treatment)


def test_each_treatment_member_gets_one_multipart_email_and_a_rerun_sends_nothing(warehouse_url: str, sink: SmtpSink) -> None:
    engine, config, plan = _prepared(warehouse_url)
    summary = send_emails(engine, config, plan, smtp=_smtp(sink), policy=FAST)
    arms = _arms(engine)
    assert summary["sent"] == len(arms["treatment"]) > 0 and arms["control"]
    _assert_exactly_once(engine, plan, sink)
    started = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(minutes=5)
    assert all(r["attempts"] == 1 and r["sent_at"] > started and r["error"] is None for r in _ledger(engine, plan.run_key).values())
    again = send_emails(engine, config, plan, smtp=_smtp(sink), policy=FAST)  # Airflow retry or cleared task
    assert again["sent"] == 0
    _assert_exactly_once(engine, plan, sink)
    message = sink.messages()[0]
    ledger = {r["message_id"]: r for r in _ledger(engine, plan.run_key).values()}[str(message["Message-ID"])]
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    token = ledger["message_id"].strip("<>").split("@")[0]
    assert " ".join(message["List-Unsubscribe"].split()) == (  # long headers are folded on the wire
        f"<https://giftshop.example/unsubscribe?u={token}>, "
        f"<mailto:unsubscribe@giftshop.example?subject=unsubscribe%20{ledger['message_id'].strip('<>')}>"
    )
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert message["Subject"] == ledger["subject"] and "The Gift Shop" in message["From"]
    text = message.get_body(("plain",)).get_content()
    assert f"?u={token}" in text and "£12.75" in text
    assert {r["status"] for r in _ledger(engine, plan.run_key).values()} == {"sent"}
    with engine.connect() as conn:
        run = conn.execute(select(schema.campaign_runs)).mappings().one()
    assert run["status"] == "sent" and run["send_mode"] == "live"


def test_transient_errors_are_retried_with_backoff_and_a_persistent_one_fails_the_task_until_it_clears(
    warehouse_url: str, sink: SmtpSink
) -> None:
    engine, config, plan = _prepared(warehouse_url)
    treatment = sorted(_arms(engine)["treatment"])
    first, stuck = (f"customer{c}@example.com" for c in treatment[:2])
    sink.faults.data_failures[first] = ["451 4.3.0 try again later", "421 4.7.0 slow down"]
    sink.faults.data_failures[stuck] = ["452 4.3.1 mailbox full"] * 3
    with pytest.raises(SendIncomplete, match="1 e-mails hit transient errors"):
        send_emails(engine, config, plan, smtp=_smtp(sink), policy=FAST)
    ledger = _ledger(engine, plan.run_key)
    assert ledger[treatment[0]]["status"] == "sent" and ledger[treatment[0]]["attempts"] == 3
    assert ledger[treatment[1]]["status"] == "rendered" and "452" in ledger[treatment[1]]["error"]
    summary = send_emails(engine, config, plan, smtp=_smtp(sink), policy=FAST)  # Airflow's retry
    assert summary["sent"] == 1
    _assert_exactly_once(engine, plan, sink)


def test_a_hard_bounce_is_recorded_suppressed_and_excluded_next_time(warehouse_url: str, sink: SmtpSink) -> None:
    engine, config, plan = _prepared(warehouse_url)
    victim = sorted(_arms(engine)["treatment"])[0]
    sink.faults.rcpt_codes[f"customer{victim}@example.com"] = "550 5.1.1 no such user"
    summary = send_emails(engine, config, plan, smtp=_smtp(sink), policy=FAST)
    assert summary["bounced"] == 1
    assert _ledger(engine, plan.run_key)[victim]["status"] == "bounced"
    with engine.connect() as conn:
        assert conn.execute(select(schema.suppressions.c.reason).where(schema.suppressions.c.customer_id == victim)).scalar_one() == "bounce"
        assert conn.execute(select(schema.engagement_events.c.event_type).where(schema.engagement_events.c.customer_id == victim)).scalar_one() == "bounce"
    next_week = plan_run(config.name, DAY + dt.timedelta(days=7), today=DAY + dt.timedelta(days=8))
    with engine.begin() as conn:  # next week's profiles: same people
        rows = conn.execute(select(schema.customer_profiles).where(schema.customer_profiles.c.as_of_date == DAY)).mappings().all()
        conn.execute(schema.customer_profiles.insert(), [{**r, "as_of_date": next_week.day} for r in rows])
    select_audience(engine, config, next_week, seeded_inputs(next_week.day))
    with engine.connect() as conn:
        reason = conn.execute(select(schema.audience_members.c.exclusion_reason).where(
            schema.audience_members.c.run_key == next_week.run_key, schema.audience_members.c.customer_id == victim)).scalar_one()
    assert reason == "bounced"


def test_unsubscribes_and_opt_outs_after_rendering_cancel_the_message(warehouse_url: str, sink: SmtpSink) -> None:
    engine, config, plan = _prepared(warehouse_url)
    ledger = _ledger(engine, plan.run_key)
    leaver, opted_out = sorted(ledger)[:2]
    result = record_events(engine, [{"event_type": "unsubscribe", "message_id": ledger[leaver]["message_id"],
                                     "occurred_at": "2011-10-03T20:00:00Z"}], "webhook")
    assert result.suppressed == 1
    with engine.begin() as conn:  # the CRM export of the next day says no
        conn.execute(schema.consent_events.insert().values(customer_id=opted_out, effective_date=DAY + dt.timedelta(days=1),
                                                           marketing_consent=False, source_file="crm-2011-10-04.csv"))
    summary = send_emails(engine, config, plan, smtp=_smtp(sink), policy=FAST)
    assert summary["cancelled"] == 2
    after = _ledger(engine, plan.run_key)
    assert after[leaver]["status"] == after[opted_out]["status"] == "cancelled"
    assert "opted out" in after[opted_out]["error"]
    inbox = [str(m["To"]) for m in sink.messages()]
    assert f"customer{leaver}@example.com" not in inbox and f"customer{opted_out}@example.com" not in inbox
    assert len(inbox) == len(ledger) - 2


def test_consent_suppressions_and_the_frequency_cap_keep_people_out_of_the_inbox(warehouse_url: str, sink: SmtpSink) -> None:
    engine = warehouse_engine(warehouse_url)
    seed_catalogue(engine)
    welcome = [Customer(str(15100 + i)) for i in range(6)]
    opted_out, never_asked, unsubscribed, capped = (Customer("15201", consent=False), Customer("15202", consent=None),
                                                    Customer("15203"), Customer("15204"))
    seed_customers(engine, [*welcome, opted_out, never_asked, unsubscribed, capped])
    with engine.begin() as conn:
        conn.execute(schema.suppressions.insert().values(customer_id="15203", reason="unsubscribe", since=dt.datetime(2011, 9, 1), source="link"))
        for n, day in enumerate((DAY - dt.timedelta(days=1), DAY - dt.timedelta(days=3))):
            key = f"cross_sell:{day}"
            conn.execute(schema.campaign_runs.insert().values(run_key=key, campaign="cross_sell", run_day=day, send_mode="live",
                                                              status="sent", audience_size=1, treatment_size=1, control_size=0))
            conn.execute(schema.messages.insert().values(run_key=key, customer_id="15204", channel="email", status="sent",
                                                         attempts=1, message_id=f"<cap{n}@x>"))
    config = make_config(audience={"segments": ["at_risk"]}, control_share=0.0)
    plan = plan_run(config.name, DAY, today=TODAY)
    select_audience(engine, config, plan, seeded_inputs(plan.day))
    render_messages(engine, config, plan, seeded_inputs(plan.day))
    send_emails(engine, config, plan, smtp=_smtp(sink), policy=FAST)
    inbox = sorted(str(m["To"]) for m in sink.messages())
    assert inbox == sorted(c.address() for c in welcome)
    with engine.connect() as conn:
        reasons = dict(conn.execute(select(schema.audience_members.c.customer_id, schema.audience_members.c.exclusion_reason)
                                    .where(schema.audience_members.c.arm == "excluded")).all())
    assert reasons == {"15201": "opted_out", "15202": "no_consent", "15203": "unsubscribed", "15204": "frequency_cap"}


def test_unsendable_addresses_fail_alone_and_never_stay_in_doubt(warehouse_url: str, sink: SmtpSink) -> None:
    engine = warehouse_engine(warehouse_url)
    seed_catalogue(engine)
    fine = [Customer(str(15300 + i)) for i in range(4)]
    seed_customers(engine, [*fine, Customer("15401", email="josé@example.com"), Customer("15402", email="x\nBcc: all@example.com")])
    config = make_config(audience={"segments": ["at_risk"]}, control_share=0.0)
    plan = plan_run(config.name, DAY, today=TODAY)
    select_audience(engine, config, plan, seeded_inputs(plan.day))
    render_messages(engine, config, plan, seeded_inputs(plan.day))
    summary = send_emails(engine, config, plan, smtp=_smtp(sink), policy=FAST)
    assert (summary["sent"], summary["failed"], summary["in_doubt"]) == (4, 2, 0)
    ledger = _ledger(engine, plan.run_key)
    assert ledger["15401"]["status"] == ledger["15402"]["status"] == "failed"
    assert sorted(str(m["To"]) for m in sink.messages()) == sorted(c.address() for c in fine)


def test_the_rate_limit_spaces_transactions(warehouse_url: str, sink: SmtpSink) -> None:
    engine, config, plan = _prepared(warehouse_url, n=10, control_share=0.0)
    started = time.perf_counter()
    send_emails(engine, config, plan, smtp=_smtp(sink), policy=SendPolicy(rate_per_second=40, max_attempts=1, stale_claim_s=0))
    assert time.perf_counter() - started >= 9 / 40


@pytest.mark.parametrize("mode", ["backfill", "dry_run"])
def test_backfills_and_dry_runs_send_nothing_unless_forced(warehouse_url: str, sink: SmtpSink, mode: str) -> None:
    today = dt.date(2026, 11, 24)
    engine, config, plan = _prepared(warehouse_url, today=today, dry_run=mode == "dry_run")
    assert plan.send_mode == mode and not plan.contacts_customers
    summary = send_emails(engine, config, plan, smtp=_smtp(sink), policy=FAST)
    assert summary["sent"] == 0 and summary["rendered_not_sent"] == len(_arms(engine)["treatment"])
    assert "nobody is contacted" in summary["skipped"] or "none sent" in summary["skipped"]
    assert sink.messages() == []
    assert {r["status"] for r in _ledger(engine, plan.run_key).values()} == {"rendered"}
    forced = plan_run(config.name, DAY, today=today, force_send=mode == "backfill", dry_run=mode == "dry_run")
    send_emails(engine, config, forced, smtp=_smtp(sink), policy=FAST)
    assert len(sink.messages()) == (len(_arms(engine)["treatment"]) if mode == "backfill" else 0)


def test_the_batch_size_is_a_validated_setting() -> None:
    assert SendSettings.from_env({}).batch_size == DEFAULT_BATCH_SIZE == SendPolicy().batch_size
    assert SendSettings.from_env({"MARKETFLOW_SEND_BATCH_SIZE": "1"}).batch_size == 1
    for bad in ("0", "101", "ten"):
        with pytest.raises(ValueError, match=r"batch_size \(from \$MARKETFLOW_SEND_BATCH_SIZE\)"):
            SendSettings.from_env({"MARKETFLOW_SEND_BATCH_SIZE": bad})
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        SendPolicy(batch_size=0)


def test_smtp_settings_come_from_the_airflow_connection(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_CAMPAIGNS", json.dumps({
        "conn_type": "smtp", "host": "127.0.0.1", "port": 2525, "login": "mailer", "password": "s3cret",
        "extra": {"disable_ssl": True, "timeout": 5, "delivery_log": str(tmp_path / "log.jsonl")}}))
    s = settings_from_connection("smtp_campaigns")
    assert (s.host, s.port, s.login, s.password, s.use_ssl, s.use_starttls, s.timeout_s) == (
        "127.0.0.1", 2525, "mailer", "s3cret", False, True, 5.0)
    assert s.delivery_log == tmp_path / "log.jsonl"


# --- crashes: a sending process killed with SIGKILL, then the task resumes --------------------------
# A worker claims `batch_size` messages per commit and confirms them in the next one, so a SIGKILL
# leaves its whole batch in `sending`: what the server took, the one in flight, and the rest.


def _start_worker(warehouse_url: str, run_key: str, sink: SmtpSink, rate: float, authoritative: bool,
                  batch_size: int = DEFAULT_BATCH_SIZE) -> subprocess.Popen:
    args = {"warehouse_url": warehouse_url, "run_key": run_key, "port": sink.port, "rate": rate, "batch_size": batch_size,
            "delivery_log": str(sink.delivery_log) if authoritative else None}
    return subprocess.Popen([sys.executable, "-m", "tests.campaigns.send_worker", json.dumps(args)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _kill(worker: subprocess.Popen) -> None:
    os.kill(worker.pid, signal.SIGKILL)
    worker.wait(10)
    assert worker.returncode == -signal.SIGKILL


def _kill_on_third_message(warehouse_url: str, run_key: str, sink: SmtpSink, when: str, authoritative: bool,
                           batch_size: int, how: signal.Signals = signal.SIGKILL) -> subprocess.Popen:
    """A sending worker signalled while the sink holds the third message `before` or `after` storing it."""
    setattr(sink.faults, f"pause_{when}_store_on", 3)
    worker = _start_worker(warehouse_url, run_key, sink, rate=100, authoritative=authoritative, batch_size=batch_size)
    _wait_for(sink.faults.paused.is_set)
    if how == signal.SIGKILL:
        _kill(worker)
    else:
        os.kill(worker.pid, how)
    sink.faults.release.set()
    worker.wait(30)
    return worker


def _statuses(engine: Any, run_key: str) -> Counter:
    return Counter(r["status"] for r in _ledger(engine, run_key).values())


def _wait_for(condition: Any, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_killed_mid_batch_then_resumed_sends_each_message_exactly_once(warehouse_url: str, sink: SmtpSink) -> None:
    engine, config, plan = _prepared(warehouse_url, n=40, control_share=0.1)
    worker = _start_worker(warehouse_url, plan.run_key, sink, rate=30, authoritative=True)
    _wait_for(lambda: len(sink.message_ids()) >= 8)
    _kill(worker)
    sent_before = len(sink.message_ids())
    assert 8 <= sent_before < len(_arms(engine)["treatment"])
    in_doubt = _statuses(engine, plan.run_key)["sending"]
    assert 1 <= in_doubt <= DEFAULT_BATCH_SIZE, "a kill leaves at most one batch claimed"
    summary = send_emails(engine, config, plan, smtp=_smtp(sink, delivery_log=sink.delivery_log), policy=RESUMING)
    assert sum(summary["reconciled"].values()) == in_doubt
    assert summary["sent"] == len(_arms(engine)["treatment"]) - sent_before
    _assert_exactly_once(engine, plan, sink)


def test_killed_mid_batch_delivery_evidence_settles_what_the_server_took_and_the_rest_is_held(warehouse_url: str, sink: SmtpSink) -> None:
    engine, config, plan = _prepared(warehouse_url)
    treated = len(_arms(engine)["treatment"])
    # the third is stored, but the 250 never reaches the sender; the fourth and fifth are claimed, never tried
    _kill_on_third_message(warehouse_url, plan.run_key, sink, "after", authoritative=False, batch_size=5)
    assert _statuses(engine, plan.run_key) == {"sending": 5, "rendered": treated - 5}
    # the sink's delivered events arrive through the event drop (as a provider's webhook would)
    record_events(engine, [json.loads(line) for line in sink.delivery_log.read_text().splitlines()], "drop")
    summary = send_emails(engine, config, plan, smtp=_smtp(sink), policy=RESUMING)
    assert summary["reconciled"] == {"sent": 3, "unknown": 2} and summary["in_doubt"] == 2 and summary["sent"] == treated - 5
    assert len(sink.message_ids()) == len(set(sink.message_ids())) == treated - 2, "nothing resent blindly"
    assert resolve_unknown(engine, plan.run_key, "resend").decided == 2
    assert send_emails(engine, config, plan, smtp=_smtp(sink), policy=RESUMING)["sent"] == 2
    _assert_exactly_once(engine, plan, sink)


def test_killed_before_the_server_took_it_is_held_as_unknown_until_a_person_decides(warehouse_url: str, sink: SmtpSink) -> None:
    engine, config, plan = _prepared(warehouse_url)
    # one message per commit (MARKETFLOW_SEND_BATCH_SIZE=1): only the message in flight is in doubt
    _kill_on_third_message(warehouse_url, plan.run_key, sink, "before", authoritative=False, batch_size=1)
    summary = send_emails(engine, config, plan, smtp=_smtp(sink), policy=RESUMING)
    assert summary["reconciled"] == {"unknown": 1} and summary["in_doubt"] == 1
    assert len(sink.message_ids()) == len(_arms(engine)["treatment"]) - 1, "the doubtful one is not resent blindly"
    assert send_emails(engine, config, plan, smtp=_smtp(sink), policy=RESUMING)["sent"] == 0
    assert resolve_unknown(engine, plan.run_key, "resend").decided == 1
    assert send_emails(engine, config, plan, smtp=_smtp(sink), policy=RESUMING)["sent"] == 1
    _assert_exactly_once(engine, plan, sink)


def test_a_fresh_claim_of_another_worker_is_neither_touched_nor_resent(warehouse_url: str, sink: SmtpSink) -> None:
    engine, config, plan = _prepared(warehouse_url)
    busy = sorted(_arms(engine)["treatment"])[0]
    with engine.begin() as conn:  # a twin task is sending this one right now
        conn.execute(schema.messages.update().where(schema.messages.c.customer_id == busy)
                     .values(status="sending", attempted_at=dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)))
    policy = SendPolicy(rate_per_second=None, max_attempts=1, stale_claim_s=300)
    with pytest.raises(SendIncomplete, match="1 e-mails are claimed by another attempt"):
        send_emails(engine, config, plan, smtp=_smtp(sink, delivery_log=sink.delivery_log), policy=policy)
    assert len(sink.messages()) == len(_arms(engine)["treatment"]) - 1
    assert _ledger(engine, plan.run_key)[busy]["status"] == "sending"
    with engine.begin() as conn:  # ten minutes later the twin is gone: its claim is stale
        conn.execute(schema.messages.update().where(schema.messages.c.customer_id == busy)
                     .values(attempted_at=dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(minutes=10)))
    summary = send_emails(engine, config, plan, smtp=_smtp(sink, delivery_log=sink.delivery_log), policy=policy)
    assert summary["reconciled"] == {"requeued": 1} and summary["sent"] == 1
    _assert_exactly_once(engine, plan, sink)


def test_with_an_authoritative_delivery_log_the_unaccepted_rest_of_a_killed_batch_is_resent_automatically(
    warehouse_url: str, sink: SmtpSink
) -> None:
    engine, config, plan = _prepared(warehouse_url)
    treated = len(_arms(engine)["treatment"])
    _kill_on_third_message(warehouse_url, plan.run_key, sink, "before", authoritative=True, batch_size=5)
    assert _statuses(engine, plan.run_key) == {"sending": 5, "rendered": treated - 5}
    summary = send_emails(engine, config, plan, smtp=_smtp(sink, delivery_log=sink.delivery_log), policy=RESUMING)
    # the log has the first two (sent); the third and the two never tried are requeued, same Message-IDs
    assert summary["reconciled"] == {"sent": 2, "requeued": 3} and summary["in_doubt"] == 0 and summary["sent"] == treated - 2
    _assert_exactly_once(engine, plan, sink)


def test_an_exception_mid_batch_confirms_what_was_sent_and_releases_what_was_never_tried(warehouse_url: str, sink: SmtpSink) -> None:
    engine, config, plan = _prepared(warehouse_url)
    treated = len(_arms(engine)["treatment"])
    # SIGINT raises KeyboardInterrupt in the worker while it waits for the third reply, as a task
    # timeout raises in Airflow: unlike a SIGKILL, the worker still writes what it knows
    worker = _kill_on_third_message(warehouse_url, plan.run_key, sink, "before", authoritative=False, batch_size=5,
                                    how=signal.SIGINT)
    assert worker.returncode != 0
    assert _statuses(engine, plan.run_key) == {"sent": 2, "sending": 1, "rendered": treated - 3}
    summary = send_emails(engine, config, plan, smtp=_smtp(sink), policy=RESUMING)
    assert summary["reconciled"] == {"unknown": 1} and summary["sent"] == treated - 3
    assert len(sink.message_ids()) == len(set(sink.message_ids())) == treated - 1


def test_after_a_kill_the_operator_resolves_the_dead_claim_at_once_without_waiting(warehouse_url: str, sink: SmtpSink) -> None:
    engine, config, plan = _prepared(warehouse_url)
    worker = _kill_on_third_message(warehouse_url, plan.run_key, sink, "before", authoritative=False, batch_size=1)
    killed = [row for row in _ledger(engine, plan.run_key).values() if row["status"] == "sending"]
    assert len(killed) == 1 and killed[0]["claimed_by"].split(":")[1] == str(worker.pid)
    outcome = resolve_unknown(engine, plan.run_key, "resend", stale_claim_s=300)
    assert (outcome.reconciled, outcome.decided, outcome.still_claimed) == ({"unknown": 1}, 1, 0)
    summary = send_emails(engine, config, plan, smtp=_smtp(sink), policy=RESUMING)
    assert summary["sent"] == len(_arms(engine)["treatment"]) - 2  # the two sent before the kill stay sent
    _assert_exactly_once(engine, plan, sink)


def test_a_claim_from_another_machine_waits_out_the_timeout(warehouse_url: str, sink: SmtpSink) -> None:
    engine, config, plan = _prepared(warehouse_url)
    busy = sorted(_arms(engine)["treatment"])[0]
    with engine.begin() as conn:  # a worker on another machine claimed it a minute ago (its pid may exist here)
        conn.execute(schema.messages.update().where(schema.messages.c.customer_id == busy).values(
            status="sending", claimed_by=f"worker-elsewhere:{os.getpid()}:1.00",
            attempted_at=dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(minutes=1)))
    with pytest.raises(SendIncomplete, match="ran on another machine less than 300 s ago"):
        send_emails(engine, config, plan, smtp=_smtp(sink, delivery_log=sink.delivery_log), policy=RESUMING)
    assert resolve_unknown(engine, plan.run_key, "resend", stale_claim_s=300).still_claimed == 1
    summary = send_emails(
        engine, config, plan, smtp=_smtp(sink, delivery_log=sink.delivery_log), policy=SendPolicy(rate_per_second=None, stale_claim_s=30)
    )
    assert summary["reconciled"] == {"requeued": 1} and summary["sent"] == 1
    _assert_exactly_once(engine, plan, sink)


def test_a_claimer_is_gone_only_when_this_machine_proves_it() -> None:
    host = socket.gethostname()
    assert not claimer_is_gone(worker_identity())  # this process: alive
    assert claimer_is_gone(f"{host}:{os.getpid()}:1.00")  # its pid, but a process that started in 1970: reused
    assert not claimer_is_gone(f"elsewhere:{os.getpid()}:1.00")  # another machine: cannot tell
    assert not claimer_is_gone(None) and not claimer_is_gone("not a claim")
