"""Row counts and checksums of the ingest tables, to prove that a re-run changed nothing."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import Engine, select

from marketflow.warehouse import schema

INGEST_TABLES = (
    schema.orders,
    schema.quarantine,
    schema.ingest_days,
    schema.products,
    schema.product_days,
    schema.product_day_descriptions,
    schema.customers,
    schema.consent_events,
    schema.customer_contacts,
)


def _canonical(value: Any) -> str:
    if isinstance(value, (dict, list)):
        return json.dumps(value, sort_keys=True)
    return repr(value)


def table_fingerprints(engine: Engine) -> dict[str, tuple[int, str]]:
    """table -> (row count, sha256 over its rows in primary-key order)."""
    fingerprints = {}
    with engine.connect() as conn:
        for table in INGEST_TABLES:
            digest = hashlib.sha256()
            count = 0
            rows = conn.execute(select(table).order_by(*table.primary_key.columns))
            for row in rows:
                digest.update("\x1f".join(_canonical(value) for value in row).encode())
                digest.update(b"\n")
                count += 1
            fingerprints[table.name] = (count, digest.hexdigest())
    return fingerprints
