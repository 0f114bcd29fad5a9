"""initial schema: every table of the pipeline

Revision ID: 0001
Revises: 
Create Date: 2026-11-24 10:40:21.438341
"""

from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('campaign_runs',
    sa.Column('run_key', sa.String(length=128), nullable=False, comment='campaign + logical date'),
    sa.Column('campaign', sa.String(length=64), nullable=False),
    sa.Column('logical_date', sa.Date(), nullable=False),
    sa.Column('send_mode', sa.String(length=16), nullable=False, comment='live | backfill | dry_run'),
    sa.Column('status', sa.String(length=16), nullable=False, comment='last step done: planned | selected | rendered | sent | send_skipped | synced | reported'),
    sa.Column('audience_size', sa.Integer(), nullable=False),
    sa.Column('treatment_size', sa.Integer(), nullable=False),
    sa.Column('control_size', sa.Integer(), nullable=False),
    sa.Column('exclusion_counts', sa.JSON(), nullable=True, comment='exclusion reason -> customers left out'),
    sa.Column('report', sa.JSON(), nullable=True, comment='treatment vs control, uplift with 95% intervals, per variant'),
    sa.PrimaryKeyConstraint('run_key', name=op.f('pk_campaign_runs'))
    )
    with op.batch_alter_table('campaign_runs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_campaign_runs_campaign_logical_date'), ['campaign', 'logical_date'], unique=False)

    op.create_table('consent_events',
    sa.Column('customer_id', sa.String(length=16), nullable=False),
    sa.Column('effective_date', sa.Date(), nullable=False),
    sa.Column('marketing_consent', sa.Boolean(), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=True, comment='address on file that day; customer_contacts holds the latest'),
    sa.Column('source_file', sa.String(length=512), nullable=False),
    sa.PrimaryKeyConstraint('customer_id', 'effective_date', name=op.f('pk_consent_events'))
    )
    op.create_table('customer_contacts',
    sa.Column('customer_id', sa.String(length=16), nullable=False),
    sa.Column('email', sa.String(length=320), nullable=False),
    sa.Column('updated_on', sa.Date(), nullable=False),
    sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_customer_contacts'))
    )
    op.create_table('customer_profiles',
    sa.Column('as_of_date', sa.Date(), nullable=False),
    sa.Column('customer_id', sa.String(length=16), nullable=False),
    sa.Column('country', sa.String(length=64), nullable=True),
    sa.Column('recency_days', sa.Integer(), nullable=False),
    sa.Column('frequency', sa.Integer(), nullable=False, comment='distinct purchase invoices'),
    sa.Column('monetary', sa.Float(), nullable=False, comment='net spend to date'),
    sa.Column('tenure_days', sa.Integer(), nullable=False),
    sa.Column('avg_basket_value', sa.Float(), nullable=False),
    sa.Column('return_rate', sa.Float(), nullable=False),
    sa.Column('purchases_30d', sa.Integer(), nullable=False),
    sa.Column('purchases_90d', sa.Integer(), nullable=False),
    sa.Column('purchases_365d', sa.Integer(), nullable=False),
    sa.Column('favourite_products', sa.JSON(), nullable=True),
    sa.Column('favourite_group', sa.String(length=128), nullable=True),
    sa.Column('price_band', sa.String(length=16), nullable=True),
    sa.Column('marketing_consent', sa.Boolean(), nullable=False),
    sa.Column('r_score', sa.Integer(), nullable=False),
    sa.Column('f_score', sa.Integer(), nullable=False),
    sa.Column('m_score', sa.Integer(), nullable=False),
    sa.Column('segment', sa.String(length=32), nullable=False),
    sa.Column('expected_purchases_90d', sa.Float(), nullable=True),
    sa.Column('expected_spend_90d', sa.Float(), nullable=True),
    sa.PrimaryKeyConstraint('as_of_date', 'customer_id', name=op.f('pk_customer_profiles'))
    )
    with op.batch_alter_table('customer_profiles', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_customer_profiles_as_of_date_segment'), ['as_of_date', 'segment'], unique=False)

    op.create_table('customers',
    sa.Column('customer_id', sa.String(length=16), nullable=False),
    sa.Column('country', sa.String(length=64), nullable=False, comment='country of the latest order'),
    sa.Column('first_order_date', sa.Date(), nullable=False),
    sa.Column('last_order_date', sa.Date(), nullable=False),
    sa.PrimaryKeyConstraint('customer_id', name=op.f('pk_customers'))
    )
    op.create_table('engagement_events',
    sa.Column('event_id', sa.String(length=128), nullable=False),
    sa.Column('message_id', sa.String(length=255), nullable=True),
    sa.Column('customer_id', sa.String(length=16), nullable=True),
    sa.Column('event_type', sa.String(length=16), nullable=False, comment='delivered|open|click|unsubscribe|bounce'),
    sa.Column('occurred_at', sa.DateTime(), nullable=False),
    sa.Column('source', sa.String(length=512), nullable=True),
    sa.PrimaryKeyConstraint('event_id', name=op.f('pk_engagement_events'))
    )
    with op.batch_alter_table('engagement_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_engagement_events_customer_id_occurred_at'), ['customer_id', 'occurred_at'], unique=False)

    op.create_table('ingest_days',
    sa.Column('file_date', sa.Date(), nullable=False),
    sa.Column('file_kind', sa.String(length=16), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False, comment='loaded | no_trading | failed'),
    sa.Column('source_file', sa.String(length=512), nullable=True),
    sa.Column('rows_read', sa.Integer(), nullable=False),
    sa.Column('rows_loaded', sa.Integer(), nullable=False),
    sa.Column('rows_quarantined', sa.Integer(), nullable=False),
    sa.Column('validation_success', sa.Boolean(), nullable=True),
    sa.Column('validation_result', sa.JSON(), nullable=True, comment='expectation -> success, unexpected count'),
    sa.Column('detail', sa.Text(), nullable=True, comment='no_trading: why the shop was closed; failed: what to fix'),
    sa.PrimaryKeyConstraint('file_date', 'file_kind', name=op.f('pk_ingest_days'))
    )
    op.create_table('model_registry',
    sa.Column('model_id', sa.String(length=64), nullable=False),
    sa.Column('model_kind', sa.String(length=32), nullable=False, comment='recommender | propensity'),
    sa.Column('trained_as_of', sa.Date(), nullable=False),
    sa.Column('data_start', sa.Date(), nullable=True),
    sa.Column('data_end', sa.Date(), nullable=True),
    sa.Column('params', sa.JSON(), nullable=True),
    sa.Column('metrics', sa.JSON(), nullable=True),
    sa.Column('code_version', sa.String(length=64), nullable=True),
    sa.Column('artifact_uri', sa.String(length=1024), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False, comment='challenger | champion | retired | rejected'),
    sa.Column('decision', sa.Text(), nullable=True, comment='why it was or was not promoted'),
    sa.Column('registered_at', sa.DateTime(), nullable=False),
    sa.Column('promoted_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('model_id', name=op.f('pk_model_registry'))
    )
    with op.batch_alter_table('model_registry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_model_registry_model_kind_status'), ['model_kind', 'status'], unique=False)

    op.create_table('orders',
    sa.Column('order_date', sa.Date(), nullable=False, comment="partition: the export file's date"),
    sa.Column('source_line', sa.Integer(), nullable=False, comment='line number in the source file'),
    sa.Column('invoice_no', sa.String(length=16), nullable=False),
    sa.Column('stock_code', sa.String(length=32), nullable=False),
    sa.Column('description', sa.String(length=255), nullable=True),
    sa.Column('quantity', sa.Integer(), nullable=False, comment='negative for returns'),
    sa.Column('invoice_ts', sa.DateTime(), nullable=False),
    sa.Column('unit_price', sa.Float(), nullable=False),
    sa.Column('customer_id', sa.String(length=16), nullable=True, comment='NULL for guest checkouts: product stats only'),
    sa.Column('country', sa.String(length=64), nullable=False),
    sa.Column('is_return', sa.Boolean(), nullable=False, comment='cancellation invoice (C...)'),
    sa.Column('source_file', sa.String(length=512), nullable=False),
    sa.PrimaryKeyConstraint('order_date', 'source_line', name=op.f('pk_orders'))
    )
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_orders_customer_id_order_date'), ['customer_id', 'order_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_orders_stock_code_order_date_invoice_ts_source_line'), ['stock_code', 'order_date', 'invoice_ts', 'source_line'], unique=False)

    op.create_table('product_groups',
    sa.Column('as_of_date', sa.Date(), nullable=False, comment='groups valid on this day'),
    sa.Column('stock_code', sa.String(length=32), nullable=False),
    sa.Column('description', sa.String(length=255), nullable=True, comment='latest description as of the day'),
    sa.Column('group_id', sa.Integer(), nullable=False),
    sa.Column('group_name', sa.String(length=128), nullable=False, comment='named after the words members share'),
    sa.Column('fitted_on', sa.Date(), nullable=False, comment='catalogue day the groups were fitted on'),
    sa.PrimaryKeyConstraint('as_of_date', 'stock_code', name=op.f('pk_product_groups'))
    )
    op.create_table('product_stats',
    sa.Column('as_of_date', sa.Date(), nullable=False),
    sa.Column('stock_code', sa.String(length=32), nullable=False),
    sa.Column('description', sa.String(length=255), nullable=True),
    sa.Column('purchases_30d', sa.Integer(), nullable=False, comment='invoices with it, last 30 days'),
    sa.Column('purchases_prev_30d', sa.Integer(), nullable=False, comment='invoices with it, the 30 days before'),
    sa.Column('customers_30d', sa.Integer(), nullable=False),
    sa.Column('units_30d', sa.Integer(), nullable=False),
    sa.Column('revenue_30d', sa.Float(), nullable=False),
    sa.Column('popularity_rank', sa.Integer(), nullable=True, comment='1 = most purchased in the last 30 days'),
    sa.Column('trend_ratio', sa.Float(), nullable=False, comment='(last 30 + 1) / (previous 30 + 1)'),
    sa.Column('trend', sa.String(length=16), nullable=False, comment='new | rising | steady | falling'),
    sa.PrimaryKeyConstraint('as_of_date', 'stock_code', name=op.f('pk_product_stats'))
    )
    op.create_table('products',
    sa.Column('stock_code', sa.String(length=32), nullable=False),
    sa.Column('description', sa.String(length=255), nullable=True, comment='latest non-empty description seen'),
    sa.Column('unit_price', sa.Float(), nullable=True, comment='latest positive price seen'),
    sa.Column('first_seen', sa.Date(), nullable=False),
    sa.Column('last_seen', sa.Date(), nullable=False),
    sa.PrimaryKeyConstraint('stock_code', name=op.f('pk_products'))
    )
    op.create_table('quarantine',
    sa.Column('file_date', sa.Date(), nullable=False),
    sa.Column('file_kind', sa.String(length=16), nullable=False, comment='orders | customers'),
    sa.Column('source_line', sa.Integer(), nullable=False),
    sa.Column('source_file', sa.String(length=512), nullable=False),
    sa.Column('reason', sa.String(length=512), nullable=False),
    sa.Column('raw_line', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('file_date', 'file_kind', 'source_line', name=op.f('pk_quarantine'))
    )
    op.create_table('suppressions',
    sa.Column('customer_id', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False, comment='unsubscribe | bounce | complaint | manual'),
    sa.Column('since', sa.DateTime(), nullable=False),
    sa.Column('source', sa.String(length=512), nullable=True),
    sa.PrimaryKeyConstraint('customer_id', 'reason', name=op.f('pk_suppressions'))
    )
    op.create_table('ad_audience_exports',
    sa.Column('run_key', sa.String(length=128), nullable=False),
    sa.Column('platform', sa.String(length=32), nullable=False, comment='google_ads | meta'),
    sa.Column('artifact_uri', sa.String(length=1024), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('webhook_status', sa.String(length=64), nullable=True),
    sa.ForeignKeyConstraint(['run_key'], ['campaign_runs.run_key'], name=op.f('fk_ad_audience_exports_run_key_campaign_runs')),
    sa.PrimaryKeyConstraint('run_key', 'platform', name=op.f('pk_ad_audience_exports'))
    )
    op.create_table('audience_members',
    sa.Column('run_key', sa.String(length=128), nullable=False),
    sa.Column('customer_id', sa.String(length=16), nullable=False),
    sa.Column('arm', sa.String(length=16), nullable=True, comment='treatment | control | excluded'),
    sa.Column('variant', sa.String(length=32), nullable=True),
    sa.Column('exclusion_reason', sa.String(length=64), nullable=True),
    sa.Column('propensity_30d', sa.Float(), nullable=True),
    sa.ForeignKeyConstraint(['run_key'], ['campaign_runs.run_key'], name=op.f('fk_audience_members_run_key_campaign_runs')),
    sa.PrimaryKeyConstraint('run_key', 'customer_id', name=op.f('pk_audience_members'))
    )
    op.create_table('audience_scores',
    sa.Column('as_of_date', sa.Date(), nullable=False),
    sa.Column('customer_id', sa.String(length=16), nullable=False),
    sa.Column('model_id', sa.String(length=64), nullable=False),
    sa.Column('propensity_30d', sa.Float(), nullable=False),
    sa.Column('top_reasons', sa.JSON(), nullable=True, comment='feature -> contribution, largest first'),
    sa.ForeignKeyConstraint(['model_id'], ['model_registry.model_id'], name=op.f('fk_audience_scores_model_id_model_registry')),
    sa.PrimaryKeyConstraint('as_of_date', 'customer_id', name=op.f('pk_audience_scores'))
    )
    op.create_table('messages',
    sa.Column('run_key', sa.String(length=128), nullable=False),
    sa.Column('customer_id', sa.String(length=16), nullable=False),
    sa.Column('channel', sa.String(length=16), nullable=False, comment='email | ads'),
    sa.Column('status', sa.String(length=16), nullable=False, comment='rendered | sending | sent | failed | bounced | cancelled | unknown (in doubt after a crash)'),
    sa.Column('message_id', sa.String(length=255), nullable=True, comment='RFC 5322 Message-ID, set before sending'),
    sa.Column('recipient', sa.String(length=320), nullable=True, comment='address fixed at render time'),
    sa.Column('variant', sa.String(length=32), nullable=True),
    sa.Column('subject', sa.String(length=255), nullable=True),
    sa.Column('body_text', sa.Text(), nullable=True),
    sa.Column('body_html', sa.Text(), nullable=True),
    sa.Column('copy_source', sa.String(length=64), nullable=True, comment='template | llm | template_fallback:<why>'),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('attempted_at', sa.DateTime(), nullable=True, comment='when the latest attempt claimed the row (UTC)'),
    sa.Column('sent_at', sa.DateTime(), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['run_key'], ['campaign_runs.run_key'], name=op.f('fk_messages_run_key_campaign_runs')),
    sa.PrimaryKeyConstraint('run_key', 'customer_id', 'channel', name=op.f('pk_messages'))
    )
    op.create_table('recommendations',
    sa.Column('model_id', sa.String(length=64), nullable=False),
    sa.Column('customer_id', sa.String(length=16), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.Column('stock_code', sa.String(length=32), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('reason', sa.String(length=512), nullable=True),
    sa.ForeignKeyConstraint(['model_id'], ['model_registry.model_id'], name=op.f('fk_recommendations_model_id_model_registry')),
    sa.PrimaryKeyConstraint('model_id', 'customer_id', 'rank', name=op.f('pk_recommendations'))
    )


def downgrade() -> None:
    op.drop_table('recommendations')
    op.drop_table('messages')
    op.drop_table('audience_scores')
    op.drop_table('audience_members')
    op.drop_table('ad_audience_exports')
    op.drop_table('suppressions')
    op.drop_table('quarantine')
    op.drop_table('products')
    op.drop_table('product_stats')
    op.drop_table('product_groups')
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_orders_stock_code_order_date_invoice_ts_source_line'))
        batch_op.drop_index(batch_op.f('ix_orders_customer_id_order_date'))

    op.drop_table('orders')
    with op.batch_alter_table('model_registry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_model_registry_model_kind_status'))

    op.drop_table('model_registry')
    op.drop_table('ingest_days')
    with op.batch_alter_table('engagement_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_engagement_events_customer_id_occurred_at'))

    op.drop_table('engagement_events')
    op.drop_table('customers')
    with op.batch_alter_table('customer_profiles', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_customer_profiles_as_of_date_segment'))

    op.drop_table('customer_profiles')
    op.drop_table('customer_contacts')
    op.drop_table('consent_events')
    with op.batch_alter_table('campaign_runs', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_campaign_runs_campaign_logical_date'))

    op.drop_table('campaign_runs')
