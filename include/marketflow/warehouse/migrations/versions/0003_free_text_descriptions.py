"""product descriptions are free text of any length, stored the same on every backend

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 13:10:00

A description longer than 255 characters crashed a PostgreSQL load (`varchar(255)`) while SQLite
stored it in full. Descriptions become `TEXT` wherever they are kept. Downgrading cuts longer
descriptions to 255 characters first.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

#: table -> the comment its description column carries
DESCRIPTIONS = {
    "orders": None,
    "products": "latest non-empty description seen",
    "product_groups": "latest description as of the day",
    "product_stats": None,
}


def _retype(old: sa.types.TypeEngine, new: sa.types.TypeEngine) -> None:
    for table, comment in DESCRIPTIONS.items():
        with op.batch_alter_table(table) as batch:
            batch.alter_column(
                "description", existing_type=old, type_=new, existing_nullable=True, existing_comment=comment
            )


def upgrade() -> None:
    _retype(sa.String(length=255), sa.Text())


def downgrade() -> None:
    for table in DESCRIPTIONS:
        column = sa.table(table, sa.column("description", sa.Text))
        op.execute(
            column.update()
            .where(sa.func.length(column.c.description) > 255)
            .values(description=sa.func.substr(column.c.description, 1, 255))
        )
    _retype(sa.Text(), sa.String(length=255))
