"""orders partitioned by customer hash range (PostgreSQL); a customer's shard is its hash range

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 22:00:00

Each profile shard read the lines of its customers by scanning every order line of the history, so
N shards scanned it N times and the day's cost grew with customers squared (issue 17: at a million
customers, 11 shards each scanned 80M lines). PostgreSQL now keeps `orders` in 32 partitions, equal
ranges of `marketflow_customer_hash(customer_id)`, plus `orders_guests` for lines without a
customer; and a customer's shard among N is which of N equal ranges of the same hash holds it
(before: the hash mod N), so a shard reads only the partitions its range overlaps
(`marketflow.shards.order_partitions`).

A partition key that is an expression cannot be part of a primary key, so the partitioned table
keeps (order_date, source_line) as a plain index: ingest replaces a day's lines whole, in one
transaction, so the pair stays unique by construction. The migration copies every order line once.
SQLite keeps one table; only its shard function (Python, `marketflow.shards`) changes.
"""

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

PARTITIONS = 32  # marketflow.shards.ORDER_PARTITIONS
HASH_SPACE = 1 << 60
_INDEXES = (
    ("ix_orders_customer_id_order_date", "customer_id, order_date"),
    ("ix_orders_stock_code_order_date_invoice_ts_source_line", "stock_code, order_date, invoice_ts, source_line"),
)
_RANGE_SHARD = (
    "CREATE OR REPLACE FUNCTION marketflow_shard(customer_id text, shards integer) RETURNS integer "
    "LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE "
    f"AS $$ SELECT (marketflow_customer_hash(customer_id) / (({HASH_SPACE} + shards - 1) / shards))::integer $$"
)
_MOD_SHARD = (
    "CREATE OR REPLACE FUNCTION marketflow_shard(customer_id text, shards integer) RETURNS integer "
    "LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE "
    "AS $$ SELECT (marketflow_customer_hash(customer_id) % shards)::integer $$"
)


def _replace_orders(create: list[str], after_copy: list[str]) -> None:
    """Rename `orders` away, create the new one (`create`), copy every line, drop the old table,
    then run `after_copy` (its indexes: built once over the copied lines)."""
    op.execute("ALTER TABLE orders RENAME TO orders_before_0015")
    for statement in create:
        op.execute(statement)
    op.execute(
        "INSERT INTO orders (order_date, source_line, invoice_no, stock_code, description, quantity, invoice_ts, "
        "unit_price, customer_id, country, is_return, source_file) SELECT order_date, source_line, invoice_no, "
        "stock_code, description, quantity, invoice_ts, unit_price, customer_id, country, is_return, source_file "
        "FROM orders_before_0015"
    )
    op.execute("DROP TABLE orders_before_0015")
    for statement in after_copy:
        op.execute(statement)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_RANGE_SHARD)
    width = HASH_SPACE // PARTITIONS
    partitions = [
        f"CREATE TABLE orders_p{index:02d} PARTITION OF orders FOR VALUES FROM ({index * width}) TO "
        f"({'MAXVALUE' if index == PARTITIONS - 1 else (index + 1) * width})"
        for index in range(PARTITIONS)
    ]
    _replace_orders(
        [
            "CREATE TABLE orders (LIKE orders_before_0015 INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING COMMENTS) "
            "PARTITION BY RANGE (marketflow_customer_hash(customer_id))",
            *partitions,
            "CREATE TABLE orders_guests PARTITION OF orders DEFAULT",
        ],
        [
            "CREATE INDEX ix_orders_order_date_source_line ON orders (order_date, source_line)",
            *(f"CREATE INDEX {name} ON orders ({columns})" for name, columns in _INDEXES),
        ],
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _replace_orders(
        ["CREATE TABLE orders (LIKE orders_before_0015 INCLUDING DEFAULTS INCLUDING GENERATED INCLUDING COMMENTS)"],
        [
            "ALTER TABLE orders ADD CONSTRAINT pk_orders PRIMARY KEY (order_date, source_line)",
            *(f"CREATE INDEX {name} ON orders ({columns})" for name, columns in _INDEXES),
        ],
    )
    op.execute(_MOD_SHARD)
