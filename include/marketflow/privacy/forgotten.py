"""Keep erased people forgotten when an export that still names them is loaded (again).

Ingest asks `ForgottenPeople.load` once per batch. Without erasures on record it is None and costs
nothing (no key needed). Otherwise their order lines load without a customer id (the shop's revenue
keeps them, as a guest's), their CRM rows are dropped, and quarantined lines naming them are not
kept: a re-ingest of an old export never brings them back.
"""

from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, select

from marketflow.privacy.pseudonyms import privacy_key, pseudonym
from marketflow.warehouse import schema

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ForgottenPeople:
    key: bytes
    customers: frozenset[str]
    emails: frozenset[str]

    @classmethod
    def load(cls, engine: Engine) -> ForgottenPeople | None:
        """The ledger's pseudonyms, or None when nobody was ever erased."""
        e = schema.erasures.c
        with engine.connect() as conn:
            rows = conn.execute(select(e.customer_pseudonym, e.email_pseudonyms)).all()
        if not rows:
            return None
        emails = frozenset(p for _, pseudonyms in rows for p in (pseudonyms or []))
        return cls(privacy_key(), frozenset(customer for customer, _ in rows), emails)

    def is_customer(self, customer_id: Any) -> bool:
        return isinstance(customer_id, str) and pseudonym(self.key, "customer", customer_id) in self.customers

    def is_email(self, email: Any) -> bool:
        return isinstance(email, str) and bool(email.strip()) and pseudonym(self.key, "email", email) in self.emails

    def names_someone(self, raw_line: str) -> bool:
        """A raw export line with an erased person's id or address in one of its fields."""
        fields = [value.strip() for value in next(csv.reader([raw_line]), [])]
        return any(self.is_customer(v.removesuffix(".0")) or self.is_email(v) for v in fields if v)

    def unnamed(self, quarantined: list[dict]) -> list[dict]:
        """Quarantine rows whose raw line names nobody erased."""
        kept = [row for row in quarantined if not self.names_someone(row["raw_line"])]
        if len(kept) < len(quarantined):
            log.info("%d quarantined lines name erased customers: not kept", len(quarantined) - len(kept))
        return kept

    def forget(self, kind: str, rows: Any) -> Any:
        """The day's rows without the erased: order lines unlinked from them, CRM rows dropped."""
        people = self._matches(rows["customer_id"], self.is_customer)
        if people.any():
            log.info("%s: %d lines of erased customers %s", kind, int(people.sum()),
                     "unlinked" if kind == "orders" else "dropped")
        if kind == "orders":
            rows = rows.copy()
            rows.loc[people, "customer_id"] = None
            return rows
        return rows[~(people | self._matches(rows["email"], self.is_email))]

    @staticmethod
    def _matches(values: Any, test: Any) -> Any:
        """`test` of each value, computed once per distinct value (a day repeats a customer's id on
        every line: one HMAC per customer, not per line)."""
        named = {value for value in values.dropna().unique() if test(value)}
        return values.isin(named)
