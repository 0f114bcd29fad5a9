"""A seeded warehouse and the campaign runs of the DAG tests.

`run_dag(dag_id, RUN_FOR)` infers the last complete data interval before RUN_FOR: for the winback
(Mondays 07:00) and the cross-sell (daily 08:00) the run is due on 2011-10-03, so it works on
CAMPAIGN_DAY, 2011-10-02 (`marketflow.days.interval_day`), the day the warehouse is seeded for
(profiles, scores, recommendations and the day's exports recorded as ingested: fresh inputs).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from marketflow.warehouse import schema, warehouse_engine
from tests.campaigns.seed import Customer, seed_catalogue, seed_customers

RUN_FOR = dt.date(2011, 10, 4)
CAMPAIGN_DAY = dt.date(2011, 10, 2)
TASKS = ["plan_run", "wait_for_inputs", "select_audience", "render_messages", "send_emails", "sync_ad_audiences", "report_run"]
QUIET_REGULARS = [
    Customer(str(19000 + i), segment="at_risk" if i % 3 else "cant_lose", recency_days=90 + i, frequency=3)
    for i in range(30)
]


def conf(*, dry_run: bool = False, force_send: bool = False) -> dict[str, bool]:
    """Both params, always: Airflow 3.3's `process_params` stores a run's conf in the DAG's shared
    `Param` objects, so within one process a value left out would be the previous run's."""
    return {"dry_run": dry_run, "force_send": force_send}


def seed(people: list[Customer]) -> None:
    engine = warehouse_engine()
    seed_catalogue(engine)
    seed_customers(engine, people, day=CAMPAIGN_DAY)


def run_row(run_key: str) -> dict[str, Any]:
    with warehouse_engine().connect() as conn:
        return dict(conn.execute(select(schema.campaign_runs).where(schema.campaign_runs.c.run_key == run_key)).mappings().one())


def ledger(run_key: str) -> dict[str, str]:
    """Message-ID -> status of the run's e-mails."""
    m = schema.messages.c
    with warehouse_engine().connect() as conn:
        return dict(conn.execute(select(m.message_id, m.status).where(m.run_key == run_key)).all())
