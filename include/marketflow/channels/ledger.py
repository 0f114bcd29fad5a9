"""Exactly-once e-mail sending through the `messages` ledger (one row per run, customer, channel).

Each message goes `rendered` -> `sending` (committed *before* the SMTP transaction, with its
pre-generated Message-ID) -> `sent` (committed after the server's 250). Claiming is a conditional
update (`WHERE status = 'rendered'`), so two workers running the same task never both send a row.

A row can be left in doubt: found in `sending` when a send starts, claimed by a process that is
gone (the claim names its worker, `claimed_by`: on the same machine a dead claimer is certain at
once) or claimed longer than `stale_claim_s` ago (a claimer elsewhere cannot be checked; a younger
claim may belong to a worker still running), or marked `unknown` when the connection broke during
DATA. Such a row is never resent blindly:
1. evidence first: a delivered/open/click/unsubscribe event for its Message-ID (webhook or file
   drops, or the SMTP server's delivery log) makes it `sent`; a bounce makes it `bounced`;
2. no evidence, and the SMTP connection names an *authoritative* delivery log (one written
   before the server answers 250, like `marketflow channels smtp-sink`): the server never took
   it, so it goes back to `rendered` and is sent with the same Message-ID;
3. otherwise it stays `unknown`: counted in the task log and the report, and resolved by a person
   with `marketflow campaigns resolve-unknown RUN_KEY --resend|--mark-sent` (a resend keeps the
   Message-ID, so receivers that de-duplicate on it drop a second copy).
A retry, a crash mid-batch or a cleared task therefore never sends a row twice and never drops
one silently. Customers suppressed or opted out between rendering and sending are cancelled.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from email.message import EmailMessage
from pathlib import Path
from typing import Literal

from sqlalchemy import Connection, Engine, Row, and_, func, select, update

from marketflow.campaigns.config import EmailChannel
from marketflow.campaigns.sqlutil import as_date, chunks, insert_ignoring_duplicates
from marketflow.channels.events import ingest_drop_folder, read_drop_file, record_events
from marketflow.channels.identifiers import unsubscribe_url
from marketflow.channels.smtp import Outcome, SmtpTransport, build_email
from marketflow.warehouse.schema import consent_events, engagement_events, messages, suppressions

IN_DOUBT = ("sending", "unknown")
EVIDENCE_OF_DELIVERY = ("delivered", "open", "click", "unsubscribe", "complaint")


@dataclass
class SendSummary:
    """Counts of one send pass, for the task log and XCom."""

    sent: int = 0
    bounced: int = 0
    failed: int = 0
    cancelled: int = 0
    in_doubt: int = 0
    still_pending: int = 0
    claimed_elsewhere: int = 0
    retries: int = 0
    reconciled: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class SendPolicy:
    """Rate and retry settings (exponential backoff on transient 4xx and connection errors)."""

    rate_per_second: float | None = 20.0
    max_attempts: int = 4
    backoff_s: float = 1.0
    #: A row claimed longer ago than this by a worker that has not confirmed it is in doubt; a
    #: younger claim may belong to a worker still sending (Airflow can run a task twice at once),
    #: unless its claimer ran on this machine and is gone. `SendSettings.claim_timeout_s` in a DAG.
    stale_claim_s: float = 300.0


class RatePacer:
    """Spaces SMTP transactions to at most `rate` per second."""

    def __init__(self, rate: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self.clock = clock
        self.next_at = 0.0

    def wait(self) -> None:
        if not self.interval:
            return
        now = self.clock()
        if now < self.next_at:
            time.sleep(self.next_at - now)
            now = self.next_at
        self.next_at = now + self.interval


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def _pk(run_key: str, customer_id: str) -> object:
    return and_(messages.c.run_key == run_key, messages.c.customer_id == customer_id, messages.c.channel == "email")


@lru_cache(maxsize=4)
def _identity(pid: int) -> str:
    import psutil

    return f"{socket.gethostname()}:{pid}:{psutil.Process(pid).create_time():.2f}"


def worker_identity() -> str:
    """This process as a claimer, `host:pid:start time` (a pid is reused, with a later start time)."""
    return _identity(os.getpid())


def claimer_is_gone(claimed_by: str | None) -> bool:
    """Whether the process that claimed a message provably no longer runs: it ran on this machine
    and its pid is free, a zombie or a later process's. A claimer elsewhere cannot be checked (False)."""
    import psutil

    try:
        host, pid, started = (claimed_by or "").rsplit(":", 2)
        if host != socket.gethostname():
            return False
        process = psutil.Process(int(pid))
        return process.status() == psutil.STATUS_ZOMBIE or abs(process.create_time() - float(started)) > 0.05
    except psutil.NoSuchProcess:
        return True
    except (ValueError, psutil.Error):  # not a claim we wrote, or a process we may not inspect
        return False


