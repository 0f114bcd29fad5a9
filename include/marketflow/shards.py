"""Customer shards: a stable hash of the customer id mod N, so a shard holds the same customers on
every worker, run and re-run (Python's `hash` is salted per process), and the warehouse can filter a
shard itself: `marketflow_shard(customer_id, N)` is a SQL function on both dialects (PostgreSQL:
migration 0010; SQLite: registered on each connection by `warehouse.connection`) that gives the
same shard as `shard_of`, so a shard task reads only its own rows."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlalchemy import ColumnElement, func

#: The SQL function's name, on both dialects.
SQL_FUNCTION = "marketflow_shard"
#: Hex digits of the MD5 digest that make the hash: 60 bits, a positive BIGINT on PostgreSQL.
_HEX_DIGITS = 15


def shard_of(customer_id: str, shards: int) -> int:
    """The shard (0..shards-1) of a customer: the first 60 bits of MD5(id) mod `shards` (MD5 because
    PostgreSQL computes it natively; it spreads ids evenly, and nothing here needs it to be secret)."""
    digest = hashlib.md5(customer_id.encode("utf-8"), usedforsecurity=False).hexdigest()
    return int(digest[:_HEX_DIGITS], 16) % shards


def sqlite_shard(customer_id: str | None, shards: int) -> int | None:
    """`marketflow_shard` for SQLite connections (NULL in, NULL out, as in SQL)."""
    return None if customer_id is None else shard_of(customer_id, shards)


def check_shard(shard: int, shards: int) -> None:
    if not 0 <= shard < shards:
        raise ValueError(f"shard {shard} is outside 0..{shards - 1}")


def in_shard(customer_ids: Iterable[str], shard: int, shards: int) -> list[str]:
    """The ids of `customer_ids` that fall in `shard`, in their given order."""
    check_shard(shard, shards)
    return [customer_id for customer_id in customer_ids if shard_of(customer_id, shards) == shard]


def in_shard_clause(customer_id: ColumnElement, shard: int, shards: int) -> ColumnElement[bool]:
    """A WHERE clause keeping the rows whose `customer_id` falls in `shard` (computed by the warehouse)."""
    check_shard(shard, shards)
    return getattr(func, SQL_FUNCTION)(customer_id, shards) == shard
