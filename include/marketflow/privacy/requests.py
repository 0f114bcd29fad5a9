"""The daily erasure-requests export: `<landing>/erasure-requests-YYYY-MM-DD.csv`, applied by ingest.

The shop's CRM writes the requests it received on day D (columns `customer_id`, `requested_at`,
`reference`) next to that day's order and CRM exports. `ingest_orders` applies them for D before it
loads D's exports, so the requesters' lines in those exports already load unlinked. Shops without
such an export send none: a day without the file has no requests (the task says so in its log).
A file that cannot be read as requests fails the run, naming the file, line and problem: a request
is never dropped, and none of the file is applied until it is fixed. Applying a file again changes
nothing (erasure is idempotent).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine

from marketflow.ingest.landing import Landing
from marketflow.privacy.erase import erase_customer

log = logging.getLogger(__name__)

COLUMNS = ("customer_id", "requested_at", "reference")
_MAX_ID_CHARS = 16  # customers.customer_id


class ErasureRequestsMalformed(ValueError):
    """The day's erasure-requests file cannot be read as requests."""


@dataclass(frozen=True)
class ErasureRequest:
    customer_id: str
    requested_at: str
    reference: str
    line: int


def file_name(day: dt.date) -> str:
    return f"erasure-requests-{day.isoformat()}.csv"


def parse_requests(content: bytes, url: str) -> list[ErasureRequest]:
    """Every request of the file, or `ErasureRequestsMalformed` naming the file, line and problem."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ErasureRequestsMalformed(f"{url}: not UTF-8 text ({error})") from None
    reader = csv.DictReader(io.StringIO(text))
    missing = [column for column in COLUMNS if column not in (reader.fieldnames or [])]
    if missing:
        raise ErasureRequestsMalformed(f"{url}: missing column(s) {', '.join(missing)} (header: {reader.fieldnames})")
    requests = []
    for row in reader:
        line = reader.line_num
        customer_id = (row["customer_id"] or "").strip().removesuffix(".0")
        if not customer_id:
            raise ErasureRequestsMalformed(f"{url}: line {line}: empty customer_id")
        if len(customer_id) > _MAX_ID_CHARS or None in row:
            raise ErasureRequestsMalformed(f"{url}: line {line}: not one request per line (customer_id {customer_id[:20]!r})")
        requested_at = (row["requested_at"] or "").strip()
        try:
            dt.datetime.fromisoformat(requested_at)
        except ValueError:
            raise ErasureRequestsMalformed(f"{url}: line {line}: requested_at {requested_at!r} is not an ISO date or time") from None
        requests.append(ErasureRequest(customer_id, requested_at, (row["reference"] or "").strip(), line))
    return requests


def apply_erasure_requests(
    engine: Engine, landing: Landing, day: dt.date, key_for: Callable[[], bytes], outbox: Path | None
) -> dict[str, object]:
    """Erase everyone the day's file names; `key_for()` gives the pseudonym key (asked only when there
    are requests). Returns what was done, for the task's log and XCom."""
    url = landing.url_for(file_name(day))
    try:
        content = landing.read_named(file_name(day))
    except FileNotFoundError:
        log.info("%s: no erasure-requests file for %s: no requests that day", url, day)
        return {"file": url, "requests": 0, "erased": 0, "already_erased": 0, "present": False}
    requests = parse_requests(content, url)
    key = key_for() if requests else b""
    erased = already = 0
    for request in requests:
        source = f"{file_name(day)} line {request.line}: {request.reference or 'no reference'} ({request.requested_at})"
        report = erase_customer(engine, request.customer_id, key=key, source=source, outbox=outbox)
        already += report.already_erased
        erased += not report.already_erased
    log.info("%s: %d erasure request(s): %d erased now, %d already erased", url, len(requests), erased, already)
    return {"file": url, "requests": len(requests), "erased": erased, "already_erased": already, "present": True}