def reconcile_in_doubt(
    engine: Engine, run_key: str, delivery_log: Path | None = None, stale_claim_s: float = 300.0
) -> dict[str, int]:
    """Resolve `unknown` rows, and `sending` rows whose claimer is gone or claimed more than
    `stale_claim_s` ago (see the module docstring); returns counts per outcome. Live claims are
    left to their worker."""
    if delivery_log is not None and delivery_log.exists():
        record_events(engine, read_drop_file(delivery_log), str(delivery_log))
    counts = {"sent": 0, "bounced": 0, "requeued": 0, "unknown": 0}
    cutoff = _now() - dt.timedelta(seconds=stale_claim_s)
    m = messages.c
    with engine.begin() as conn:
        claims = conn.execute(
            select(m.customer_id, m.message_id, m.status, m.attempted_at, m.claimed_by).where(
                m.run_key == run_key, m.channel == "email", m.status.in_(IN_DOUBT)
            )
        ).all()
        doubtful = [
            row for row in claims
            if row.status == "unknown" or row.attempted_at is None or row.attempted_at <= cutoff
            or claimer_is_gone(row.claimed_by)
        ]
        evidence = _evidence(conn, [row.message_id for row in doubtful])
        for row in doubtful:
            seen = evidence.get(row.message_id, set())
            if "bounce" in seen:
                status, error = "bounced", "resolved in doubt: bounce reported"
            elif seen & set(EVIDENCE_OF_DELIVERY):
                status, error = "sent", None
            elif delivery_log is not None:
                status, error = "rendered", "requeued: the authoritative delivery log never saw it"
            else:
                status, error = "unknown", "in doubt: no delivery evidence; resolve with `marketflow campaigns resolve-unknown`"
            unchanged = and_(m.status == row.status, m.claimed_by.is_not_distinct_from(row.claimed_by))
            conn.execute(update(messages).where(_pk(run_key, row.customer_id), unchanged).values(status=status, error=error))
            counts["requeued" if status == "rendered" else status] += 1
    return {k: v for k, v in counts.items() if v}


def _evidence(conn: Connection, message_ids: list[str]) -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for chunk in chunks(message_ids):
        stmt = select(engagement_events.c.message_id, engagement_events.c.event_type).where(
            engagement_events.c.message_id.in_(chunk)
        )
        for message_id, kind in conn.execute(stmt):
            found.setdefault(message_id, set()).add(kind)
    return found


def _suppressed_now(engine: Engine, customer_ids: list[str]) -> dict[str, str]:
    """Customers who must not get an e-mail any more: on the suppression list, or whose latest
    consent event (of any date: the newest word counts at send time) is an opt-out."""
    found: dict[str, str] = {}
    latest: dict[str, tuple[dt.date, bool]] = {}
    with engine.connect() as conn:
        for chunk in chunks(customer_ids):
            stmt = select(suppressions.c.customer_id, suppressions.c.reason).where(suppressions.c.customer_id.in_(chunk))
            found.update(dict(conn.execute(stmt).all()))
            consent = select(consent_events.c.customer_id, consent_events.c.effective_date, consent_events.c.marketing_consent)
            for customer_id, effective, given in conn.execute(consent.where(consent_events.c.customer_id.in_(chunk))):
                if customer_id not in latest or as_date(effective) > latest[customer_id][0]:
                    latest[customer_id] = (as_date(effective), bool(given))
    for customer_id, (_, given) in latest.items():
        if not given:
            found.setdefault(customer_id, "opted out")
    return found


