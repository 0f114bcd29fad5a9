"""Subject access: everything the warehouse holds about one person, as one JSON document.

The same rows erasure removes (`marketflow.privacy.erase`): their personal tables, their order
lines, messages with their full text, engagement events and quarantined export lines that name them.
Files we wrote hold nothing the warehouse does not (ad-audience files hold hashes of the address
listed here, outbox e-mails the messages listed here).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Engine, select

from marketflow.privacy.erase import PERSONAL_TABLES, addresses, their_events, their_quarantined_lines
from marketflow.warehouse import schema


def _rows(result: Any) -> list[dict[str, Any]]:
    return [dict(row) for row in result.mappings()]


def subject_access(engine: Engine, customer_id: str, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """`{customer_id, generated_at, addresses, tables: {table: [rows]}}`; every table is listed, empty or not."""
    customer_id = customer_id.strip()
    with engine.connect() as conn:
        emails = addresses(conn, customer_id)
        tables = {table.name: _rows(conn.execute(select(table).where(table.c.customer_id == customer_id)))
                  for table in (schema.orders, *PERSONAL_TABLES, schema.messages)}
        tables["engagement_events"] = _rows(conn.execute(
            select(schema.engagement_events).where(their_events(conn, customer_id))))
        tables["quarantine"] = [dict(row) for row in their_quarantined_lines(conn, customer_id, emails)]
    return {
        "customer_id": customer_id,
        "generated_at": (now or dt.datetime.now(dt.timezone.utc)).isoformat(timespec="seconds"),
        "addresses": sorted(emails),
        "tables": tables,
    }
