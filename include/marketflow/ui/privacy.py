"""What a viewer may see of a customer: never a raw e-mail address (only masked ones and pseudonyms)
and never a message's unsubscribe token.

Masking is applied twice: explicitly where the pages show recipients, and to every value the
templates render for a viewer (`scrub_emails`), so an address inside free text such as a rendered
message body or a quarantine reason cannot leak either.
"""

from __future__ import annotations

import hashlib
import hmac
import re

EMAIL_PATTERN = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
#: A message's unsubscribe token (the random part of its Message-ID): whoever holds it can unsubscribe
#: that customer, so a viewer never sees one.
TOKEN_PATTERN = re.compile(r"(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])")
_MASK = "\u2022\u2022\u2022"


def mask_email(address: str) -> str:
    """`jane.doe@example.com` -> `j•••@e•••.com`: enough to recognise a test inbox, not a person."""
    local, _, domain = address.partition("@")
    host, dot, tld = domain.rpartition(".")
    if not dot:
        host, tld = domain, ""
    return f"{local[:1]}{_MASK}@{host[:1]}{_MASK}{dot}{tld}"


def scrub_emails(text: str) -> str:
    """Every e-mail address and unsubscribe token inside `text`, masked."""
    return TOKEN_PATTERN.sub(_MASK, EMAIL_PATTERN.sub(lambda match: mask_email(match.group(0)), text))


def pseudonym(customer_id: str, key: bytes) -> str:
    """A stable, keyed pseudonym: the same customer reads the same everywhere, and customer ids
    (a small, enumerable space) cannot be recovered from it without the deployment's key."""
    digest = hmac.new(key, f"marketflow-ui:{customer_id}".encode(), hashlib.sha256).hexdigest()
    return f"cust-{digest[:10]}"
