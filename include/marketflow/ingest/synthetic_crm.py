"""SYNTHETIC CRM exports (`customers-YYYY-MM-DD.csv`), derived deterministically from the order files.

The real UCI Online Retail data has no e-mail addresses and no marketing consent, so this module
invents them for the demo and the tests. Nothing here describes a real person: every address is
`@example.com` (reserved for documentation, RFC 2606) and every value comes from a random generator
seeded by hashing the customer id, so the same order files always give the same CRM files.

Model (rates chosen to look like a small European web shop):

- a customer appears in the CRM export on the day of their first order, with an address and a
  consent decision (65% opt in at sign-up);
- afterwards, per customer: opting out at 1.5% a month while opted in, opting back in at 0.5% a month
  while opted out, and changing e-mail address at 0.5% a month;
- each change is exported on the first trading day (a day with an orders file) on or after it. A
  day's file lists every customer whose record changed that day with their full current record,
  and is written (header only if nothing changed) for every day that has an orders file.
"""

from __future__ import annotations

import bisect
import csv
import datetime as dt
import hashlib
import io
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from marketflow.ingest.landing import FileKind, Landing
from marketflow.ingest.sources.online_retail import CUSTOMERS_COLUMNS

SEED = "marketflow-synthetic-crm-v1"
SIGNUP_CONSENT_RATE = 0.65
OPT_OUT_PER_MONTH = 0.015
OPT_IN_PER_MONTH = 0.005
EMAIL_CHANGE_PER_MONTH = 0.005
_DAYS_PER_MONTH = 30.44

_FIRST_NAMES = (
    "alex", "sam", "jo", "chris", "pat", "robin", "kim", "lee", "max", "charlie", "jamie", "morgan",
    "taylor", "jordan", "casey", "riley", "avery", "quinn", "drew", "sky",
)
_LAST_NAMES = (
    "smith", "jones", "taylor", "brown", "williams", "wilson", "johnson", "davies", "robinson", "wright",
    "thompson", "evans", "walker", "white", "roberts", "green", "hall", "wood", "jackson", "clarke",
)


@dataclass(frozen=True)
class CrmRecord:
    customer_id: str
    email: str
    marketing_consent: bool


def _rng(customer_id: str) -> random.Random:
    digest = hashlib.blake2b(f"{SEED}:{customer_id}".encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


def _email(customer_id: str, rng: random.Random, version: int) -> str:
    first, last = rng.choice(_FIRST_NAMES), rng.choice(_LAST_NAMES)
    suffix = f".{version}" if version else ""
    return f"{first}.{last}.{customer_id}{suffix}@example.com"


def customer_timeline(
    customer_id: str, signup: dt.date, trading_days: list[dt.date]
) -> dict[dt.date, CrmRecord]:
    """The customer's CRM record on each trading day it changed, from sign-up to the last trading day."""
    rng = _rng(customer_id)
    consent = rng.random() < SIGNUP_CONSENT_RATE
    version = 0
    email = _email(customer_id, rng, version)
    timeline = {signup: CrmRecord(customer_id, email, consent)}
    elapsed = 0.0
    while True:
        consent_rate = (OPT_OUT_PER_MONTH if consent else OPT_IN_PER_MONTH) / _DAYS_PER_MONTH
        email_rate = EMAIL_CHANGE_PER_MONTH / _DAYS_PER_MONTH
        elapsed += rng.expovariate(consent_rate + email_rate)
        if rng.random() < consent_rate / (consent_rate + email_rate):
            consent = not consent
        else:
            version += 1
            email = _email(customer_id, rng, version)
        position = bisect.bisect_left(trading_days, signup + dt.timedelta(days=max(1, round(elapsed))))
        if position == len(trading_days):
            return timeline
        timeline[trading_days[position]] = CrmRecord(customer_id, email, consent)


def crm_exports(customers_by_day: Mapping[dt.date, Iterable[str]]) -> dict[dt.date, list[CrmRecord]]:
    """Each trading day's CRM records, given the customer ids that ordered on each trading day."""
    trading_days = sorted(customers_by_day)
    signups: dict[str, dt.date] = {}
    for day in trading_days:
        for customer_id in customers_by_day[day]:
            signups.setdefault(customer_id, day)
    exports: dict[dt.date, list[CrmRecord]] = {day: [] for day in trading_days}
    for customer_id, signup in signups.items():
        for day, record in customer_timeline(customer_id, signup, trading_days).items():
            exports[day].append(record)
    return {day: sorted(records, key=lambda r: r.customer_id) for day, records in exports.items()}


def render(records: list[CrmRecord]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CUSTOMERS_COLUMNS)
    writer.writerows((r.customer_id, r.email, "true" if r.marketing_consent else "false") for r in records)
    return buffer.getvalue().encode()


def customer_ids(orders_csv: bytes) -> set[str]:
    reader = csv.DictReader(io.StringIO(orders_csv.decode("utf-8-sig")))
    ids = set()
    for row in reader:
        customer = (row.get("CustomerID") or "").strip()
        if customer:
            ids.add(customer[:-2] if customer.endswith(".0") else customer)
    return ids


def orders_days(landing_url: str) -> list[dt.date]:
    """The days that have an orders file `YYYY-MM-DD.csv` in the landing location."""
    from fsspec.core import url_to_fs

    fs, root = url_to_fs(landing_url)
    days = []
    for path in fs.glob(f"{root.rstrip('/')}/????-??-??.csv"):
        try:
            days.append(dt.date.fromisoformat(path.rsplit("/", 1)[-1][:10]))
        except ValueError:
            continue
    return sorted(days)


def write_crm_exports(landing_url: str) -> list[dt.date]:
    """Write the synthetic `customers-<day>.csv` next to every orders file in the landing location."""
    landing = Landing(landing_url)
    days = orders_days(landing_url)
    customers_by_day = {day: customer_ids(landing.read_bytes(FileKind.ORDERS, day)) for day in days}
    for day, records in crm_exports(customers_by_day).items():
        landing.write_bytes(FileKind.CUSTOMERS, day, render(records))
    return days
