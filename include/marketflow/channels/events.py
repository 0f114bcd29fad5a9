"""Engagement events (delivered, open, click, unsubscribe, bounce, complaint) from file or webhook drops.

A drop is a JSON Lines or CSV file with the fields `event_type`, `occurred_at` (ISO 8601) and
`message_id` and/or `customer_id`; `event_id` is optional (derived from the other fields when
absent, so re-reading a file never duplicates events). Events naming only a Message-ID are tied
to the customer through the send ledger. Unsubscribes, complaints and bounces go to
`suppressions` in the same transaction, so the very next selection or send honours them;
a bounce also marks the message `bounced`.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, select, update

from marketflow.campaigns.sqlutil import chunks, insert_ignoring_duplicates
from marketflow.warehouse.schema import engagement_events, messages, suppressions

EVENT_TYPES = ("delivered", "open", "click", "unsubscribe", "bounce", "complaint")
SUPPRESSING = {"unsubscribe": "unsubscribe", "complaint": "complaint", "bounce": "bounce"}


@dataclass(frozen=True)
class EventBatchResult:
    read: int
    inserted: int
    suppressed: int
    rejected: list[str]


def _parse_time(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    return parsed.astimezone(dt.timezone.utc).replace(tzinfo=None) if parsed.tzinfo else parsed


def _event_id(raw: dict[str, Any]) -> str:
    if raw.get("event_id"):
        return str(raw["event_id"])[:128]
    key = "|".join(str(raw.get(k) or "") for k in ("event_type", "message_id", "customer_id", "occurred_at"))
    return "derived:" + hashlib.sha256(key.encode()).hexdigest()[:40]


def read_drop_file(path: Path) -> list[dict[str, Any]]:
    """Raw events from one `.jsonl`/`.json` or `.csv` file; a torn last line (a writer mid-append) is skipped."""
    if path.suffix == ".csv":
        with path.open(newline="", encoding="utf-8") as handle:
            return [dict(row) for row in csv.DictReader(handle)]
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        try:
            events.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return events


def _customers_by_message_id(conn: Connection, message_ids: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for chunk in chunks(message_ids):
        stmt = select(messages.c.message_id, messages.c.customer_id).where(messages.c.message_id.in_(chunk))
        found.update({mid: cid for mid, cid in conn.execute(stmt)})
    return found


def record_events(engine: Engine, raw_events: Iterable[dict[str, Any]], source: str) -> EventBatchResult:
    """Validate and store events; apply their suppressions; all in one transaction."""
    raw = list(raw_events)
    rejected: list[str] = []
    with engine.begin() as conn:
        by_message = _customers_by_message_id(
            conn, sorted({str(e["message_id"]) for e in raw if e.get("message_id")})
        )
        rows: list[dict[str, Any]] = []
        for i, event in enumerate(raw):
            kind = str(event.get("event_type", "")).strip().lower()
            message_id = str(event["message_id"]) if event.get("message_id") else None
            customer_id = str(event["customer_id"]) if event.get("customer_id") else by_message.get(message_id or "")
            if kind not in EVENT_TYPES:
                rejected.append(f"#{i}: unknown event_type {kind!r}")
                continue
            if customer_id is None and message_id is None:
                rejected.append(f"#{i}: needs message_id or customer_id")
                continue
            try:
                occurred = _parse_time(str(event["occurred_at"]))
            except (KeyError, ValueError):
                rejected.append(f"#{i}: occurred_at missing or not ISO 8601")
                continue
            rows.append(
                {
                    "event_id": _event_id(event),
                    "message_id": message_id,
                    "customer_id": customer_id,
                    "event_type": kind,
                    "occurred_at": occurred,
                    "source": source[:512],
                }
            )
        inserted = insert_ignoring_duplicates(conn, engagement_events, rows)
        suppressed = _apply_suppressions(conn, rows)
    return EventBatchResult(len(raw), inserted, suppressed, rejected)


def _apply_suppressions(conn: Connection, rows: list[dict[str, Any]]) -> int:
    entries = [
        {"customer_id": r["customer_id"], "reason": SUPPRESSING[r["event_type"]], "since": r["occurred_at"], "source": r["source"]}
        for r in rows
        if r["event_type"] in SUPPRESSING and r["customer_id"]
    ]
    bounced = [r["message_id"] for r in rows if r["event_type"] == "bounce" and r["message_id"]]
    for chunk in chunks(bounced):
        conn.execute(update(messages).where(messages.c.message_id.in_(chunk)).values(status="bounced"))
    return insert_ignoring_duplicates(conn, suppressions, entries)


def ingest_drop_folder(engine: Engine, folder: Path) -> EventBatchResult:
    """Every `*.jsonl`, `*.json` and `*.csv` file in `folder` (re-reading is harmless)."""
    totals = EventBatchResult(0, 0, 0, [])
    for path in sorted(p for p in folder.iterdir() if p.suffix in {".jsonl", ".json", ".csv"}):
        result = record_events(engine, read_drop_file(path), str(path))
        totals = EventBatchResult(
            totals.read + result.read,
            totals.inserted + result.inserted,
            totals.suppressed + result.suppressed,
            totals.rejected + [f"{path.name} {r}" for r in result.rejected],
        )
    return totals


_TOKEN = re.compile(r"^[0-9a-f]{32}$")


def unsubscribe_by_token(engine: Engine, token: str, occurred_at: dt.datetime, source: str = "unsubscribe link") -> str | None:
    """One-click unsubscribe (link or List-Unsubscribe-Post): record it and suppress the customer.

    `token` is the `u` parameter of the link (the random part of the Message-ID). Returns the
    customer id, or None for a token that matches no message (nothing is recorded then).
    """
    if not _TOKEN.match(token):
        return None
    with engine.connect() as conn:
        found = conn.execute(
            select(messages.c.message_id).where(messages.c.message_id.like(f"<{token}@%")).limit(1)
        ).scalar_one_or_none()
    if found is None:
        return None
    event = {"event_type": "unsubscribe", "message_id": found, "occurred_at": occurred_at.isoformat(),
             "event_id": f"unsubscribe:{token}"}
    record_events(engine, [event], source)
    with engine.connect() as conn:
        return conn.execute(select(messages.c.customer_id).where(messages.c.message_id == found).limit(1)).scalar_one()
