"""Every warehouse table of the pipeline, in one place so migrations can be checked against it.

Conventions: day-partitioned tables carry the partition date in their primary key so a task can
replace exactly its data interval; data tables hold no wall-clock timestamps, so re-running a
date leaves them identical (audit times live in the *_runs tables).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    FromClause,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    TableClause,
    Text,
    column,
    table,
)

from marketflow.shards import order_partition_of

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# --- ingest -------------------------------------------------------------------------------------

orders = Table(
    "orders",
    metadata,
    Column("order_date", Date, primary_key=True, comment="partition: the export file's date"),
    Column("source_line", Integer, primary_key=True, comment="line number in the source file"),
    Column("invoice_no", String(16), nullable=False),
    Column("stock_code", String(32), nullable=False),
    Column("description", Text),
    Column("quantity", Integer, nullable=False, comment="negative for returns"),
    Column("invoice_ts", DateTime, nullable=False),
    Column("unit_price", Float, nullable=False),
    Column("customer_id", String(16), comment="NULL for guest checkouts: product stats only"),
    Column("country", String(64), nullable=False),
    Column("is_return", Boolean, nullable=False, comment="cancellation invoice (C...)"),
    Column("source_file", String(512), nullable=False),
    Index(None, "customer_id", "order_date"),
)


def orders_partition(name: str) -> TableClause:
    """One of PostgreSQL's `orders` partitions (migration 0015), with the stored `customer_hash`
    (migration 0012): reading a leaf directly skips the partition pruning of every probe."""
    columns = [(line.name, line.type) for line in orders.columns] + [("customer_hash", BigInteger())]
    return table(name, *(column(*spec) for spec in columns))


def orders_of_customers(dialect: str, customer_ids: Iterable[str]) -> list[tuple[FromClause, list[str]]]:
    """The tables that hold these customers' order lines, each with its customers (in given order).
    On PostgreSQL the `orders` partitions, read directly: the partition key is the id's hash, so a
    lookup by `customer_id` through the parent probes all 33 partitions' indexes (or pays run-time
    pruning on each probe); elsewhere `orders` itself."""
    ids = list(customer_ids)
    if dialect != "postgresql":
        return [(orders, ids)] if ids else []
    by_partition: dict[str, list[str]] = {}
    for customer_id in ids:
        by_partition.setdefault(order_partition_of(customer_id), []).append(customer_id)
    return [(orders_partition(name), members) for name, members in sorted(by_partition.items())]


quarantine = Table(
    "quarantine",
    metadata,
    Column("file_date", Date, primary_key=True),
    Column("file_kind", String(16), primary_key=True, comment="orders | customers"),
    Column("source_line", Integer, primary_key=True),
    Column("source_file", String(512), nullable=False),
    Column("reason", String(512), nullable=False),
    Column("raw_line", Text, nullable=False),
)

ingest_days = Table(
    "ingest_days",
    metadata,
    Column("file_date", Date, primary_key=True),
    Column("file_kind", String(16), primary_key=True),
    Column("status", String(16), nullable=False, comment="loaded | no_trading | failed"),
    Column("source_file", String(512)),
    Column("rows_read", Integer, nullable=False, default=0),
    Column("rows_loaded", Integer, nullable=False, default=0),
    Column("rows_quarantined", Integer, nullable=False, default=0),
    Column("validation_success", Boolean),
    Column("validation_result", JSON, comment="expectation -> success, unexpected count"),
    Column("detail", Text, comment="no_trading: why the shop was closed; failed: what to fix"),
)

products = Table(
    "products",
    metadata,
    Column("stock_code", String(32), primary_key=True),
    Column("description", Text, comment="latest non-empty description seen"),
    Column("unit_price", Float, comment="latest positive price seen"),
    Column("first_seen", Date, nullable=False),
    Column("last_seen", Date, nullable=False),
)


#: product_days.baskets (migration 0018): what the profiles' product counts add up over 30 and 60 days
PURCHASE_BASKETS_COMMENT = "(customer or guest, invoice) pairs with a purchase line: no return, positive quantity"

product_days = Table(
    "product_days",
    metadata,
    Column("stock_code", String(32), primary_key=True),
    Column("order_date", Date, primary_key=True),
    Column("description", Text, comment="the day's latest non-empty description"),
    Column("unit_price", Float, comment="the day's latest positive price"),
    Column("baskets", Integer, nullable=False, server_default="0", comment=PURCHASE_BASKETS_COMMENT),
    Column("units", BigInteger, nullable=False, server_default="0", comment="units on the day's purchase lines"),
    Column("revenue", Float, nullable=False, server_default="0", comment="quantity x unit price of the day's purchase lines"),
)

product_day_descriptions = Table(
    "product_day_descriptions",
    metadata,
    Column("stock_code", String(32), primary_key=True),
    Column("order_date", Date, primary_key=True),
    Column("description", Text, primary_key=True),
    Column("invoice_ts", DateTime, nullable=False, comment="time of the day's latest described purchase line"),
)

customers = Table(
    "customers",
    metadata,
    Column("customer_id", String(16), primary_key=True),
    Column("country", String(64), nullable=False, comment="country of the latest order"),
    Column("first_order_date", Date, nullable=False),
    Column("last_order_date", Date, nullable=False),
)

customer_contacts = Table(
    "customer_contacts",
    metadata,
    Column("customer_id", String(16), primary_key=True),
    Column("email", String(320), nullable=False),
    Column("updated_on", Date, nullable=False),
)

consent_events = Table(
    "consent_events",
    metadata,
    Column("customer_id", String(16), primary_key=True),
    Column("effective_date", Date, primary_key=True),
    Column("marketing_consent", Boolean, nullable=False),
    Column("email", String(320), comment="address on file that day; customer_contacts holds the latest"),
    Column("source_file", String(512), nullable=False),
)

# --- profiles -----------------------------------------------------------------------------------

product_groups = Table(
    "product_groups",
    metadata,
    Column("as_of_date", Date, primary_key=True, comment="groups valid on this day"),
    Column("stock_code", String(32), primary_key=True),
    Column("description", Text, comment="latest description as of the day"),
    Column("group_id", Integer, nullable=False),
    Column("group_name", String(128), nullable=False, comment="named after the words members share"),
    Column("fitted_on", Date, nullable=False, comment="catalogue day the groups were fitted on"),
)

product_stats = Table(
    "product_stats",
    metadata,
    Column("as_of_date", Date, primary_key=True),
    Column("stock_code", String(32), primary_key=True),
    Column("description", Text),
    Column("purchases_30d", Integer, nullable=False, comment="invoices with it, last 30 days"),
    Column("purchases_prev_30d", Integer, nullable=False, comment="invoices with it, the 30 days before"),
    Column("customers_30d", Integer, nullable=False),
    Column("units_30d", Integer, nullable=False),
    Column("revenue_30d", Float, nullable=False),
    Column("popularity_rank", Integer, comment="1 = most purchased in the last 30 days"),
    Column("trend_ratio", Float, nullable=False, comment="(last 30 + 1) / (previous 30 + 1)"),
    Column("trend", String(16), nullable=False, comment="new | rising | steady | falling"),
)

customer_profiles = Table(
    "customer_profiles",
    metadata,
    Column("as_of_date", Date, primary_key=True),
    Column("customer_id", String(16), primary_key=True),
    Column("country", String(64)),
    Column("recency_days", Integer, nullable=False),
    Column("frequency", Integer, nullable=False, comment="distinct purchase invoices"),
    Column("monetary", Float, nullable=False, comment="net spend to date"),
    Column("tenure_days", Integer, nullable=False),
    Column("avg_basket_value", Float, nullable=False),
    Column("return_rate", Float, nullable=False),
    Column("purchases_30d", Integer, nullable=False),
    Column("purchases_90d", Integer, nullable=False),
    Column("purchases_365d", Integer, nullable=False),
    Column("favourite_products", JSON),
    Column("favourite_group", String(128)),
    Column("price_band", String(16)),
    Column("marketing_consent", Boolean, nullable=False, default=False),
    Column("r_score", Integer, nullable=False),
    Column("f_score", Integer, nullable=False),
    Column("m_score", Integer, nullable=False),
    Column("segment", String(32), nullable=False),
    Column("expected_purchases_90d", Float),
    Column("expected_spend_90d", Float),
    Index(None, "as_of_date", "segment"),
)

#: A day's profiles while the sharded build writes them (no scores yet: they rank the whole day);
#: the day's finishing step scores them and moves the day into `customer_profiles` at once.
customer_profiles_staging = Table(
    "customer_profiles_staging",
    metadata,
    Column("as_of_date", Date, primary_key=True),
    Column("customer_id", String(16), primary_key=True),
    Column("country", String(64)),
    Column("recency_days", Integer, nullable=False),
    Column("frequency", Integer, nullable=False),
    Column("monetary", Float, nullable=False),
    Column("tenure_days", Integer, nullable=False),
    Column("avg_basket_value", Float, nullable=False),
    Column("return_rate", Float, nullable=False),
    Column("purchases_30d", Integer, nullable=False),
    Column("purchases_90d", Integer, nullable=False),
    Column("purchases_365d", Integer, nullable=False),
    Column("favourite_products", JSON),
    Column("favourite_group", String(128)),
    Column("price_band", String(16)),
    Column("marketing_consent", Boolean, nullable=False),
    Column("expected_purchases_90d", Float),
    Column("expected_spend_90d", Float),
)

# --- models -------------------------------------------------------------------------------------

model_registry = Table(
    "model_registry",
    metadata,
    Column("model_id", String(64), primary_key=True),
    Column("model_kind", String(32), nullable=False, comment="recommender | propensity"),
    Column("trained_as_of", Date, nullable=False),
    Column("data_start", Date),
    Column("data_end", Date),
    Column("params", JSON),
    Column("metrics", JSON),
    Column("code_version", String(64)),
    Column("artifact_uri", String(1024)),
    Column("status", String(16), nullable=False, comment="challenger | champion | retired | rejected"),
    Column("decision", Text, comment="why it was or was not promoted"),
    Column("registered_at", DateTime, nullable=False),
    Column("promoted_at", DateTime),
    Index(None, "model_kind", "status"),
)

recommendations = Table(
    "recommendations",
    metadata,
    Column("as_of_date", Date, primary_key=True, comment="purchases on or before this day were used"),
    Column("customer_id", String(16), primary_key=True),
    Column("rank", Integer, primary_key=True),
    Column("model_id", String(64), ForeignKey("model_registry.model_id"), nullable=False),
    Column("stock_code", String(32), nullable=False),
    Column("score", Float, nullable=False),
    Column("reason", String(512)),
)

audience_scores = Table(
    "audience_scores",
    metadata,
    Column("as_of_date", Date, primary_key=True),
    Column("customer_id", String(16), primary_key=True),
    Column("model_id", String(64), ForeignKey("model_registry.model_id"), nullable=False),
    Column("propensity_30d", Float, nullable=False),
)

# --- campaigns ----------------------------------------------------------------------------------

campaign_runs = Table(
    "campaign_runs",
    metadata,
    Column("run_key", String(128), primary_key=True, comment="campaign + run day"),
    Column("campaign", String(64), nullable=False),
    Column("run_day", Date, nullable=False, comment="the day D the run works on (see marketflow.days)"),
    Column("send_mode", String(16), nullable=False, comment="live | backfill | dry_run"),
    Column(
        "status",
        String(16),
        nullable=False,
        comment="last step done: planned | blocked | selected | rendered | sent | send_skipped | synced | reported",
    ),
    Column("audience_size", Integer, nullable=False, default=0),
    Column("treatment_size", Integer, nullable=False, default=0),
    Column("control_size", Integer, nullable=False, default=0),
    Column(
        "attribution_days",
        Integer,
        nullable=False,
        default=14,
        server_default="14",
        comment="N: orders of days D+1 .. D+N count for the run (its campaign's attribution_days when it ran)",
    ),
    Column("exclusion_counts", JSON, comment="exclusion reason -> customers left out"),
    Column("inputs", JSON, comment="input -> the as-of date the run used (orders, profiles, scores, ...)"),
    Column("blocked_reason", Text, comment="why the run contacted nobody: stale or missing inputs"),
    Column("report", JSON, comment="treatment vs control, uplift with 95% intervals, per variant"),
    Index(None, "campaign", "run_day"),
)

audience_members = Table(
    "audience_members",
    metadata,
    Column("run_key", String(128), ForeignKey("campaign_runs.run_key"), primary_key=True),
    Column("customer_id", String(16), primary_key=True),
    Column("arm", String(16), comment="treatment | control | excluded"),
    Column("variant", String(32)),
    Column("exclusion_reason", String(64)),
    Column("propensity_30d", Float),
    Column(
        "top_reasons",
        JSON(none_as_null=True),
        comment="treatment and control: feature -> SHAP contribution (log-odds) to the score the run used, "
        "largest |value| first; NULL: no score, or it could not be explained",
    ),
    Column("consent_given", Boolean, comment="the consent the selection relied on (NULL: none on record)"),
    Column("consent_effective_date", Date, comment="the day of that CRM consent event"),
    Column("consent_source", String(512), comment="the CRM export it came from"),
)

messages = Table(
    "messages",
    metadata,
    Column("run_key", String(128), ForeignKey("campaign_runs.run_key"), primary_key=True),
    Column("customer_id", String(16), primary_key=True),
    Column("channel", String(16), primary_key=True, comment="email | ads"),
    Column(
        "status",
        String(16),
        nullable=False,
        comment="rendered | sending | sent | failed | bounced | cancelled | unknown (in doubt after a crash)",
    ),
    Column("message_id", String(255), comment="RFC 5322 Message-ID, set before sending"),
    Column("recipient", String(320), comment="address fixed at render time"),
    Column("variant", String(32)),
    Column("subject", String(255)),
    Column("body_text", Text),
    Column("body_html", Text),
    Column("copy_source", String(64), comment="template | llm | template_fallback:<why>"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("attempted_at", DateTime, comment="when the latest attempt claimed the row (UTC)"),
    Column("claimed_by", String(128), comment="the claiming worker: host:pid:process start time"),
    Column("sent_at", DateTime),
    Column("error", Text),
)

engagement_events = Table(
    "engagement_events",
    metadata,
    Column("event_id", String(128), primary_key=True),
    Column("message_id", String(255)),
    Column("customer_id", String(16)),
    Column("event_type", String(16), nullable=False, comment="delivered|open|click|unsubscribe|bounce"),
    Column("occurred_at", DateTime, nullable=False),
    Column("source", String(512)),
    Index(None, "customer_id", "occurred_at"),
)

suppressions = Table(
    "suppressions",
    metadata,
    Column("customer_id", String(16), primary_key=True),
    Column("reason", String(32), primary_key=True, comment="unsubscribe | bounce | complaint | manual"),
    Column("since", DateTime, nullable=False),
    Column("source", String(512)),
)

ad_audience_exports = Table(
    "ad_audience_exports",
    metadata,
    Column("run_key", String(128), ForeignKey("campaign_runs.run_key"), primary_key=True),
    Column("platform", String(32), primary_key=True, comment="google_ads | meta"),
    Column("artifact_uri", String(1024), nullable=False),
    Column("rows", Integer, nullable=False),
    Column("webhook_status", String(64)),
)

# --- privacy ------------------------------------------------------------------------------------

erasures = Table(
    "erasures",
    metadata,
    Column("customer_pseudonym", String(64), primary_key=True, comment="HMAC-SHA256 of the customer id"),
    Column("email_pseudonyms", JSON, nullable=False, comment="HMAC-SHA256 of every address we held for them"),
    Column("erased_at", DateTime, nullable=False),
    Column("source", String(256), nullable=False, comment="who asked, how: the request's reference"),
    Column("removed", JSON, nullable=False, comment="table or file -> rows removed or unlinked"),
)


retention_runs = Table(
    "retention_runs",
    metadata,
    Column("run_day", Date, primary_key=True, comment="the ingested day D whose retention run this was"),
    Column("target", String(64), primary_key=True, comment="what was removed: landing files, message bodies, ..."),
    Column("older_than", Date, nullable=False, comment="the cut-off: what was dated before it went"),
    Column("removed", Integer, nullable=False, comment="items removed by the runs of this day, summed"),
    Column("enforced_at", DateTime, nullable=False, comment="when the day's first run removed them"),
)
