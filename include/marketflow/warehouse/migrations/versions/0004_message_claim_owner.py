"""messages record which worker claimed them, so a claim by a dead process is settled at once

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 13:15:00

A message left `sending` by a killed worker stayed untouched for `stale_claim_s` (300 s), because
nothing told a dead claimer from a live one. `claimed_by` (host:pid:process start time) does, on
the claimer's own machine.
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(
            sa.Column("claimed_by", sa.String(length=128), nullable=True,
                      comment="the claiming worker: host:pid:process start time")
        )


def downgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("claimed_by")
