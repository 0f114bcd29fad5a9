"""one day convention: campaign runs name their day and inputs, recommendations are kept per as-of day

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 09:00:00

- `campaign_runs.logical_date` becomes `run_day` (the day D the run works on, as every stage names
  it), with the as-of date of every input the run used (`inputs`) and, for a run that contacted
  nobody because an input was stale or missing, `blocked_reason`.
- A recommender's `trained_as_of` is the last day of purchases it saw (it was the day after).
- `recommendations` keeps one set per `as_of_date` (a campaign of day D reads the newest set on or
  before D) instead of only the latest; existing rows get their model's `trained_as_of`.
"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_RUN_DAY = "the day D the run works on (see marketflow.days)"
_STATUS = "last step done: planned | blocked | selected | rendered | sent | send_skipped | synced | reported"


def _recommendations_table(with_day: bool) -> list[sa.schema.SchemaItem]:
    key = ["as_of_date", "customer_id", "rank"] if with_day else ["model_id", "customer_id", "rank"]
    day = [sa.Column("as_of_date", sa.Date(), nullable=False, comment="purchases on or before this day were used")]
    return [
        *(day if with_day else []),
        sa.Column("customer_id", sa.String(length=16), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.String(length=64), nullable=False),
        sa.Column("stock_code", sa.String(length=32), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("reason", sa.String(length=512), nullable=True),
        sa.ForeignKeyConstraint(
            ["model_id"], ["model_registry.model_id"], name=op.f("fk_recommendations_model_id_model_registry")
        ),
        sa.PrimaryKeyConstraint(*key, name=op.f("pk_recommendations")),
    ]


def _shift_recommender_days(days: int) -> None:
    registry = sa.table("model_registry", sa.column("model_id"), sa.column("model_kind"), sa.column("trained_as_of", sa.Date))
    conn = op.get_bind()
    rows = conn.execute(sa.select(registry.c.model_id, registry.c.trained_as_of).where(registry.c.model_kind == "recommender"))
    for model_id, trained in rows.all():
        day = trained if isinstance(trained, dt.date) else dt.date.fromisoformat(str(trained))
        conn.execute(
            registry.update()
            .where(registry.c.model_id == model_id)
            .values(trained_as_of=day + dt.timedelta(days=days))
        )


def _rebuild_recommendations(with_day: bool) -> None:
    conn = op.get_bind()
    old = sa.Table("recommendations", sa.MetaData(), autoload_with=conn)
    rows = [dict(row) for row in conn.execute(sa.select(old)).mappings()]
    days = dict(conn.execute(sa.text("SELECT model_id, trained_as_of FROM model_registry")).all())
    op.drop_table("recommendations")
    new = op.create_table("recommendations", *_recommendations_table(with_day))
    if with_day:
        for row in rows:
            day = days[row["model_id"]]
            row["as_of_date"] = day if isinstance(day, dt.date) else dt.date.fromisoformat(str(day))
    else:
        rows = [{k: v for k, v in row.items() if k != "as_of_date"} for row in rows]
        rows = list({(r["model_id"], r["customer_id"], r["rank"]): r for r in rows}.values())
    if rows:
        op.bulk_insert(new, rows)


def upgrade() -> None:
    with op.batch_alter_table("campaign_runs") as batch:
        batch.drop_index("ix_campaign_runs_campaign_logical_date")
        batch.alter_column(
            "logical_date", new_column_name="run_day", existing_type=sa.Date(), existing_nullable=False, comment=_RUN_DAY
        )
        batch.alter_column("run_key", existing_type=sa.String(length=128), comment="campaign + run day")
        batch.alter_column("status", existing_type=sa.String(length=16), existing_nullable=False, comment=_STATUS)
        batch.add_column(
            sa.Column("inputs", sa.JSON(), nullable=True, comment="input -> the as-of date the run used (orders, profiles, scores, ...)")
        )
        batch.add_column(
            sa.Column("blocked_reason", sa.Text(), nullable=True, comment="why the run contacted nobody: stale or missing inputs")
        )
    op.create_index("ix_campaign_runs_campaign_run_day", "campaign_runs", ["campaign", "run_day"], unique=False)
    _shift_recommender_days(-1)
    _rebuild_recommendations(with_day=True)


def downgrade() -> None:
    _rebuild_recommendations(with_day=False)
    _shift_recommender_days(+1)
    op.drop_index("ix_campaign_runs_campaign_run_day", table_name="campaign_runs")
    with op.batch_alter_table("campaign_runs") as batch:
        batch.drop_column("blocked_reason")
        batch.drop_column("inputs")
        batch.alter_column(
            "status",
            existing_type=sa.String(length=16),
            existing_nullable=False,
            comment="last step done: planned | selected | rendered | sent | send_skipped | synced | reported",
        )
        batch.alter_column("run_key", existing_type=sa.String(length=128), comment="campaign + logical date")
        batch.alter_column("run_day", new_column_name="logical_date", existing_type=sa.Date(), existing_nullable=False, comment=None)
    op.create_index("ix_campaign_runs_campaign_logical_date", "campaign_runs", ["campaign", "logical_date"], unique=False)
