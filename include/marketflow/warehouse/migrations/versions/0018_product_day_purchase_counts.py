"""product_days: each product's purchase baskets, units and revenue of the day

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07 15:20:00

The profile build's product counts (`read_product_counts`: basket lines of the last 30 days and the
30 before, units and revenue) grouped every order line of 60 days: at x100 customers (8.4M lines)
32 s of `prepare_days`' 61 s, every day. Baskets, units and revenue add up over days, so ingest now
keeps them per (product, day) beside the day's description and price (`marketflow.ingest.derived`),
and the build sums at most 60 rows a product; only the distinct buyers of 30 days still read
`orders`. This migration fills the columns from the orders already loaded, with the same rule: a
basket is a (customer, or the guest's NULL, invoice) pair with a purchase line of the product that
day (no return, positive quantity).
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

BASKETS = "(customer or guest, invoice) pairs with a purchase line: no return, positive quantity"


def upgrade() -> None:
    op.add_column("product_days", sa.Column("baskets", sa.Integer(), nullable=False, server_default="0", comment=BASKETS))
    op.add_column(
        "product_days",
        sa.Column("units", sa.BigInteger(), nullable=False, server_default="0", comment="units on the day's purchase lines"),
    )
    op.add_column(
        "product_days",
        sa.Column(
            "revenue", sa.Float(), nullable=False, server_default="0",
            comment="quantity x unit price of the day's purchase lines",
        ),
    )
    op.execute(
        "UPDATE product_days SET baskets = c.baskets, units = c.units, revenue = c.revenue "
        "FROM (SELECT stock_code, order_date, count(*) AS baskets, sum(units) AS units, sum(value) AS revenue "
        "FROM (SELECT stock_code, order_date, customer_id, invoice_no, sum(quantity) AS units, "
        "sum(quantity * unit_price) AS value FROM orders WHERE NOT is_return AND quantity > 0 "
        "GROUP BY stock_code, order_date, customer_id, invoice_no) AS b GROUP BY stock_code, order_date) AS c "
        "WHERE product_days.stock_code = c.stock_code AND product_days.order_date = c.order_date"
    )


def downgrade() -> None:
    with op.batch_alter_table("product_days") as batch:
        for column in ("revenue", "units", "baskets"):
            batch.drop_column(column)
