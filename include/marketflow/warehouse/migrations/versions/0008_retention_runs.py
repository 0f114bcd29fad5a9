"""the retention report

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 01:05:00

One row per ingested day and kind of data: what the day's retention run removed (landing files,
quarantined lines, message bodies, outbox e-mails, engagement events, log files) and its cut-off.
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "retention_runs",
        sa.Column("run_day", sa.Date(), nullable=False, comment="the ingested day D whose retention run this was"),
        sa.Column("target", sa.String(64), nullable=False, comment="what was removed: landing files, message bodies, ..."),
        sa.Column("older_than", sa.Date(), nullable=False, comment="the cut-off: what was dated before it went"),
        sa.Column("removed", sa.Integer(), nullable=False, comment="items removed by the runs of this day, summed"),
        sa.Column("enforced_at", sa.DateTime(), nullable=False, comment="when the day's first run removed them"),
        sa.PrimaryKeyConstraint("run_day", "target", name="pk_retention_runs"),
    )


def downgrade() -> None:
    op.drop_table("retention_runs")
