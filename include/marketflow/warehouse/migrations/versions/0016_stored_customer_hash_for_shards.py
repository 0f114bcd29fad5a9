"""customer_hash stored on the per-customer tables that shard tasks filter (PostgreSQL)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 15:30:00

A score shard found its customers by hashing every row of the day's profile snapshot and scores,
and every known customer, and a profile shard hashed every consent event and staged row: each shard
of N did the whole day's hashing, so the stage grew with customers squared (issue 17: a score shard
took 7.4 s at 397,000 customers and 11.5 s at 992,500, for 80,000-90,000 customers of its own).
These tables now store `marketflow_customer_hash(customer_id)` as `orders` does (migration 0012),
indexed, so a shard's rows are an index range of the hash (`marketflow.shards.shard_rows`). SQLite
keeps hashing per row in Python (its warehouses are small). Adding the columns rewrites the tables.
"""

from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

#: table -> the columns of its index, the hash last (a day's rows of a shard: one index range)
TABLES = {
    "customer_profiles": "as_of_date, customer_hash",
    "customer_profiles_staging": "as_of_date, customer_hash",
    "audience_scores": "as_of_date, customer_hash",
    "customers": "customer_hash",
    "consent_events": "customer_hash",
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, columns in TABLES.items():
        op.execute(
            f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS customer_hash bigint "
            "GENERATED ALWAYS AS (marketflow_customer_hash(customer_id)) STORED"
        )
        op.execute(f"CREATE INDEX IF NOT EXISTS ix_{table}_customer_hash ON {table} ({columns})")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"ALTER TABLE {table} DROP COLUMN IF EXISTS customer_hash")  # drops its index too
