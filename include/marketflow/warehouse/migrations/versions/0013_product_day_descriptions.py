"""product_day_descriptions: each (product, day)'s descriptions on its latest described purchase lines

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 19:00:00

The profile build needs every product's description as of its day. Reading them from `orders` took
two scans of the whole history per build: at a million customers (80M lines), 427 s of a 554 s
preparation, and growing with the history (issue 17). Ingest now keeps the few lines that can be a
day's description in this table, replaced with the day (`marketflow.ingest.derived`); this
migration fills it from the orders already loaded, with the same rule.
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "product_day_descriptions",
        sa.Column("stock_code", sa.String(length=32), nullable=False),
        sa.Column("order_date", sa.Date(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column(
            "invoice_ts", sa.DateTime(), nullable=False, comment="time of the day's latest described purchase line"
        ),
        sa.PrimaryKeyConstraint("stock_code", "order_date", "description", name=op.f("pk_product_day_descriptions")),
    )
    empty_is_missing = op.get_bind().dialect.name == "postgresql"  # as the profile build's reader there

    def described(line: str) -> str:
        """A described purchase line: no return, positive quantity and price, a description."""
        rule = f"NOT {line}.is_return AND {line}.quantity > 0 AND {line}.unit_price > 0 AND {line}.description IS NOT NULL"
        return rule + (f" AND {line}.description <> ''" if empty_is_missing else "")

    op.execute(
        f"""INSERT INTO product_day_descriptions (stock_code, order_date, description, invoice_ts)
        SELECT DISTINCT o.stock_code, o.order_date, o.description, o.invoice_ts FROM orders o
        JOIN (SELECT d.stock_code, d.order_date, max(d.invoice_ts) AS latest FROM orders d WHERE {described("d")}
              GROUP BY d.stock_code, d.order_date) l
          ON o.stock_code = l.stock_code AND o.order_date = l.order_date AND o.invoice_ts = l.latest
        WHERE {described("o")}"""
    )


def downgrade() -> None:
    op.drop_table("product_day_descriptions")
