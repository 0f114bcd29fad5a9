"""customer_profiles_staging: a day's profiles, built shard by shard, before their RFM scores

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 11:00:00

The profile build maps over customer shards (issue 17): each shard task writes its customers' rows
of a day here; the day's finishing step scores them (RFM quintiles rank every customer of the day)
and moves the day into `customer_profiles` in one transaction, so readers never see a half-built
day. Rows live here only while their day is being built.
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "customer_profiles_staging",
        sa.Column("as_of_date", sa.Date(), nullable=False),
        sa.Column("customer_id", sa.String(length=16), nullable=False),
        sa.Column("country", sa.String(length=64), nullable=True),
        sa.Column("recency_days", sa.Integer(), nullable=False),
        sa.Column("frequency", sa.Integer(), nullable=False),
        sa.Column("monetary", sa.Float(), nullable=False),
        sa.Column("tenure_days", sa.Integer(), nullable=False),
        sa.Column("avg_basket_value", sa.Float(), nullable=False),
        sa.Column("return_rate", sa.Float(), nullable=False),
        sa.Column("purchases_30d", sa.Integer(), nullable=False),
        sa.Column("purchases_90d", sa.Integer(), nullable=False),
        sa.Column("purchases_365d", sa.Integer(), nullable=False),
        sa.Column("favourite_products", sa.JSON(), nullable=True),
        sa.Column("favourite_group", sa.String(length=128), nullable=True),
        sa.Column("price_band", sa.String(length=16), nullable=True),
        sa.Column("marketing_consent", sa.Boolean(), nullable=False),
        sa.Column("expected_purchases_90d", sa.Float(), nullable=True),
        sa.Column("expected_spend_90d", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("as_of_date", "customer_id"),
    )


def downgrade() -> None:
    op.drop_table("customer_profiles_staging")
