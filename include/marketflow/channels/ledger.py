"""Exactly-once e-mail sending through the `messages` ledger (one row per run, customer, channel).

Each message goes `rendered` -> `sending` (committed *before* its SMTP transaction, with its
pre-generated Message-ID) -> `sent` (committed after the server's 250). Messages are claimed in
batches of `SendPolicy.batch_size` (`MARKETFLOW_SEND_BATCH_SIZE`, default 10) over one warehouse
connection: one commit confirms the outcomes of a batch and claims the next (re-reading
suppressions and consent for it), so a send costs about one commit per batch instead of two per
message. Claiming is a conditional update (`WHERE status = 'rendered'`), so two workers running
the same task never both send a row. An exception (a task timeout, a lost database) confirms the
outcomes already known and puts the claimed messages not yet attempted back to `rendered`; only
a worker killed outright (SIGKILL, a lost machine) leaves its whole batch, up to `batch_size`
messages, in `sending`, to be settled as below.

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
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from functools import lru_cache
from pathlib import Path
from typing import Literal

from sqlalchemy import (
    ColumnElement, Connection, Engine, Row, Update, and_, bindparam, case, func, null, select, union_all, update,
)

from marketflow.campaigns.config import EmailChannel
from marketflow.campaigns.sqlutil import as_date, chunks, insert_ignoring_duplicates
from marketflow.channels.events import ingest_drop_folder, read_drop_file, record_events
from marketflow.channels.identifiers import unsubscribe_url
from marketflow.channels.settings import DEFAULT_BATCH_SIZE, MAX_BATCH_SIZE
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
    """Rate, retry and batch settings (exponential backoff on transient 4xx and connection errors)."""

    rate_per_second: float | None = 20.0
    max_attempts: int = 4
    backoff_s: float = 1.0
    #: A row claimed longer ago than this by a worker that has not confirmed it is in doubt; a
    #: younger claim may belong to a worker still sending (Airflow can run a task twice at once),
    #: unless its claimer ran on this machine and is gone. `SendSettings.claim_timeout_s` in a DAG.
    stale_claim_s: float = 300.0
    #: Messages claimed per commit (`SendSettings.batch_size`): a SIGKILL leaves at most this many in doubt.
    batch_size: int = DEFAULT_BATCH_SIZE

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, not {self.batch_size}")


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


def _suppressed_now(conn: Connection, customer_ids: list[str]) -> dict[str, str]:
    """Customers who must not get an e-mail any more: on the suppression list, or whose latest
    consent event (of any date: the newest word counts at send time) is an opt-out. One query
    for both tables (a batch's round trips are what a send pays for)."""
    found: dict[str, str] = {}
    latest: dict[str, tuple[dt.date, bool]] = {}
    s, c = suppressions.c, consent_events.c
    for chunk in chunks(customer_ids):
        both = union_all(
            select(s.customer_id, s.reason, null().label("effective_date"), null().label("given")).where(s.customer_id.in_(chunk)),
            select(c.customer_id, null(), c.effective_date, c.marketing_consent).where(c.customer_id.in_(chunk)),
        )
        for customer_id, reason, effective, given in conn.execute(both):
            if reason is not None:  # a suppression (its reason is never empty)
                found[customer_id] = reason
            elif customer_id not in latest or as_date(effective) > latest[customer_id][0]:
                latest[customer_id] = (as_date(effective), bool(given))
    for customer_id, (_, given) in latest.items():
        if not given:
            found.setdefault(customer_id, "opted out")
    return found


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


@dataclass(frozen=True)
class _Attempt:
    """A claimed message's SMTP outcome, held in memory until the next commit confirms it."""

    row: Row
    outcome: Outcome
    tries: int
    at: dt.datetime


_NEW_STATUS = {
    "accepted": "sent",
    "recipient_rejected": "bounced",
    "rejected": "failed",
    "in_doubt": "unknown",
    "transient": "rendered",
}

_SETTLE_UNSENT = (
    update(messages)
    .where(
        messages.c.run_key == bindparam("b_run_key"),
        messages.c.customer_id == bindparam("b_customer_id"),
        messages.c.channel == "email",
        messages.c.status == "rendered",
    )
    .values(status=bindparam("b_status"), error=bindparam("b_error"))
)


# The rows of one batch: `customer_id IN (...)` plus the batch's first and last id as a range, the
# ids in the warehouse's own order (a slice of `_pending`). The range is an index condition whatever
# the statistics say; PostgreSQL may plan a bare `IN` on a fresh run as a scan of all its rows.
_IN_BATCH = and_(
    messages.c.run_key == bindparam("b_run_key"),
    messages.c.channel == "email",
    messages.c.customer_id.between(bindparam("b_first"), bindparam("b_last")),
    messages.c.customer_id.in_(bindparam("b_ids", expanding=True)),
)


def _in_batch(run_key: str, customer_ids: list[str]) -> dict[str, object]:
    return {"b_run_key": run_key, "b_first": customer_ids[0], "b_last": customer_ids[-1], "b_ids": customer_ids}


_CLAIM = (
    update(messages)
    .where(_IN_BATCH, messages.c.status == "rendered")
    .values(status="sending", error=None, attempted_at=bindparam("b_now"), claimed_by=bindparam("b_identity"))
    .returning(messages.c.customer_id)
)

_RELEASE = (
    update(messages)
    .where(_IN_BATCH, messages.c.status == "sending", messages.c.claimed_by == bindparam("b_identity"))
    .values(status="rendered")
)


@lru_cache(maxsize=MAX_BATCH_SIZE)
def _confirm_statement(n: int) -> Update:
    """The outcomes of `n` messages in one statement, a `CASE` per column (psycopg2 runs an
    executemany as one round trip per row); built once per batch length, values bound per row."""
    m = messages.c

    def per_row(name: str, column: ColumnElement, otherwise: object) -> ColumnElement:
        whens = [(m.customer_id == bindparam(f"b_id{i}"), bindparam(f"b_{name}{i}", type_=column.type)) for i in range(n)]
        return case(*whens, else_=otherwise)  # never taken (the rows are the batch's); it types the NULLs

    return (
        update(messages)
        .where(_IN_BATCH, m.status.in_(IN_DOUBT))
        .values(status=per_row("status", m.status, m.status), error=per_row("error", m.error, m.error),
                sent_at=per_row("sent_at", m.sent_at, m.sent_at), attempts=m.attempts + per_row("tries", m.attempts, 0))
    )


def _confirm(conn: Connection, run_key: str, attempts: list[_Attempt]) -> None:
    """Write the outcomes of claimed messages (in the caller's transaction)."""
    if not attempts:
        return
    params = _in_batch(run_key, [a.row.customer_id for a in attempts])
    bounces = []
    for i, a in enumerate(attempts):
        status = _NEW_STATUS[a.outcome.kind]
        detail = f"{a.outcome.code or ''} {a.outcome.detail}".strip()[:2000]
        error = {
            "sent": None,
            "unknown": f"in doubt: {detail}",
            "rendered": f"gave up for now after {a.tries} tries: {detail}",
        }.get(status, detail)
        params.update({f"b_id{i}": a.row.customer_id, f"b_status{i}": status, f"b_error{i}": error,
                       f"b_sent_at{i}": a.at if status == "sent" else None, f"b_tries{i}": a.tries})
        if status == "bounced":
            bounces.append((a, detail))
    conn.execute(_confirm_statement(len(attempts)), params)
    if bounces:
        _record_bounces(conn, bounces)


def _record_bounces(conn: Connection, bounces: list[tuple[_Attempt, str]]) -> None:
    insert_ignoring_duplicates(conn, engagement_events, [
        {"event_id": f"smtp:{a.row.message_id}:bounce"[:128], "message_id": a.row.message_id,
         "customer_id": a.row.customer_id, "event_type": "bounce", "occurred_at": a.at, "source": f"smtp: {detail}"[:512]}
        for a, detail in bounces
    ])
    insert_ignoring_duplicates(conn, suppressions, [
        {"customer_id": a.row.customer_id, "reason": "bounce", "since": a.at, "source": "smtp"} for a, _ in bounces
    ])


def _pending(engine: Engine, run_key: str) -> list[Row]:
    cols = messages.c
    stmt = (
        select(cols.customer_id, cols.message_id, cols.recipient, cols.subject, cols.body_text, cols.body_html)
        .where(cols.run_key == run_key, cols.channel == "email", cols.status == "rendered")
        .order_by(cols.customer_id)
    )
    with engine.connect() as conn:
        return list(conn.execute(stmt).all())


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


def _claim_batch(
    conn: Connection, run_key: str, built: list[tuple[Row, EmailMessage | str]], identity: str, summary: SendSummary
) -> list[tuple[Row, EmailMessage]]:
    """In the caller's transaction: cancel the batch's messages that must not go out (suppressed or
    opted out since rendering, or not buildable), claim the rest; returns the claimed ones in order
    (a message another worker claimed first is skipped)."""
    suppressed = _suppressed_now(conn, [row.customer_id for row, _ in built])
    unsent, claimable = [], []
    for row, message in built:
        if row.customer_id in suppressed:
            unsent.append((row, "cancelled", f"suppressed since rendering: {suppressed[row.customer_id]}"))
        elif isinstance(message, str):  # e.g. a line break in a header: never reaches the server
            unsent.append((row, "failed", f"cannot build the e-mail: {message}"))
        else:
            claimable.append((row, message))
    if unsent:
        conn.execute(_SETTLE_UNSENT, [
            {"b_run_key": run_key, "b_customer_id": row.customer_id, "b_status": status, "b_error": why[:2000]}
            for row, status, why in unsent
        ])
        summary.cancelled += sum(status == "cancelled" for _, status, _ in unsent)
        summary.failed += sum(status == "failed" for _, status, _ in unsent)
    if not claimable:
        return []
    params = _in_batch(run_key, [row.customer_id for row, _ in claimable])
    claimed = set(conn.execute(_CLAIM, {**params, "b_now": _now(), "b_identity": identity}).scalars())
    return [(row, message) for row, message in claimable if row.customer_id in claimed]


def _build(row: Row, channel: EmailChannel, run_key: str) -> EmailMessage | str:
    """The message, or why it cannot be built."""
    try:
        return _email_for(row, channel, run_key)
    except ValueError as exc:
        return str(exc)


def _send_rows(
    conn: Connection,
    run_key: str,
    rows: list[Row],
    channel: EmailChannel,
    transport: SmtpTransport,
    policy: SendPolicy,
    pacer: RatePacer,
    summary: SendSummary,
) -> None:
    identity = worker_identity()
    done: list[_Attempt] = []  # sent (or refused) but not yet confirmed
    waiting: deque[str] = deque()  # claimed, not yet attempted
    try:
        for start in range(0, len(rows), policy.batch_size):
            built = [(row, _build(row, channel, run_key)) for row in rows[start : start + policy.batch_size]]
            with conn.begin():
                _confirm(conn, run_key, done)
                claimed = _claim_batch(conn, run_key, built, identity, summary)
            done = []
            waiting.extend(row.customer_id for row, _ in claimed)
            for row, message in claimed:
                pacer.wait()
                waiting.popleft()
                outcome, tries = _send_with_retries(transport, message, channel.from_address, row.recipient, policy)
                done.append(_Attempt(row, outcome, tries, _now()))
                summary.retries += tries - 1
                status = _NEW_STATUS[outcome.kind]
                if status in ("sent", "bounced", "failed"):
                    setattr(summary, status, getattr(summary, status) + 1)
    finally:  # also on an exception: confirm what is known, release what was never attempted
        if done or waiting:
            with conn.begin():
                _confirm(conn, run_key, done)
                _release(conn, run_key, list(waiting), identity)


def _release(conn: Connection, run_key: str, customer_ids: list[str], identity: str) -> None:
    """Put claimed messages that were never attempted back in the queue (they reached no server)."""
    if customer_ids:
        conn.execute(_RELEASE, {**_in_batch(run_key, customer_ids), "b_identity": identity})


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
        with engine.connect() as conn:  # one connection for the pass: no checkout (or ping) per commit
            _send_rows(conn, run_key, rows, channel, transport, policy, pacer, summary)
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
