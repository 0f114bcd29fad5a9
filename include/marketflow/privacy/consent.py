"""Consent you can prove: for every message, the consent its selection relied on, and the history.

The selection stores, with each audience member, the latest CRM consent event on or before the
run's day (state, day, export file), so the proof does not depend on what later exports say.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from marketflow.warehouse import schema


def consent_trail(engine: Engine, customer_id: str) -> dict[str, list[dict[str, Any]]]:
    """`{messages: [...], history: [...]}`: each message with the consent it was sent under, and
    every consent event on record, oldest first."""
    m, a, r, c = schema.messages.c, schema.audience_members.c, schema.campaign_runs.c, schema.consent_events.c
    stmt = (
        select(m.run_key, r.campaign, r.run_day, r.send_mode, m.channel, m.status, m.sent_at,
               a.consent_given, a.consent_effective_date, a.consent_source)
        .join(schema.campaign_runs, r.run_key == m.run_key)
        .join(schema.audience_members, (a.run_key == m.run_key) & (a.customer_id == m.customer_id), isouter=True)
        .where(m.customer_id == customer_id.strip())
        .order_by(r.run_day, m.run_key, m.channel)
    )
    history = (
        select(c.effective_date, c.marketing_consent, c.source_file)
        .where(c.customer_id == customer_id.strip())
        .order_by(c.effective_date)
    )
    with engine.connect() as conn:
        return {
            "messages": [dict(row) for row in conn.execute(stmt).mappings()],
            "history": [dict(row) for row in conn.execute(history).mappings()],
        }
