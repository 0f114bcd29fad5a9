"""Fill a warehouse with what the UI pages display, from a slice of the real order history.

For the in-process app tests (test_app.py, test_plugin.py), which need several runs per campaign and
model histories in seconds; the browser tests look at a warehouse the demo filled instead
(`tests/ui/demo_run.py`). Orders come from the real CSV files
(so conversions are real purchases), ingest days and quarantine follow from those files, campaign
audiences are real customers split into arms by a stable hash; model registry rows and message
copy are direct inserts. Nothing here is read back by the code under test except through the pages.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import Connection, insert, select

from marketflow.warehouse import warehouse_engine
from marketflow.warehouse.schema import (
    audience_members,
    campaign_runs,
    customer_contacts,
    engagement_events,
    ingest_days,
    messages,
    model_registry,
    orders,
    quarantine,
)

#: The CRM export every seeded member's consent comes from (shown to admins as its proof).
CONSENT_DAY = dt.date(2011, 6, 1)


@dataclass
class SeedFacts:
    """What was written, for tests to compare the pages against."""

    order_lines: int = 0
    quarantined: int = 0
    days: dict[str, int] = field(default_factory=dict)
    campaigns: dict[str, list[str]] = field(default_factory=dict)
    emails: dict[str, str] = field(default_factory=dict)
    champion: dict[str, str] = field(default_factory=dict)
    crm_days: dict[dt.date, str] = field(default_factory=dict)


def _bucket(*parts: str) -> int:
    return int(hashlib.sha256(":".join(parts).encode()).hexdigest()[:8], 16) % 100


def _customer(raw: str) -> str | None:
    raw = raw.strip()
    return raw.split(".")[0] if raw else None


def load_order_files(conn: Connection, data_dir: Path, start: dt.date, end: dt.date, facts: SeedFacts) -> None:
    """Real order lines of [start, end]; bad lines (negative price, zero quantity) to quarantine."""
    day = start
    while day <= end:
        path = data_dir / f"{day.isoformat()}.csv"
        if not path.exists():
            conn.execute(
                insert(ingest_days).values(
                    file_date=day, file_kind="orders", status="no_trading", rows_read=0, rows_loaded=0,
                    rows_quarantined=0, validation_success=None, validation_result=None,
                    detail="Saturday: the shop does not trade" if day.weekday() == 5 else "no export that day",
                )
            )
            facts.days["no_trading"] = facts.days.get("no_trading", 0) + 1
            day += dt.timedelta(days=1)
            continue
        good, bad = [], []
        with path.open(newline="", encoding="utf-8") as handle:
            for line_no, row in enumerate(csv.DictReader(handle), start=2):
                quantity, price = int(row["Quantity"]), float(row["UnitPrice"])
                if price < 0 or quantity == 0:
                    reason = "unit_price is negative" if price < 0 else "quantity is zero"
                    bad.append(
                        {"file_date": day, "file_kind": "orders", "source_line": line_no, "source_file": path.name,
                         "reason": reason, "raw_line": ",".join(row.values())}
                    )
                    continue
                good.append(
                    {
                        "order_date": day, "source_line": line_no, "invoice_no": row["InvoiceNo"],
                        "stock_code": row["StockCode"], "description": row["Description"].strip() or None,
                        "quantity": quantity, "invoice_ts": dt.datetime.fromisoformat(row["InvoiceDate"]),
                        "unit_price": price, "customer_id": _customer(row["CustomerID"]),
                        "country": row["Country"], "is_return": row["InvoiceNo"].startswith("C"),
                        "source_file": path.name,
                    }
                )
        conn.execute(insert(orders), good)
        if bad:
            conn.execute(insert(quarantine), bad)
        negative = sum(1 for b in bad if b["reason"] == "unit_price is negative")
        conn.execute(
            insert(ingest_days).values(
                file_date=day, file_kind="orders", status="loaded", source_file=path.name,
                rows_read=len(good) + len(bad), rows_loaded=len(good), rows_quarantined=len(bad),
                validation_success=not bad,
                validation_result={  # the shape `DayValidation.to_json` stores
                    "expectations": {
                        "unit_price_not_negative": {"success": negative == 0, "unexpected_count": negative},
                        "invoice_no_format": {"success": True, "unexpected_count": 0},
                    },
                    "parameters": {},
                },
            )
        )
        facts.order_lines += len(good)
        facts.quarantined += len(bad)
        facts.days["loaded"] = facts.days.get("loaded", 0) + 1
        day += dt.timedelta(days=1)


def seed_crm_files(conn: Connection, facts: SeedFacts) -> None:
    """Two days of the CRM's customers file: one loaded, one refused (a day with a problem)."""
    files = [
        {"file_date": dt.date(2011, 10, 3), "file_kind": "customers", "status": "loaded", "rows_read": 20,
         "rows_loaded": 20, "rows_quarantined": 0, "validation_success": True, "validation_result": None,
         "detail": None},
        {"file_date": dt.date(2011, 10, 4), "file_kind": "customers", "status": "failed", "rows_read": 0,
         "rows_loaded": 0, "rows_quarantined": 0, "validation_success": None, "validation_result": None,
         "detail": "customers-2011-10-04.csv: the header row is missing"},
    ]
    conn.execute(insert(ingest_days), files)
    facts.crm_days.update({f["file_date"]: f["status"] for f in files})


