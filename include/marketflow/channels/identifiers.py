"""Message-IDs and the unsubscribe links derived from them.

A Message-ID is generated when a message is rendered and never changes, so a resend after a crash
carries the same one; its random part (128 bits) doubles as the one-click unsubscribe token:
unguessable, and it identifies exactly one message, hence one customer, through the ledger.
"""

from __future__ import annotations

import uuid


def new_message_id(domain: str) -> str:
    """A fresh RFC 5322 Message-ID."""
    return f"<{uuid.uuid4().hex}@{domain}>"


def unsubscribe_token(message_id: str) -> str:
    """The random part of a Message-ID."""
    return message_id.strip("<>").split("@", 1)[0]


def unsubscribe_url(base_url: str, message_id: str) -> str:
    return f"{base_url}?u={unsubscribe_token(message_id)}"
