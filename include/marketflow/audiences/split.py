"""Stable assignment of customers to control/treatment and to A/B variants.

A customer's arm depends only on (campaign, customer): re-runs, backfills and restarts of the same
campaign split the same people the same way, and a customer's arm in one campaign says nothing
about their arm in another. Variants use an independent hash (a different salt), so variant and
arm are uncorrelated.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

_SCALE = float(1 << 64)


def unit_hash(*parts: str) -> float:
    """A number in [0, 1) from the SHA-256 of the parts joined by ':'; same input, same number."""
    digest = hashlib.sha256(":".join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / _SCALE


def is_control(campaign: str, customer_id: str, control_share: float) -> bool:
    """True when the customer is held out of `campaign` (recorded, never contacted)."""
    return unit_hash(campaign, customer_id) < control_share


def assign_variant(campaign: str, customer_id: str, variants: Sequence[str]) -> str:
    """One of `variants`, equally likely, stable for (campaign, customer)."""
    if not variants:
        raise ValueError("no variants to choose from")
    index = int(unit_hash(campaign, "variant", customer_id) * len(variants))
    return variants[index]