def seed_models(conn: Connection, facts: SeedFacts) -> None:
    """A recommender and a propensity history: weekly versions, one promoted per kind."""
    base = dt.date(2011, 9, 4)
    for kind, metrics_of in {
        "recommender": lambda i: {"all": {"ndcg@10": 0.21 + 0.012 * i, "recall@10": 0.30 + 0.01 * i},
                                  "new": {"ndcg@10": 0.041 + 0.004 * i, "recall@10": 0.062 + 0.005 * i},
                                  "popularity_baseline": {"all": {"ndcg@10": 0.1 + 0.001 * i}},
                                  "coverage": 0.18 + 0.02 * i},
        "propensity": lambda i: {"calibration_auc": 0.78 + 0.006 * i, "recency_baseline_auc": 0.7,
                                 "calibration_base_rate": 0.3, "calibration_mean_prediction": 0.29 + 0.002 * i},
    }.items():
        for week in range(4):
            as_of = base + dt.timedelta(weeks=week)
            model_id = f"{kind}-{as_of:%Y%m%d}"
            status = "champion" if week == 2 else ("retired" if week < 2 else "rejected")
            if status == "champion":
                facts.champion[kind] = model_id
            conn.execute(
                insert(model_registry).values(
                    model_id=model_id, model_kind=kind, trained_as_of=as_of, data_start=dt.date(2010, 12, 1),
                    data_end=as_of, params={"seed": 7}, metrics=metrics_of(week), code_version="test",
                    artifact_uri=f"file:///models/{model_id}", status=status,
                    decision="beat the champion on ndcg@10" if status == "champion" else "did not beat the champion",
                    registered_at=dt.datetime.combine(as_of, dt.time(3)),
                    promoted_at=dt.datetime.combine(as_of, dt.time(4)) if status == "champion" else None,
                )
            )


