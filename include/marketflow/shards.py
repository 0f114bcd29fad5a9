"""Customer shards: N equal ranges of a stable hash of the customer id, so a shard holds the same
customers on every worker, run and re-run (Python's `hash` is salted per process), and the warehouse
can filter a shard itself: `marketflow_shard(customer_id, N)` is a SQL function on both dialects
(PostgreSQL: migration 0015; SQLite: registered on each connection by `warehouse.connection`) that
gives the same shard as `shard_of`, so a shard task reads only its own rows. On PostgreSQL the
tables a shard reads store the hash, indexed (migrations 0012 and 0016: `shard_rows`), so a shard
reads its rows without hashing anyone else's.

Ranges rather than the hash mod N because PostgreSQL keeps `orders` in `ORDER_PARTITIONS` equal
ranges of the same hash (migration 0015): a shard's lines lie in the few partitions its range
overlaps (`order_partitions`), whatever N, so N shards read the order history about once in all,
not N times."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlalchemy import BigInteger, ColumnElement, FromClause, and_, column, func

#: The SQL function's name, on both dialects.
SQL_FUNCTION = "marketflow_shard"
#: Hex digits of the MD5 digest that make the hash: 60 bits, a positive BIGINT on PostgreSQL.
_HEX_DIGITS = 15
#: Every customer hash is below this.
HASH_SPACE = 1 << (4 * _HEX_DIGITS)
#: PostgreSQL's `orders` partitions (migration 0015): equal hash ranges, plus one for guests' lines.
ORDER_PARTITIONS = 32


def customer_hash(customer_id: str) -> int:
    """The first 60 bits of MD5(id) (MD5 because PostgreSQL computes it natively; it spreads ids
    evenly, and nothing here needs it to be secret)."""
    digest = hashlib.md5(customer_id.encode("utf-8"), usedforsecurity=False).hexdigest()
    return int(digest[:_HEX_DIGITS], 16)


def _shard_width(shards: int) -> int:
    return -(-HASH_SPACE // shards)  # rounded up: the last shard is the narrowest


def shard_of(customer_id: str, shards: int) -> int:
    """The shard (0..shards-1) of a customer: which of `shards` equal ranges holds its hash."""
    return customer_hash(customer_id) // _shard_width(shards)


def hash_range(shard: int, shards: int) -> tuple[int, int]:
    """The hashes [low, high) of the shard's customers."""
    check_shard(shard, shards)
    width = _shard_width(shards)
    return shard * width, min((shard + 1) * width, HASH_SPACE)


def order_partitions(shard: int, shards: int) -> list[str]:
    """PostgreSQL's `orders` partitions that hold the shard's customers' lines."""
    low, high = hash_range(shard, shards)
    width = HASH_SPACE // ORDER_PARTITIONS
    return [_partition_name(index) for index in range(low // width, (high - 1) // width + 1)]


def order_partition_of(customer_id: str) -> str:
    """PostgreSQL's `orders` partition that holds the customer's lines."""
    return _partition_name(customer_hash(customer_id) // (HASH_SPACE // ORDER_PARTITIONS))


def _partition_name(index: int) -> str:
    return f"orders_p{index:02d}"


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


def shard_rows(table: FromClause, shard: int, shards: int, dialect: str) -> ColumnElement[bool]:
    """A WHERE clause keeping `table`'s rows of the shard's customers (never a guest's). With one
    shard every customer's, unhashed; on PostgreSQL a range of the table's stored, indexed
    `customer_hash` (migrations 0012 and 0016): a shard reads its own rows, not every row hashed;
    elsewhere the shard function on each row's id."""
    check_shard(shard, shards)
    if shards == 1:
        return table.c.customer_id.is_not(None)
    if dialect != "postgresql":
        return in_shard_clause(table.c.customer_id, shard, shards)
    low, high = hash_range(shard, shards)
    hashed = column("customer_hash", BigInteger, _selectable=table)
    return and_(hashed >= low, hashed < high)
