"""the erasure ledger

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 22:40:00

One row per person erased on request: keyed pseudonyms of their customer id and addresses (never
the values), when, who asked, and what was removed. Ingest reads it to keep them forgotten.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "erasures",
        sa.Column("customer_pseudonym", sa.String(64), nullable=False, comment="HMAC-SHA256 of the customer id"),
        sa.Column("email_pseudonyms", sa.JSON(), nullable=False, comment="HMAC-SHA256 of every address we held for them"),
        sa.Column("erased_at", sa.DateTime(), nullable=False),
        sa.Column("source", sa.String(256), nullable=False, comment="who asked, how: the request's reference"),
        sa.Column("removed", sa.JSON(), nullable=False, comment="table or file -> rows removed or unlinked"),
        sa.PrimaryKeyConstraint("customer_pseudonym", name="pk_erasures"),
    )


def downgrade() -> None:
    op.drop_table("erasures")
