"""campaign runs record their attribution window

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 19:30:00

The window was read back from the stored report's JSON (or assumed from the default), so the live
pages and the stored report could count a run's conversions over different days. Existing runs
take the window their stored report recorded; runs never reported take the default, 14 days.
"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("campaign_runs") as batch:
        batch.add_column(
            sa.Column(
                "attribution_days",
                sa.Integer(),
                nullable=False,
                server_default="14",
                comment="N: orders of days D+1 .. D+N count for the run (its campaign's attribution_days when it ran)",
            )
        )
    runs = sa.table(
        "campaign_runs", sa.column("run_key", sa.String), sa.column("run_day", sa.Date), sa.column("report", sa.JSON),
        sa.column("attribution_days", sa.Integer),
    )
    conn = op.get_bind()
    for run_key, run_day, report in conn.execute(sa.select(runs.c.run_key, runs.c.run_day, runs.c.report)).all():
        try:
            end = dt.date.fromisoformat(report["window"]["end"])
        except (TypeError, KeyError, ValueError):
            continue
        day = run_day if isinstance(run_day, dt.date) else dt.date.fromisoformat(str(run_day))
        conn.execute(sa.update(runs).where(runs.c.run_key == run_key).values(attribution_days=(end - day).days))


def downgrade() -> None:
    with op.batch_alter_table("campaign_runs") as batch:
        batch.drop_column("attribution_days")
