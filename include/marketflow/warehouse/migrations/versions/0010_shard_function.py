"""the warehouse computes a customer's shard: marketflow_shard(customer_id, shards)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01 10:00:00

Shard tasks (scoring, profiles) filtered their customers in Python after reading every customer of
the day, so N shards cost N full reads (issue 14, issue 17). The same hash as
`marketflow.shards.shard_of` as an SQL function lets each shard read only its rows. SQLite gets it
as a Python function registered on every connection (`warehouse.connection`), so nothing is stored.
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE OR REPLACE FUNCTION marketflow_shard(customer_id text, shards integer) RETURNS integer "
            "LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE "
            "AS $$ SELECT ((('x' || substr(md5(customer_id), 1, 15))::bit(60)::bigint) % shards)::integer $$"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS marketflow_shard(text, integer)")
