"""Keyed pseudonyms of customer ids and e-mail addresses, for the erasure ledger.

A plain SHA-256 of a five-digit customer id, or of an address an ad platform already holds hashed,
is no pseudonym: anyone can recompute it. The ledger keeps HMAC-SHA256 under a secret key instead
(`MARKETFLOW_PRIVACY_KEY`, at least 32 characters, from the environment or a secrets backend that
sets it). With the key, an erasure can be proven ("was customer X erased?") and a re-ingested old
export recognised; without it, the ledger names nobody. Keep the key as long as the ledger: with
a new key, old erasures are no longer recognised.
"""

from __future__ import annotations

import hashlib
import hmac
import os

PRIVACY_KEY_ENV = "MARKETFLOW_PRIVACY_KEY"
MIN_KEY_CHARS = 32


class PrivacyKeyMissing(RuntimeError):
    """Erasure, or ingest with erasures on record, needs the pseudonym key."""


def privacy_key() -> bytes:
    """The key from the environment; a clear error when it is missing or short."""
    key = os.environ.get(PRIVACY_KEY_ENV, "")
    if len(key) < MIN_KEY_CHARS:
        problem = "is not set" if not key else f"has {len(key)} characters, fewer than {MIN_KEY_CHARS}"
        raise PrivacyKeyMissing(
            f"{PRIVACY_KEY_ENV} {problem}: erasures are recorded under this secret key (e.g. "
            f"`python -c 'import secrets; print(secrets.token_urlsafe(48))'`), and it must stay the same"
        )
    return key.encode("utf-8")


def normalise_email(email: str) -> str:
    return email.strip().lower()


def pseudonym(key: bytes, kind: str, value: str) -> str:
    """HMAC-SHA256 of `kind:value` (kind `customer` or `email`, e-mails normalised)."""
    text = normalise_email(value) if kind == "email" else value.strip()
    return hmac.new(key, f"{kind}:{text}".encode("utf-8"), hashlib.sha256).hexdigest()
