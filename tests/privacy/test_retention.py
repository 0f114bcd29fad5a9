"""Retention on both warehouses: what is past its time goes (files, rows, bodies, logs), what is
not stays, the message ledger keeps every row, and a second run of the day changes nothing."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest
from sqlalchemy import insert, select

from marketflow.channels.sink import file_safe
from marketflow.ingest.landing import Landing
from marketflow.privacy.retention import RetentionSettings, enforce_retention
from marketflow.warehouse import schema, warehouse_engine

DAY = dt.date(2012, 6, 30)
NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.timezone.utc)
SETTINGS = RetentionSettings(landing_days=400, messages_days=730, events_days=365, logs_days=90)
OLD_ID, NEW_ID = "<old.1@marketflow>", "<new.1@marketflow>"


def _landing(folder: Path) -> list[str]:
    names = []
    for day in (DAY - dt.timedelta(days=401), DAY - dt.timedelta(days=400), DAY - dt.timedelta(days=1)):
        names += [f"{day}.csv", f"customers-{day}.csv", f"erasure-requests-{day}.csv"]
    names += ["notes.txt", "2009-01-01-extra.csv"]  # not exports: never ours to remove
    for name in names:
        (folder / name).write_text("x\n")
    return names


def _seed(engine, outbox: Path) -> None:
    old_run_day, new_run_day = DAY - dt.timedelta(days=731), DAY - dt.timedelta(days=30)
    with engine.begin() as conn:
        for day in (DAY - dt.timedelta(days=401), DAY - dt.timedelta(days=1)):
            conn.execute(insert(schema.quarantine).values(file_date=day, file_kind="orders", source_line=7,
                                                          source_file=f"{day}.csv", reason="r", raw_line="raw"))
        for run_key, day, message_id in (("winback-old", old_run_day, OLD_ID), ("winback-new", new_run_day, NEW_ID)):
            conn.execute(insert(schema.campaign_runs).values(run_key=run_key, campaign="winback", run_day=day,
                                                             send_mode="live", status="reported"))
            conn.execute(insert(schema.messages).values(
                run_key=run_key, customer_id="17850", channel="email", status="sent", message_id=message_id,
                recipient="a@example.com", subject="We miss you", body_text="Hello", body_html="<p>Hello</p>", attempts=1))
            (outbox / f"1700000000-{file_safe(message_id)}.eml").write_text("Subject: We miss you\n")
        for event_id, when in (("e-old", dt.datetime(2011, 6, 1, 9)), ("e-new", dt.datetime(2012, 6, 1, 9))):
            conn.execute(insert(schema.engagement_events).values(event_id=event_id, message_id=OLD_ID, customer_id="17850",
                                                                 event_type="open", occurred_at=when))


def _logs(folder: Path) -> None:
    old = folder / "dag_id=ingest_orders" / "run_id=old" / "attempt=1.log"
    old.parent.mkdir(parents=True)
    old.write_text("old\n")
    stamp = (NOW - dt.timedelta(days=91)).timestamp()
    os.utime(old, (stamp, stamp))
    (folder / "dag_id=ingest_orders" / "new.log").write_text("new\n")


def _everything(engine) -> dict[str, list[tuple]]:
    with engine.connect() as conn:
        return {table.name: sorted(map(tuple, conn.execute(select(table)).all()), key=repr)
                for table in (schema.quarantine, schema.messages, schema.engagement_events, schema.retention_runs)}


def test_what_is_past_its_retention_goes_and_a_second_run_changes_nothing(warehouse_url: str, tmp_path: Path) -> None:
    engine = warehouse_engine(warehouse_url)
    landing_dir, outbox, logs = (tmp_path / name for name in ("landing", "outbox", "logs"))
    for folder in (landing_dir, outbox, logs):
        folder.mkdir()
    names = _landing(landing_dir)
    _seed(engine, outbox)
    _logs(logs)

    removed = enforce_retention(engine, DAY, SETTINGS, Landing(str(landing_dir)), outbox=outbox, logs=logs, now=NOW)

    assert {r.target: r.count for r in removed} == {
        "landing files": 3, "quarantined lines": 1, "message bodies": 1, "outbox e-mails": 1,
        "engagement events": 1, "log files": 1,
    }
    assert sorted(p.name for p in landing_dir.iterdir()) == sorted(names[3:])
    assert [p.name for p in outbox.iterdir()] == [f"1700000000-{file_safe(NEW_ID)}.eml"]
    assert [p.relative_to(logs).as_posix() for p in logs.rglob("*")] == ["dag_id=ingest_orders", "dag_id=ingest_orders/new.log"]
    m = schema.messages.c
    with engine.connect() as conn:
        ledger = {row.run_key: row for row in conn.execute(select(m.run_key, m.status, m.message_id, m.subject, m.body_text, m.body_html))}
        assert conn.execute(select(schema.quarantine.c.file_date)).scalars().all() == [DAY - dt.timedelta(days=1)]
        assert conn.execute(select(schema.engagement_events.c.event_id)).scalars().all() == ["e-new"]
        report = {row.target: (row.older_than, row.removed) for row in conn.execute(select(schema.retention_runs))}
    assert (ledger["winback-old"].status, ledger["winback-old"].message_id) == ("sent", OLD_ID), "the ledger row stays"
    assert (ledger["winback-old"].subject, ledger["winback-old"].body_text, ledger["winback-old"].body_html) == (None, None, None)
    assert ledger["winback-new"].body_text == "Hello"
    assert report["landing files"] == (DAY - dt.timedelta(days=400), 3)
    assert report["message bodies"] == (DAY - dt.timedelta(days=730), 1)

    before = _everything(engine)
    again = enforce_retention(engine, DAY, SETTINGS, Landing(str(landing_dir)), outbox=outbox, logs=logs, now=NOW)
    assert sum(r.count for r in again) == 0
    assert _everything(engine) == before


def test_an_invalid_retention_names_the_field_and_its_variable() -> None:
    with pytest.raises(ValueError, match=r"messages_days \(from \$MARKETFLOW_RETENTION_MESSAGES_DAYS\)"):
        RetentionSettings.from_env({"MARKETFLOW_RETENTION_MESSAGES_DAYS": "0"})
    assert RetentionSettings.from_env({"MARKETFLOW_RETENTION_LOGS_DAYS": "30"}).logs_days == 30