def _claim(engine: Engine, run_key: str, customer_id: str) -> bool:
    with engine.begin() as conn:
        result = conn.execute(
            update(messages)
            .where(_pk(run_key, customer_id), messages.c.status == "rendered")
            .values(status="sending", error=None, attempted_at=_now(), claimed_by=worker_identity())
        )
    return result.rowcount == 1


def _send_with_retries(
    transport: SmtpTransport, message: EmailMessage, sender: str, recipient: str, policy: SendPolicy
) -> tuple[Outcome, int]:
    outcome = Outcome("transient", None, "not attempted")
    for attempt in range(1, policy.max_attempts + 1):
        outcome = transport.send(message, sender, recipient)
        if outcome.kind != "transient":
            return outcome, attempt
        if attempt < policy.max_attempts:
            time.sleep(policy.backoff_s * 2 ** (attempt - 1))
    return outcome, policy.max_attempts


def _record(engine: Engine, run_key: str, row: Row, outcome: Outcome, tries: int) -> str:
    """Write the outcome of one claimed message; returns its new status."""
    customer_id = row.customer_id
    detail = f"{outcome.code or ''} {outcome.detail}".strip()[:2000]
    status, values = {
        "accepted": ("sent", {"sent_at": _now(), "error": None}),
        "recipient_rejected": ("bounced", {"error": detail}),
        "rejected": ("failed", {"error": detail}),
        "in_doubt": ("unknown", {"error": f"in doubt: {detail}"}),
        "transient": ("rendered", {"error": f"gave up for now after {tries} tries: {detail}"}),
    }[outcome.kind]
    with engine.begin() as conn:
        conn.execute(
            update(messages)
            .where(_pk(run_key, customer_id), messages.c.status.in_(IN_DOUBT))
            .values(status=status, attempts=messages.c.attempts + tries, **values)
        )
        if status == "bounced":
            _record_bounce(conn, customer_id, row.message_id, detail)
    return status


def _record_bounce(conn: Connection, customer_id: str, message_id: str, detail: str) -> None:
    now = _now()
    insert_ignoring_duplicates(
        conn,
        engagement_events,
        [
            {
                "event_id": f"smtp:{message_id}:bounce"[:128],
                "message_id": message_id,
                "customer_id": customer_id,
                "event_type": "bounce",
                "occurred_at": now,
                "source": f"smtp: {detail}"[:512],
            }
        ],
    )
    insert_ignoring_duplicates(
        conn, suppressions, [{"customer_id": customer_id, "reason": "bounce", "since": now, "source": "smtp"}]
    )


def _pending(engine: Engine, run_key: str) -> list[Row]:
    cols = messages.c
    stmt = (
        select(cols.customer_id, cols.message_id, cols.recipient, cols.subject, cols.body_text, cols.body_html)
        .where(cols.run_key == run_key, cols.channel == "email", cols.status == "rendered")
        .order_by(cols.customer_id)
    )
    with engine.connect() as conn:
        return list(conn.execute(stmt).all())


def _cancel(engine: Engine, run_key: str, customer_id: str, why: str, status: str = "cancelled") -> None:
    """Settle a rendered message that must not be sent (it never reached a server)."""
    with engine.begin() as conn:
        conn.execute(
            update(messages)
            .where(_pk(run_key, customer_id), messages.c.status == "rendered")
            .values(status=status, error=why[:2000])
        )


def _email_for(row: Row, channel: EmailChannel, run_key: str) -> EmailMessage:
    """The e-mail exactly as stored in the ledger."""
    return build_email(
        from_address=channel.from_address,
        from_name=channel.from_name,
        to=row.recipient,
        subject=row.subject,
        body_text=row.body_text,
        body_html=row.body_html,
        message_id=row.message_id,
        unsubscribe_url=unsubscribe_url(channel.unsubscribe_url, row.message_id),
        unsubscribe_mailto=channel.unsubscribe_mailto,
        reply_to=channel.reply_to,
        campaign_run=run_key,
    )


