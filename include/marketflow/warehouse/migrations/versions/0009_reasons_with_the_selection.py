"""score reasons are computed for the customers a campaign run selects, and stored with them

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 09:00:00

TreeSHAP for every customer of every day cost ~30x LightGBM's own predict and was read by nobody
(issue 14). `audience_scores` now holds the calibrated score only; the exact reasons (same TreeSHAP,
same model, same snapshot row) are computed when a campaign run selects its treatment and control
members and stored with each of them in `audience_members.top_reasons`. Existing score rows lose
their reasons; a selection made from them after the upgrade computes its own.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audience_scores") as batch:
        batch.drop_column("top_reasons")
    with op.batch_alter_table("audience_members") as batch:
        batch.add_column(
            sa.Column("top_reasons", sa.JSON(), nullable=True,
                      comment="treatment and control: feature -> SHAP contribution (log-odds) to the score "
                      "the run used, largest |value| first; NULL: no score, or it could not be explained")
        )


def downgrade() -> None:
    with op.batch_alter_table("audience_members") as batch:
        batch.drop_column("top_reasons")
    with op.batch_alter_table("audience_scores") as batch:
        batch.add_column(
            sa.Column("top_reasons", sa.JSON(), nullable=True, comment="feature -> contribution, largest first")
        )
