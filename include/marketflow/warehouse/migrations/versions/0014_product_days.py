"""product_days: each product's latest description and price of each day it was on an order line

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 10:30:00

Ingest refreshed `products` with a few correlated probes of `orders` per product the day touched.
Once `orders` is partitioned by customer (migration 0015) every probe visits all 33 partitions: the
products refresh of a day 20 times our sample's size went from 70 ms to 720 ms. Ingest now keeps
each (product, day)'s latest values in this table, replaced with the day from the load's own lines
(`marketflow.ingest.derived`), and `products` is recomputed from it; this migration fills it from
the orders already loaded, with the same rule ("latest": by invoice time, then source line).
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "product_days",
        sa.Column("stock_code", sa.String(length=32), nullable=False),
        sa.Column("order_date", sa.Date(), nullable=False),
        sa.Column("description", sa.Text(), nullable=True, comment="the day's latest non-empty description"),
        sa.Column("unit_price", sa.Float(), nullable=True, comment="the day's latest positive price"),
        sa.PrimaryKeyConstraint("stock_code", "order_date", name=op.f("pk_product_days")),
    )

    def latest(value: str, condition: str) -> str:
        """`value` of the day's latest line of the product that meets `condition`."""
        return (
            f"(SELECT o.{value} FROM orders o WHERE o.stock_code = d.stock_code AND o.order_date = d.order_date "
            f"AND {condition} ORDER BY o.invoice_ts DESC, o.source_line DESC LIMIT 1)"
        )

    op.execute(
        "INSERT INTO product_days (stock_code, order_date, description, unit_price) "
        f"SELECT d.stock_code, d.order_date, {latest('description', 'o.description IS NOT NULL')}, "
        f"{latest('unit_price', 'o.unit_price > 0')} "
        "FROM (SELECT DISTINCT stock_code, order_date FROM orders) d"
    )


def downgrade() -> None:
    op.drop_table("product_days")
