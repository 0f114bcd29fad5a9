"""The Airflow Assets that link the pipeline's DAGs (producer `outlets=` -> consumer `schedule=`).

Contract: a producer attaches `marketflow.days.event_extra(days)` to each asset event
(`{"partition_date": last day, "partition_dates": [every day]}`), so a data-triggered consumer knows
which days changed.
"""

from __future__ import annotations

from airflow.sdk import Asset

ORDERS = Asset(name="marketflow_orders", uri="marketflow://warehouse/orders", group="marketflow")
CUSTOMER_PROFILES = Asset(
    name="marketflow_customer_profiles", uri="marketflow://warehouse/customer_profiles", group="marketflow"
)
RECOMMENDATIONS = Asset(
    name="marketflow_recommendations", uri="marketflow://warehouse/recommendations", group="marketflow"
)
AUDIENCE_SCORES = Asset(
    name="marketflow_audience_scores", uri="marketflow://warehouse/audience_scores", group="marketflow"
)
