"""Customer shards: N shards partition the customers, the same way every time, in Python and in the
warehouse's SQL alike."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import Table, column, select, table

from marketflow.profiles.tables import read_orders
from marketflow.shards import (
    HASH_SPACE,
    ORDER_PARTITIONS,
    customer_hash,
    in_shard,
    in_shard_clause,
    order_partition_of,
    order_partitions,
    shard_of,
    shard_rows,
)
from marketflow.warehouse import schema, upgrade_to_head, warehouse_engine

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


def test_a_shard_reads_the_order_lines_of_its_customers_only(warehouse_url: str) -> None:
    """A shard's `read_orders` (PostgreSQL: the partitions of its hash range, migration 0015) gets
    exactly the lines of `in_shard`'s customers, guests in none, for shard counts below, between and
    above the partitions' 32, and follows a line whose customer id is rewritten (PostgreSQL moves it
    to another partition)."""
    engine = warehouse_engine(warehouse_url)
    upgrade_to_head(engine)
    ids = CUSTOMERS[:60] + [None]
    day = dt.date(2011, 3, 1)
    lines = [
        {"order_date": day, "source_line": line, "invoice_no": f"5{line:05d}", "stock_code": "22423",
         "description": "REGENCY CAKESTAND", "quantity": 1, "invoice_ts": dt.datetime(2011, 3, 1, 9),
         "unit_price": 12.75, "customer_id": customer, "country": "United Kingdom", "is_return": False,
         "source_file": "2011-03-01.csv"}
        for line, customer in enumerate(ids * 2)
    ]
    with engine.begin() as conn:
        conn.execute(schema.orders.insert(), lines)

    def shard_lines(shard: int, shards: int) -> list[str]:
        frame = read_orders(engine, day, shard=(shard, shards))
        return sorted(frame["customer_id"].astype(str))

    for shards in (1, 3, 11, 40):
        for shard in range(shards):
            assert shard_lines(shard, shards) == sorted(in_shard(CUSTOMERS[:60], shard, shards) * 2)
    moved, target = CUSTOMERS[0], "99999"
    with engine.begin() as conn:
        conn.execute(schema.orders.update().where(schema.orders.c.customer_id == moved).values(customer_id=target))
    assert shard_lines(shard_of(target, 3), 3).count(target) == 2
    assert moved not in shard_lines(shard_of(moved, 3), 3)


@pytest.mark.postgres
def test_each_order_partition_holds_the_hash_range_the_shards_read_it_for(postgres_warehouse: str) -> None:
    """The partitions migration 0015 made are the ranges `order_partitions` names: every customer's
    lines lie in the partition `order_partition_of` names (where ingest looks them up) and in one
    named for its shard, and guests' lines in `orders_guests`."""
    engine = warehouse_engine(postgres_warehouse)
    day = dt.date(2011, 3, 1)
    ids = CUSTOMERS[:300] + [None]
    lines = [
        {"order_date": day, "source_line": line, "invoice_no": f"5{line:05d}", "stock_code": "22423",
         "description": None, "quantity": 1, "invoice_ts": dt.datetime(2011, 3, 1, 9), "unit_price": 1.0,
         "customer_id": customer, "country": "United Kingdom", "is_return": False, "source_file": "2011-03-01.csv"}
        for line, customer in enumerate(ids)
    ]
    with engine.begin() as conn:
        conn.execute(schema.orders.insert(), lines)
        placed = dict(conn.exec_driver_sql("SELECT source_line, tableoid::regclass::text FROM orders").all())
    width = HASH_SPACE // ORDER_PARTITIONS
    for line, customer in enumerate(ids):
        if customer is None:
            assert placed[line] == "orders_guests"
            continue
        assert placed[line] == f"orders_p{customer_hash(customer) // width:02d}" == order_partition_of(customer)
        for shards in (5, 11, 40):
            assert placed[line] in order_partitions(shard_of(customer, shards), shards)
    assert len(set(placed.values())) == ORDER_PARTITIONS + 1, "300 customers fill every partition"


@pytest.mark.parametrize("dialect", ["postgresql", "sqlite"])
def test_lookups_by_customer_go_to_the_tables_that_hold_the_customers_lines(dialect: str) -> None:
    """`orders_of_customers` hands every customer over once, with the table its lines are in: on
    PostgreSQL the partition migration 0015 puts them in (checked against the server above),
    elsewhere `orders`."""
    wanted = CUSTOMERS[:500]
    found = schema.orders_of_customers(dialect, wanted)
    assert sorted(customer for _, members in found for customer in members) == sorted(wanted)
    if dialect == "sqlite":
        assert [lines.name for lines, _ in found] == ["orders"]
        return
    assert len(found) == ORDER_PARTITIONS, "500 customers fill every partition"
    for lines, members in found:
        assert {order_partition_of(customer) for customer in members} == {lines.name}
        assert "customer_hash" in lines.c and set(schema.orders.c.keys()) <= set(lines.c.keys())


def test_a_shard_of_a_per_customer_table_is_its_customers_rows(warehouse_url: str) -> None:
    """`shard_rows` on the tables shard tasks read (PostgreSQL: a range of the hash migration 0016
    stores) keeps exactly `in_shard`'s customers, for every shard count, and follows a customer id
    rewritten in place (the stored hash is recomputed)."""
    engine = warehouse_engine(warehouse_url)
    upgrade_to_head(engine)
    ids = CUSTOMERS[:300] + ["müller-42", "顧客7"]
    day = dt.date(2011, 3, 1)
    with engine.begin() as conn:
        conn.execute(schema.customers.insert(), [
            {"customer_id": c, "country": "United Kingdom", "first_order_date": day, "last_order_date": day} for c in ids
        ])
        conn.execute(schema.consent_events.insert(), [
            {"customer_id": c, "effective_date": day, "marketing_consent": True, "source_file": "crm.csv"} for c in ids
        ])
    tables = (schema.customers, schema.consent_events)

    def rows(source: Table, shard: int, shards: int) -> list[str]:
        with engine.connect() as conn:
            query = select(source.c.customer_id).where(shard_rows(source, shard, shards, conn.dialect.name))
            return sorted(conn.execute(query).scalars())

    for shards in (1, 4, 11, 40):
        for shard in range(shards):
            for source in tables:
                assert rows(source, shard, shards) == sorted(in_shard(ids, shard, shards))
    moved, target = ids[0], "99999"
    with engine.begin() as conn:
        conn.execute(schema.customers.update().where(schema.customers.c.customer_id == moved).values(customer_id=target))
    assert target in rows(schema.customers, shard_of(target, 4), 4)
    assert moved not in rows(schema.customers, shard_of(moved, 4), 4)
