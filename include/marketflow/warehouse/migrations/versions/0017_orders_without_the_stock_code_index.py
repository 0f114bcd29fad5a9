"""orders without its stock-code index, which no query reads any more

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07 00:30:00

`ix_orders_stock_code_order_date_invoice_ts_source_line` served the probes that refreshed `products`
and read product descriptions from `orders`. Since `product_days` (0014) and
`product_day_descriptions` (0013) hold those, every reader of `orders` goes by day, by customer or
reads its shard's partitions whole, and the index was only a cost: every ingested line wrote its
key, the widest of the table's three, and over the real history on PostgreSQL it took 21.8 MB
beside the table's 63.0 MB (issue 17).
"""

from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

INDEX = "ix_orders_stock_code_order_date_invoice_ts_source_line"


def upgrade() -> None:
    op.execute(f"DROP INDEX IF EXISTS {INDEX}")  # on PostgreSQL's partitioned orders: every partition's too


def downgrade() -> None:
    op.execute(f"CREATE INDEX IF NOT EXISTS {INDEX} ON orders (stock_code, order_date, invoice_ts, source_line)")
