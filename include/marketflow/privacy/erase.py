"""Erase one person on request: every row and file we hold about them, then a ledger entry.

In the warehouse (one transaction): their orders stay, for the shop's revenue figures, but lose the
customer id (as a guest checkout's lines have none); their customer, contact, consent, profile,
recommendation, score, audience, message, engagement and suppression rows are deleted, and so are
quarantined export lines that carry their id or address. Then the files: their hashed address is
taken out of every ad-audience file, their e-mails and delivery-log lines out of a local outbox,
and their row out of every recommender artifact that lists customers. The ledger (`erasures`) keeps
keyed pseudonyms only (`marketflow.privacy.pseudonyms`), when, who asked and what was removed, so
ingest can keep them forgotten when an old export is loaded again.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fsspec
from sqlalchemy import Connection, Engine, delete, false, insert, or_, select, update

from marketflow.channels.ads import NORMALISERS, hashed_email
from marketflow.privacy.pseudonyms import normalise_email, pseudonym
from marketflow.warehouse import schema

log = logging.getLogger(__name__)

#: Tables whose rows are the person's, deleted whole (their `customer_id` column names them).
PERSONAL_TABLES = (
    schema.customers,
    schema.customer_contacts,
    schema.consent_events,
    schema.customer_profiles,
    schema.customer_profiles_staging,
    schema.recommendations,
    schema.audience_scores,
    schema.audience_members,
    schema.suppressions,
)


@dataclass
class ErasureReport:
    """What one erasure removed (`removed`: table or file kind -> rows), or that it was done before."""

    customer_pseudonym: str
    removed: dict[str, int] = field(default_factory=dict)
    already_erased: bool = False

    def lines(self) -> list[str]:
        if self.already_erased:
            return [f"already erased (ledger entry {self.customer_pseudonym[:16]}…); nothing left to remove"]
        return [f"{what:<36} {count:>7,}" for what, count in self.removed.items()]


def addresses(conn: Connection, customer_id: str) -> set[str]:
    """Every address we hold for the person: contact, consent history, messages' recipients."""
    found: set[str] = set()
    for column, key in (
        (schema.customer_contacts.c.email, schema.customer_contacts.c.customer_id),
        (schema.consent_events.c.email, schema.consent_events.c.customer_id),
        (schema.messages.c.recipient, schema.messages.c.customer_id),
    ):
        found.update(e for (e,) in conn.execute(select(column).where(key == customer_id).distinct()) if e)
    return found


def names_the_person(raw_line: str, customer_id: str, emails: set[str]) -> bool:
    """A quarantined line names them when one of its fields is their id (`17850` or `17850.0`) or it
    contains one of their addresses."""
    lowered = raw_line.lower()
    if any(normalise_email(email) in lowered for email in emails):
        return True
    fields = next(csv.reader([raw_line]), [])
    return any(value.strip() in (customer_id, f"{customer_id}.0") for value in fields)


def their_events(conn: Connection, customer_id: str) -> Any:
    """Where-clause for the person's engagement events: by customer id or by their messages' ids."""
    events = schema.engagement_events.c
    message_ids = [m for (m,) in conn.execute(
        select(schema.messages.c.message_id).where(schema.messages.c.customer_id == customer_id)) if m]
    return or_(events.customer_id == customer_id, events.message_id.in_(message_ids) if message_ids else false())


def their_quarantined_lines(conn: Connection, customer_id: str, emails: set[str]) -> list[Any]:
    """Quarantine rows whose raw line names the person (narrowed in SQL, decided field by field)."""
    q = schema.quarantine.c
    patterns = [q.raw_line.contains(customer_id), *(q.raw_line.ilike(f"%{email}%") for email in emails)]
    return [row for row in conn.execute(select(schema.quarantine).where(or_(*patterns))).mappings()
            if names_the_person(row["raw_line"], customer_id, emails)]


def _erase_rows(conn: Connection, customer_id: str, emails: set[str]) -> dict[str, int]:
    removed: dict[str, int] = {}
    removed["engagement_events"] = conn.execute(
        delete(schema.engagement_events).where(their_events(conn, customer_id))).rowcount
    removed["messages"] = conn.execute(
        delete(schema.messages).where(schema.messages.c.customer_id == customer_id)).rowcount
    for table in PERSONAL_TABLES:
        removed[table.name] = conn.execute(delete(table).where(table.c.customer_id == customer_id)).rowcount
    removed["orders (kept, unlinked)"] = conn.execute(
        update(schema.orders).where(schema.orders.c.customer_id == customer_id).values(customer_id=None)).rowcount
    q = schema.quarantine
    quarantined = their_quarantined_lines(conn, customer_id, emails)
    for row in quarantined:
        conn.execute(delete(q).where(q.c.file_date == row["file_date"], q.c.file_kind == row["file_kind"],
                                     q.c.source_line == row["source_line"]))
    removed["quarantine"] = len(quarantined)
    return removed


