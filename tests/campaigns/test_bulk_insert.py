"""`sqlutil.bulk_insert` (COPY on PostgreSQL, executemany on SQLite) stores exactly what SQLAlchemy's
`insert()` stores, on both backends: NULL apart from the empty string, quotes, commas, newlines and
backslashes in text, JSON, dates, booleans and floats to the last bit."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Table, select

from marketflow.audiences.selection import MEMBER_COLUMNS
from marketflow.campaigns.pipeline import LEDGER_COLUMNS
from marketflow.campaigns.sqlutil import bulk_insert
from marketflow.warehouse import schema, warehouse_engine

TRICKY = ['', 'say "hi", then\nleave', 'back\\slash\\N', 'ünïcødé £2.55', 'NULL', ',', '"']


def _members(run_key: str) -> list[dict[str, Any]]:
    rows = []
    for i, text in enumerate(TRICKY):
        rows.append({
            "run_key": run_key, "customer_id": f"c{i}", "arm": ("treatment", "control", "excluded")[i % 3],
            "variant": text if i % 2 else None, "exclusion_reason": None if i % 2 else text,
            "propensity_30d": (0.1, 1e-17, 0.30000000000000004, None, 123456.789, 2 / 3, 1.0)[i],
            "top_reasons": None if i == 3 else {"recency_days": -0.1234, text or "x": 1e-05, "quote \"'": 2.0},
            "consent_given": (True, False, None)[i % 3],
            "consent_effective_date": None if i == 4 else dt.date(2011, 1, 1) + dt.timedelta(days=i),
            "consent_source": text,
        })
    return rows


def _messages(run_key: str) -> list[dict[str, Any]]:
    return [
        {"run_key": run_key, "customer_id": f"c{i}", "channel": "email", "status": "rendered",
         "message_id": f"<{i}@shop.example>", "recipient": f"c{i}@example.com", "variant": text or None,
         "subject": text, "body_text": f"Hello {text}\r\n\tline two\n" * 3, "body_html": f"<p class=\"x\">{text}</p>",
         "copy_source": "template", "attempts": i}
        for i, text in enumerate(TRICKY)
    ]


def _stored(conn: Any, table: Table, run_key: str) -> list[tuple]:
    rows = conn.execute(select(table).where(table.c.run_key == run_key).order_by(table.c.customer_id)).all()
    return [tuple(row)[1:] for row in rows]  # without the run key


def test_bulk_insert_stores_what_insert_stores(warehouse_url: str) -> None:
    engine = warehouse_engine(warehouse_url)
    with engine.begin() as conn:
        for key in ("by_insert", "by_bulk"):
            conn.execute(schema.campaign_runs.insert().values(
                run_key=key, campaign="c", run_day=dt.date(2011, 10, 1), send_mode="live", status="selected"))
        for table, columns, make in ((schema.audience_members, MEMBER_COLUMNS, _members),
                                     (schema.messages, LEDGER_COLUMNS, _messages)):
            conn.execute(table.insert(), make("by_insert"))
            rows = make("by_bulk")
            # 3 rows a statement: the 7 rows go in 3 statements (COPYs on PostgreSQL)
            assert bulk_insert(conn, table, columns, (tuple(row[c] for c in columns) for row in rows), size=3) == len(rows)
            assert bulk_insert(conn, table, columns, []) == 0
    with engine.connect() as conn:
        for table in (schema.audience_members, schema.messages):
            expected = _stored(conn, table, "by_insert")
            assert len(expected) == len(TRICKY)
            assert _stored(conn, table, "by_bulk") == expected
        a = schema.audience_members.c
        variants = conn.execute(select(a.customer_id, a.exclusion_reason).where(a.run_key == "by_bulk")).all()
        assert dict(variants)["c0"] == "" and dict(variants)["c1"] is None, "'' stays '', None stays NULL"
