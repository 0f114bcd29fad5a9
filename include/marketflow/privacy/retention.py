"""Retention: personal data we no longer need goes, on a schedule, and a report says what went.

`ingest_orders` ends each ingested day D with `enforce_retention`. Data is aged by its own date
against D, so a backfill of an old day removes nothing a later day has not already removed:
- raw exports in the landing location (orders, CRM, erasure requests: by the day in the file
  name) and the quarantined copies of their lines, after `landing_days`;
- rendered messages, after `messages_days` from their run's day: subject and bodies are cleared,
  the ledger row stays (so nothing is ever sent twice), and a local outbox's `.eml` file goes;
- engagement events (opens, clicks...), after `events_days`; the suppressions they caused stay,
  since an unsubscribe always wins;
- Airflow's log files, after `logs_days` since they were last written (logs are dated by the
  clock, not by the data).
Each run adds its counts to `retention_runs` (day, what, cut-off, how many): running a day again
removes nothing more, so its row stays the same.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, Engine, delete, select, update

from marketflow.channels.sink import file_safe
from marketflow.env_settings import settings_from_env
from marketflow.ingest.landing import Landing
from marketflow.warehouse import schema

log = logging.getLogger(__name__)

ENV_PREFIX = "MARKETFLOW_RETENTION_"
_EXPORT_FILE = re.compile(r"(?:customers-|erasure-requests-)?(\d{4}-\d{2}-\d{2})\.csv")


class RetentionSettings(BaseModel):
    """How long each kind of personal data is kept, in days (`MARKETFLOW_RETENTION_<FIELD>`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    landing_days: int = Field(
        default=400, ge=1, description="raw exports and their quarantined lines (a backfill needs the files)"
    )
    messages_days: int = Field(default=730, ge=1, description="rendered subjects and bodies of messages")
    events_days: int = Field(default=730, ge=1, description="engagement events: deliveries, opens, clicks")
    logs_days: int = Field(default=90, ge=1, description="Airflow log files, since they were last written")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> RetentionSettings:
        return settings_from_env(cls, ENV_PREFIX, "retention", environ, overrides)


@dataclass(frozen=True)
class Removed:
    target: str
    older_than: dt.date
    count: int


def _landing_files(landing: Landing, older_than: dt.date) -> int:
    expired = [
        name for name in landing.names()
        if (match := _EXPORT_FILE.fullmatch(name)) and dt.date.fromisoformat(match.group(1)) < older_than
    ]
    for name in expired:
        landing.remove(name)
    return len(expired)


def _quarantined_lines(conn: Connection, older_than: dt.date) -> int:
    return conn.execute(delete(schema.quarantine).where(schema.quarantine.c.file_date < older_than)).rowcount


def _message_bodies(conn: Connection, older_than: dt.date, outbox: Path | None) -> tuple[int, int]:
    """(message bodies cleared, outbox e-mails removed) of the runs before `older_than`."""
    m, runs = schema.messages.c, schema.campaign_runs.c
    old_runs = select(runs.run_key).where(runs.run_day < older_than)
    kept_body = (m.body_text.is_not(None)) | (m.body_html.is_not(None)) | (m.subject.is_not(None))
    expiring = m.run_key.in_(old_runs) & kept_body
    message_ids = [mid for (mid,) in conn.execute(select(m.message_id).where(expiring, m.message_id.is_not(None)))]
    cleared = conn.execute(update(schema.messages).where(expiring).values(subject=None, body_text=None, body_html=None)).rowcount
    mails = 0
    if outbox is not None and outbox.is_dir() and message_ids:
        suffixes = {f"-{file_safe(mid)}.eml" for mid in message_ids}
        for path in outbox.glob("*.eml"):
            if any(path.name.endswith(suffix) for suffix in suffixes):
                path.unlink()
                mails += 1
    return cleared, mails


def _events(conn: Connection, older_than: dt.date) -> int:
    e = schema.engagement_events.c
    return conn.execute(delete(schema.engagement_events).where(e.occurred_at < dt.datetime.combine(older_than, dt.time()))).rowcount


def _log_files(folder: Path | None, older_than: dt.datetime) -> int:
    """Log files last written before `older_than`, then the folders they leave empty."""
    if folder is None or not folder.is_dir():
        return 0
    removed = 0
    for path in folder.rglob("*"):
        if path.is_file() and dt.datetime.fromtimestamp(path.stat().st_mtime, dt.timezone.utc) < older_than:
            path.unlink()
            removed += 1
    for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    return removed


def _record(conn: Connection, day: dt.date, removed: list[Removed], now: dt.datetime) -> None:
    """Add the counts to the day's report rows (a re-run adds zeros: the rows stay the same)."""
    r = schema.retention_runs
    for item in removed:
        before = conn.execute(select(r.c.removed).where(r.c.run_day == day, r.c.target == item.target)).scalar()
        if before is None:
            conn.execute(r.insert().values(run_day=day, target=item.target, older_than=item.older_than,
                                           removed=item.count, enforced_at=now))
        elif item.count:
            conn.execute(update(r).where(r.c.run_day == day, r.c.target == item.target)
                         .values(removed=before + item.count, older_than=item.older_than))


def enforce_retention(
    engine: Engine, day: dt.date, settings: RetentionSettings, landing: Landing, *,
    outbox: Path | None = None, logs: Path | None = None, now: dt.datetime | None = None,
) -> list[Removed]:
    """Remove what is past its retention as of the ingested day `day`; returns and records the counts."""
    now = now or dt.datetime.now(dt.timezone.utc)
    landing_cut = day - dt.timedelta(days=settings.landing_days)
    messages_cut = day - dt.timedelta(days=settings.messages_days)
    events_cut = day - dt.timedelta(days=settings.events_days)
    logs_cut = now - dt.timedelta(days=settings.logs_days)
    with engine.begin() as conn:
        quarantined = _quarantined_lines(conn, landing_cut)
        bodies, mails = _message_bodies(conn, messages_cut, outbox)
        events = _events(conn, events_cut)
        removed = [
            Removed("landing files", landing_cut, _landing_files(landing, landing_cut)),
            Removed("quarantined lines", landing_cut, quarantined),
            Removed("message bodies", messages_cut, bodies),
            Removed("outbox e-mails", messages_cut, mails),
            Removed("engagement events", events_cut, events),
            Removed("log files", logs_cut.date(), _log_files(logs, logs_cut)),
        ]
        _record(conn, day, removed, now.replace(tzinfo=None))
    for item in removed:
        log.info("retention as of %s: %-18s dated before %s: %d removed", day, item.target, item.older_than, item.count)
    return removed
