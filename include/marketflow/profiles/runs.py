"""What a `build_profiles` run checks before building, and the summary it logs.

Which days a run builds follows the pipeline's one convention (`marketflow.days`: `event_work` for event-triggered runs, `run_days` for the others).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from sqlalchemy import Engine

from marketflow.days import day_list
from marketflow.freshness import day_is_ingested


def missing_orders(engine: Engine, days: Sequence[dt.date]) -> str | None:
    """Why the orders of `days` cannot be profiled yet (a day whose exports are not both ingested),
    or None: a snapshot is never built on a day's incomplete orders."""
    with engine.connect() as conn:
        missing = [day for day in days if not day_is_ingested(conn, day)]
    if not missing:
        return None
    return (
        f"orders of {len(missing)} day(s) are not ingested: {day_list(missing)}; ingest_orders must load (or record as "
        "closed) each day before its profiles are built"
    )


def segment_summary(as_of: dt.date, counts: Mapping[str, int]) -> str:
    """A short table of customers per segment for the task log."""
    total = sum(counts.values())
    lines = [f"customer segments as of {as_of.isoformat()}: {total} customers"]
    for segment, customers in counts.items():
        share = customers / total if total else 0.0
        lines.append(f"  {segment:<20} {customers:>6}  {share:6.1%}")
    return "\n".join(lines)