def _erase_from_ad_files(conn: Connection, emails: set[str]) -> int:
    """Take their hashed address out of every ad-audience file; the export rows keep the new counts."""
    exports = schema.ad_audience_exports
    removed = 0
    for row in conn.execute(select(exports)).mappings().all():
        platform = row["platform"]
        if platform not in NORMALISERS:
            continue
        theirs = {hashed_email(email, platform) for email in emails}
        with fsspec.open(row["artifact_uri"], "r", encoding="utf-8", newline="") as handle:
            lines = list(csv.reader(handle))
        kept = [line for line in lines if not (line and line[0] in theirs)]
        if len(kept) == len(lines):
            continue
        buffer = io.StringIO()
        csv.writer(buffer).writerows(kept)
        with fsspec.open(row["artifact_uri"], "w", encoding="utf-8", newline="") as handle:
            handle.write(buffer.getvalue())
        removed += len(lines) - len(kept)
        conn.execute(update(exports).where(exports.c.run_key == row["run_key"], exports.c.platform == platform)
                     .values(rows=row["rows"] - (len(lines) - len(kept))))
    return removed


def _erase_from_outbox(outbox: Path, emails: set[str]) -> tuple[int, int]:
    """(e-mails, delivery-log lines) of a local outbox (`marketflow.channels.sink`) addressed to them."""
    needles = {normalise_email(email).encode("utf-8") for email in emails}
    mails = 0
    for path in outbox.glob("*.eml"):
        if any(needle in path.read_bytes().lower() for needle in needles):
            path.unlink()
            mails += 1
    log_lines = 0
    delivery_log = outbox / "delivery-log.jsonl"
    if delivery_log.is_file():
        lines = delivery_log.read_text(encoding="utf-8").splitlines()
        kept = [line for line in lines if not _addressed_to(line, emails)]
        log_lines = len(lines) - len(kept)
        if log_lines:
            tmp = delivery_log.with_suffix(".tmp")
            tmp.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")
            os.replace(tmp, delivery_log)
    return mails, log_lines


def _addressed_to(line: str, emails: set[str]) -> bool:
    try:
        recipients = json.loads(line).get("recipients") or []
    except (ValueError, AttributeError):
        return False
    wanted = {normalise_email(email) for email in emails}
    return any(normalise_email(str(r)) in wanted for r in recipients)


def _erase_from_models(conn: Connection, customer_id: str) -> int:
    """Drop their row from every recommender artifact whose components list customers (`user_ids`
    with a matching `user_*` tensor): artifacts are tensors and lists only, loaded without pickle."""
    import torch

    registry = schema.model_registry.c
    uris = [u for (u,) in conn.execute(select(registry.artifact_uri).where(
        registry.model_kind == "recommender", registry.artifact_uri.is_not(None)))]
    changed = 0
    for uri in uris:
        try:
            with fsspec.open(uri, "rb") as handle:
                payload: dict[str, Any] = torch.load(handle, weights_only=True, map_location="cpu")
        except FileNotFoundError:
            continue
        touched = False
        for state in payload.get("components", {}).values():
            users = state.get("user_ids") if isinstance(state, dict) else None
            if not users or customer_id not in users:
                continue
            keep = [i for i, user in enumerate(users) if user != customer_id]
            for key, value in list(state.items()):
                if key.startswith("user_") and isinstance(value, torch.Tensor) and value.shape[:1] == (len(users),):
                    state[key] = value[keep].clone()
            state["user_ids"] = [users[i] for i in keep]
            touched = True
        if touched:
            with fsspec.open(uri, "wb") as handle:
                torch.save(payload, handle)
            changed += 1
    return changed


def erase_customer(
    engine: Engine, customer_id: str, *, key: bytes, source: str, outbox: Path | None = None,
    now: dt.datetime | None = None,
) -> ErasureReport:
    """Forget `customer_id` everywhere we hold them and record it; running it again changes nothing."""
    customer_id = customer_id.strip()
    subject = pseudonym(key, "customer", customer_id)
    erasures = schema.erasures
    with engine.begin() as conn:
        emails = addresses(conn, customer_id)
        before = conn.execute(select(erasures.c.email_pseudonyms).where(erasures.c.customer_pseudonym == subject)).first()
        removed = _erase_rows(conn, customer_id, emails)
        removed["ad-audience file lines"] = _erase_from_ad_files(conn, emails)
        mails, log_lines = _erase_from_outbox(outbox, emails) if outbox and outbox.is_dir() else (0, 0)
        removed["outbox e-mails"], removed["outbox delivery-log lines"] = mails, log_lines
        removed["recommender artifacts rewritten"] = _erase_from_models(conn, customer_id)
        if before is not None and not any(removed.values()):
            return ErasureReport(subject, removed, already_erased=True)
        email_pseudonyms = sorted({pseudonym(key, "email", e) for e in emails} | set(before[0] if before else []))
        values = {"email_pseudonyms": email_pseudonyms, "erased_at": (now or dt.datetime.now(dt.timezone.utc)).replace(tzinfo=None),
                  "source": source[:256], "removed": removed}
        if before is None:
            conn.execute(insert(erasures).values(customer_pseudonym=subject, **values))
        else:
            conn.execute(update(erasures).where(erasures.c.customer_pseudonym == subject).values(**values))
    log.info("erased customer %s… (%s)", subject[:16], source)
    return ErasureReport(subject, removed)
