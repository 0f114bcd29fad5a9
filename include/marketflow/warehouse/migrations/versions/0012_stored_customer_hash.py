"""orders.customer_hash: each order line's customer hash, computed once at insert (PostgreSQL)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 19:00:00

Every profile shard task scans the order history for its customers' lines (issue 17). Hashing the
customer id of every line in every shard (MD5, about 0.5 us a line) made the profile build grow
faster than the customers: at a million customers, 11 shards hashed 80M lines each. The hash is now
a stored generated column, so a shard's filter is `customer_hash % N = shard` on an integer; the
shard function keeps its values (`marketflow.shards.shard_of`). SQLite computes the shard per row
in Python as before (its warehouses are small). Adding the column rewrites `orders` once.
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_HASH = (
    "CREATE OR REPLACE FUNCTION marketflow_customer_hash(customer_id text) RETURNS bigint "
    "LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE "
    "AS $$ SELECT ('x' || substr(md5(customer_id), 1, 15))::bit(60)::bigint $$"
)
_SHARD = (
    "CREATE OR REPLACE FUNCTION marketflow_shard(customer_id text, shards integer) RETURNS integer "
    "LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE "
    "AS $$ SELECT (marketflow_customer_hash(customer_id) % shards)::integer $$"
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(_HASH)
    op.execute(_SHARD)
    op.execute(
        "ALTER TABLE orders ADD COLUMN IF NOT EXISTS customer_hash bigint "
        "GENERATED ALWAYS AS (marketflow_customer_hash(customer_id)) STORED"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE orders DROP COLUMN IF EXISTS customer_hash")
    op.execute(
        "CREATE OR REPLACE FUNCTION marketflow_shard(customer_id text, shards integer) RETURNS integer "
        "LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE "
        "AS $$ SELECT ((('x' || substr(md5(customer_id), 1, 15))::bit(60)::bigint) % shards)::integer $$"
    )
    op.execute("DROP FUNCTION IF EXISTS marketflow_customer_hash(text)")