def seed_campaign(
    conn: Connection,
    name: str,
    run_dates: list[dt.date],
    send_mode: str,
    facts: SeedFacts,
    attribution_days: int,
    max_audience: int = 300,
) -> None:
    """Lapsed buyers (bought 15..75 days before the run, not since) split 80/20 by a stable hash;
    live runs get opens and clicks, and a stored report that records the attribution window."""
    history = defaultdict(list)
    for customer_id, day in conn.execute(
        select(orders.c.customer_id, orders.c.order_date).where(orders.c.customer_id.is_not(None)).distinct()
    ):
        history[customer_id].append(day)
    facts.campaigns[name] = []
    for run_date in run_dates:
        run_key = f"{name}:{run_date.isoformat()}"
        facts.campaigns[name].append(run_key)
        lapsed = sorted(
            c for c, days in history.items()
            if any(run_date - dt.timedelta(days=75) <= d <= run_date - dt.timedelta(days=15) for d in days)
            and not any(run_date - dt.timedelta(days=15) < d <= run_date for d in days)
        )[:max_audience]
        members, rendered, events = [], [], []
        for customer_id in lapsed:
            bucket = _bucket(name, customer_id)
            if bucket < 5:
                members.append({"run_key": run_key, "customer_id": customer_id, "arm": "excluded",
                                "variant": None, "exclusion_reason": "frequency_cap", "propensity_30d": None,
                                "consent_given": None, "consent_effective_date": None, "consent_source": None})
                continue
            arm = "control" if bucket < 25 else "treatment"
            variant = "A" if _bucket("variant", name, customer_id) < 50 else "B"
            members.append({"run_key": run_key, "customer_id": customer_id, "arm": arm, "variant": variant,
                            "exclusion_reason": None, "propensity_30d": bucket / 100, "consent_given": True,
                            "consent_effective_date": CONSENT_DAY, "consent_source": f"customers-{CONSENT_DAY}.csv"})
            email = f"customer{customer_id}@example.com"
            facts.emails[customer_id] = email
            if arm == "treatment":
                subject = "We miss you" if variant == "A" else "Something new for you"
                message_id = f"<{run_key}.{customer_id}@marketflow.test>"
                unsubscribe = f"https://shop.example/unsubscribe?u={hashlib.md5(message_id.encode()).hexdigest()}"
                engaged = _bucket("engagement", run_key, customer_id)
                for kind, share in (("open", 35), ("click", 9)):
                    if send_mode == "live" and engaged < share:
                        events.append({"event_id": f"{kind}:{message_id}", "message_id": message_id,
                                       "customer_id": customer_id, "event_type": kind,
                                       "occurred_at": dt.datetime.combine(run_date + dt.timedelta(days=2), dt.time(9)),
                                       "source": "seed"})
                rendered.append(
                    {"run_key": run_key, "customer_id": customer_id, "channel": "email",
                     "status": "sent" if send_mode == "live" else "rendered", "recipient": email,
                     "message_id": message_id, "variant": variant,
                     "subject": subject,
                     "body_text": f"Hello again! {subject}.\n\nThis message was sent to {email}. Unsubscribe: {unsubscribe}",
                     "body_html": f"<p>Hello again! <b>{subject}</b>.</p><p><small>Sent to {email}. "
                                  f'<a href="{unsubscribe}">Unsubscribe</a></small></p>',
                     "copy_source": "template", "attempts": 1 if send_mode == "live" else 0,
                     "sent_at": dt.datetime.combine(run_date + dt.timedelta(days=1), dt.time(6))
                     if send_mode == "live" else None}
                )
        treatment = sum(1 for m in members if m["arm"] == "treatment")
        control = sum(1 for m in members if m["arm"] == "control")
        window = {"start": (run_date + dt.timedelta(days=1)).isoformat(),
                  "end": (run_date + dt.timedelta(days=attribution_days)).isoformat()}
        conn.execute(
            insert(campaign_runs).values(
                run_key=run_key, campaign=name, run_day=run_date, send_mode=send_mode,
                status="reported", audience_size=treatment + control, treatment_size=treatment,
                control_size=control, attribution_days=attribution_days, report={"run_key": run_key, "send_mode": send_mode, "window": window},
            )
        )
        if members:
            conn.execute(insert(audience_members), members)
        if rendered:
            conn.execute(insert(messages), rendered)
        if events:
            conn.execute(insert(engagement_events), events)
    known = {row.customer_id for row in conn.execute(select(customer_contacts.c.customer_id))}
    new_contacts = [
        {"customer_id": c, "email": e, "updated_on": dt.date(2011, 8, 1)}
        for c, e in facts.emails.items()
        if c not in known
    ]
    if new_contacts:
        conn.execute(insert(customer_contacts), new_contacts)


def seed_warehouse(conn: Connection, data_dir: Path) -> SeedFacts:
    """The full picture the browser tests look at: Aug-Oct 2011 orders, models, two campaigns."""
    facts = SeedFacts()
    load_order_files(conn, data_dir, dt.date(2011, 8, 1), dt.date(2011, 10, 31), facts)
    seed_crm_files(conn, facts)
    seed_models(conn, facts)
    winback_days = [dt.date(2011, 9, 1), dt.date(2011, 9, 15), dt.date(2011, 10, 1)]
    seed_campaign(conn, "winback", winback_days, "live", facts, attribution_days=30)
    seed_campaign(
        conn, "reorder_reminder", [dt.date(2011, 10, 1)], "backfill", facts, attribution_days=14, max_audience=120
    )
    return facts


def recount_conversions(url: str, campaign: str) -> dict[str, tuple[int, int]]:
    """Conversions per arm over the runs that sent messages, in each run's recorded window, in plain
    Python from the raw order lines (a purchase: not a return, quantity above zero)."""
    with warehouse_engine(url).connect() as conn:
        runs = {
            r.run_key: (r.run_day, r.run_day + dt.timedelta(days=r.attribution_days))
            for r in conn.execute(select(campaign_runs).where(campaign_runs.c.campaign == campaign))
        }
        sent_runs = {r for (r,) in conn.execute(select(messages.c.run_key).where(messages.c.status == "sent"))}
        purchases = defaultdict(set)
        lines = conn.execute(select(orders.c.customer_id, orders.c.order_date, orders.c.is_return, orders.c.quantity))
        for customer, day, is_return, quantity in lines:
            if customer and not is_return and quantity > 0:
                purchases[customer].add(day)
        totals = {"treatment": [0, 0], "control": [0, 0]}
        for run_key, customer, arm in conn.execute(
            select(audience_members.c.run_key, audience_members.c.customer_id, audience_members.c.arm)
        ):
            if run_key not in runs or run_key not in sent_runs or arm not in totals:
                continue
            start, end = runs[run_key]
            window = {start + dt.timedelta(days=n) for n in range(1, (end - start).days + 1)}
            totals[arm][0] += 1
            totals[arm][1] += bool(purchases[customer] & window)
    return {arm: (members, conversions) for arm, (members, conversions) in totals.items()}
