"""Customer shards for scoring as mapped tasks: a stable hash of the customer id mod N, so a shard
holds the same customers on every worker, run and re-run (Python's `hash` is salted per process)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable


def shard_of(customer_id: str, shards: int) -> int:
    """The shard (0..shards-1) of a customer."""
    digest = hashlib.sha256(customer_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % shards


def in_shard(customer_ids: Iterable[str], shard: int, shards: int) -> list[str]:
    """The ids of `customer_ids` that fall in `shard`, in their given order."""
    if not 0 <= shard < shards:
        raise ValueError(f"shard {shard} is outside 0..{shards - 1}")
    return [customer_id for customer_id in customer_ids if shard_of(customer_id, shards) == shard]
