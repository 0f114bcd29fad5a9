"""Customer shards: N shards partition the customers, the same way every time."""

from __future__ import annotations

import pytest

from marketflow.propensity.shards import in_shard, shard_of

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
