"""Customer shards: N shards partition the customers, the same way every time, in Python and in the
warehouse's SQL alike."""

from __future__ import annotations

import pytest
from sqlalchemy import column, select, table

from marketflow.shards import in_shard, in_shard_clause, shard_of
from marketflow.warehouse import upgrade_to_head, warehouse_engine

CUSTOMERS = [str(12346 + offset) for offset in range(4000)]


@pytest.mark.parametrize("shards", [1, 3, 8])
def test_the_shards_cover_every_customer_exactly_once(shards: int) -> None:
    members = [in_shard(CUSTOMERS, shard, shards) for shard in range(shards)]
    flat = [customer for shard in members for customer in shard]
    assert sorted(flat) == sorted(CUSTOMERS)
    assert len(flat) == len(set(flat))
    assert all(len(shard) > 0.7 * len(CUSTOMERS) / shards for shard in members), "shards are roughly even"


def test_a_customer_always_lands_in_the_same_shard() -> None:
    assert [shard_of(customer, 5) for customer in CUSTOMERS] == [shard_of(customer, 5) for customer in CUSTOMERS]
    assert in_shard(CUSTOMERS, 2, 5) == [c for c in CUSTOMERS if shard_of(c, 5) == 2]


def test_a_shard_outside_the_count_is_an_error() -> None:
    with pytest.raises(ValueError, match="outside 0..3"):
        in_shard(CUSTOMERS, 4, 4)
    with pytest.raises(ValueError, match="outside 0..3"):
        in_shard_clause(column("customer_id"), -1, 4)


def test_the_warehouse_computes_the_same_shards_as_python(warehouse_url: str) -> None:
    """What a shard task selects in SQL is exactly `in_shard` of the same ids, on both dialects
    (non-ASCII ids included: both hash the UTF-8 bytes)."""
    ids = CUSTOMERS[:500] + ["müller@example.com", "ÉTÉ-42", "顧客7", ""]
    engine = warehouse_engine(warehouse_url)
    upgrade_to_head(engine)
    customers = table("shard_probe", column("customer_id"))
    with engine.begin() as conn:
        conn.exec_driver_sql("CREATE TABLE shard_probe (customer_id TEXT)")
        conn.execute(customers.insert(), [{"customer_id": c} for c in ids] + [{"customer_id": None}])
        for shards in (1, 4, 7):
            for shard in range(shards):
                query = select(customers.c.customer_id).where(in_shard_clause(customers.c.customer_id, shard, shards))
                assert sorted(conn.execute(query).scalars()) == sorted(in_shard(ids, shard, shards))
