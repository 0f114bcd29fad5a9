"""audience members record the consent their selection relied on

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 22:45:00

Consent you can prove: each member keeps the state, day and CRM export of the latest consent event
on or before the run's day. Members selected before this revision have none recorded (NULL).
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audience_members") as batch:
        batch.add_column(sa.Column("consent_given", sa.Boolean(), comment="the consent the selection relied on (NULL: none on record)"))
        batch.add_column(sa.Column("consent_effective_date", sa.Date(), comment="the day of that CRM consent event"))
        batch.add_column(sa.Column("consent_source", sa.String(512), comment="the CRM export it came from"))


def downgrade() -> None:
    with op.batch_alter_table("audience_members") as batch:
        batch.drop_column("consent_source")
        batch.drop_column("consent_effective_date")
        batch.drop_column("consent_given")