def _send_rows(
    engine: Engine,
    run_key: str,
    rows: list[Row],
    channel: EmailChannel,
    transport: SmtpTransport,
    policy: SendPolicy,
    pacer: RatePacer,
    summary: SendSummary,
) -> None:
    suppressed = _suppressed_now(engine, [row.customer_id for row in rows])
    for row in rows:
        if row.customer_id in suppressed:
            _cancel(engine, run_key, row.customer_id, f"suppressed since rendering: {suppressed[row.customer_id]}")
            summary.cancelled += 1
            continue
        try:
            message = _email_for(row, channel, run_key)
        except ValueError as exc:  # e.g. a line break in a header: never reaches the server
            _cancel(engine, run_key, row.customer_id, f"cannot build the e-mail: {exc}", status="failed")
            summary.failed += 1
            continue
        if not _claim(engine, run_key, row.customer_id):
            continue  # another worker has it
        pacer.wait()
        outcome, tries = _send_with_retries(transport, message, channel.from_address, row.recipient, policy)
        summary.retries += tries - 1
        status = _record(engine, run_key, row, outcome, tries)
        if status in ("sent", "bounced", "failed"):
            setattr(summary, status, getattr(summary, status) + 1)


def send_pending(
    engine: Engine,
    run_key: str,
    channel: EmailChannel,
    transport: SmtpTransport,
    policy: SendPolicy,
    *,
    delivery_log: Path | None = None,
    events_drop: Path | None = None,
) -> SendSummary:
    """Reconcile rows in doubt, then send every `rendered` e-mail of the run once.

    With an authoritative `delivery_log` a second pass re-sends what a broken connection left in
    doubt and the log proves undelivered; `events_drop` (webhook/file drops) is ingested first so
    its delivery and bounce evidence counts.
    """
    summary = SendSummary()
    if events_drop is not None and events_drop.is_dir():
        ingest_drop_folder(engine, events_drop)
    pacer = RatePacer(policy.rate_per_second)
    for _ in range(2 if delivery_log is not None else 1):
        for outcome, n in reconcile_in_doubt(engine, run_key, delivery_log, policy.stale_claim_s).items():
            summary.reconciled[outcome] = summary.reconciled.get(outcome, 0) + n
        rows = _pending(engine, run_key)
        if not rows:
            break
        _send_rows(engine, run_key, rows, channel, transport, policy, pacer, summary)
    summary.in_doubt = _count(engine, run_key, "unknown")
    summary.still_pending = _count(engine, run_key, "rendered")
    summary.claimed_elsewhere = _count(engine, run_key, "sending")
    return summary


def _count(engine: Engine, run_key: str, status: str) -> int:
    with engine.connect() as conn:
        return conn.execute(
            select(func.count()).where(
                messages.c.run_key == run_key, messages.c.channel == "email", messages.c.status == status
            )
        ).scalar_one()


def resolve_unknown(
    engine: Engine, run_key: str, action: Literal["resend", "mark_sent"], stale_claim_s: float = 300.0
) -> ResolveOutcome:
    """A person's decision on the run's messages in doubt: first every abandoned claim is settled as
    a send would (`reconcile_in_doubt`: evidence, else `unknown`), then the `unknown` rows are
    `resend` (back to rendered, same Message-ID) or `mark_sent`. Live claims are left alone."""
    reconciled = reconcile_in_doubt(engine, run_key, None, stale_claim_s)
    values = {
        "resend": {"status": "rendered", "error": "resend decided by an operator"},
        "mark_sent": {"status": "sent", "error": "marked sent by an operator"},
    }[action]
    with engine.begin() as conn:
        result = conn.execute(
            update(messages).where(messages.c.run_key == run_key, messages.c.status == "unknown").values(**values)
        )
    return ResolveOutcome(result.rowcount, reconciled, _count(engine, run_key, "sending"))


@dataclass(frozen=True)
class ResolveOutcome:
    """What `resolve_unknown` did: rows decided, claims settled by evidence first, live claims left."""

    decided: int
    reconciled: dict[str, int]
    still_claimed: int
