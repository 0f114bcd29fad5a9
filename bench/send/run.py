"""E-mail send throughput: the exactly-once ledger + SMTP vs a raw smtplib loop, same messages, same run.

Both paths send the same rendered messages (real customers and products from the UCI history)
to the same local aiosmtpd server, over one SMTP connection, without rate limiting:
- raw: build each e-mail and `smtplib.SMTP.sendmail` it, nothing recorded;
- ledger: `marketflow.channels.ledger.send_pending` with the deployed batch size (`--batch-size`,
  default `MARKETFLOW_SEND_BATCH_SIZE` or 10): one commit claims a batch (`rendered -> sending`),
  the SMTP transactions follow, and the next commit confirms them (`-> sent`) and claims the next.
The server only counts messages (no disk), so the ledger's cost is what the ratio shows.

    .venv/bin/python bench/send/run.py [--data DIR] [--messages 1000] [--repeats 5] [--batch-size N] [--pg-url URL]
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import os
import platform
import smtplib
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # for tests.campaigns.seed (shared seeding helpers)

from bench.record import write_record  # noqa: E402


class CountingHandler:
    """aiosmtpd handler that accepts and counts, so the server is never the bottleneck."""

    def __init__(self) -> None:
        self.count = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        self.count += 1
        return "250 OK"


def serve_counting_smtp() -> None:
    """Run in a child process (no GIL shared with the sender): prints its port, then answers
    each line on stdin with the number of messages received; exits when stdin closes."""
    from marketflow.channels.sink import LocalController

    handler = CountingHandler()
    controller = LocalController(handler, hostname="127.0.0.1", port=0)
    controller.start()
    print(controller.port, flush=True)
    for _line in sys.stdin:
        print(handler.count, flush=True)
    controller.stop()


class SmtpServerProcess:
    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.port = int(self.proc.stdout.readline())

    def received(self) -> int:
        self.proc.stdin.write("count\n")
        self.proc.stdin.flush()
        return int(self.proc.stdout.readline())

    def stop(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(10)


def real_shop(data_dir: Path, customers: int) -> tuple[dict[str, tuple[str, float]], dict[str, list[str]]]:
    """Catalogue (latest description and positive price) and each customer's three most bought
    products, from the last day files of the real history; the first `customers` buyers."""
    catalogue: dict[str, tuple[str, float]] = {}
    bought: dict[str, Counter] = defaultdict(Counter)
    for path in sorted(data_dir.glob("*.csv"))[-90:]:
        with path.open(newline="") as handle:
            for row in csv.DictReader(handle):
                price = float(row["UnitPrice"])
                if row["Description"].strip() and price > 0:
                    catalogue[row["StockCode"]] = (row["Description"].strip(), price)
                if row["CustomerID"] and not row["InvoiceNo"].startswith("C"):
                    bought[row["CustomerID"].removesuffix(".0")][row["StockCode"]] += int(row["Quantity"])
    chosen = sorted(bought)[:customers]
    picks = {c: [code for code, _ in bought[c].most_common() if code in catalogue][:3] for c in chosen}
    return catalogue, picks


def prepare(url: str, data_dir: Path, n: int) -> tuple[Any, Any, Any]:
    """A migrated warehouse with `n` treatment members whose e-mails are rendered."""
    from marketflow.campaigns.pipeline import render_messages, select_audience
    from marketflow.campaigns.runs import plan_run
    from marketflow.warehouse import schema, upgrade_to_head, warehouse_engine
    from tests.campaigns.seed import DAY, Customer, make_config, seed_customers, seeded_inputs

    engine = warehouse_engine(url)
    upgrade_to_head(engine)
    catalogue, picks = real_shop(data_dir, n)
    with engine.begin() as conn:
        conn.execute(schema.products.insert(), [
            {"stock_code": code, "description": name, "unit_price": price, "first_seen": DAY, "last_seen": DAY}
            for code, (name, price) in catalogue.items()
        ])
    seed_customers(engine, [Customer(c, recommended=codes) for c, codes in picks.items()])
    config = make_config(audience={"segments": ["at_risk"]}, control_share=0.0)
    plan = plan_run(config.name, DAY, today=DAY + dt.timedelta(days=1))
    select_audience(engine, config, plan, seeded_inputs(plan.day))
    render_messages(engine, config, plan, seeded_inputs(plan.day))
    return engine, config, plan


def reset(engine: Any, run_key: str) -> None:
    from marketflow.warehouse import schema

    with engine.begin() as conn:
        conn.execute(schema.messages.update().where(schema.messages.c.run_key == run_key)
                     .values(status="rendered", attempts=0, sent_at=None))


def raw_loop(rows: list[Any], channel: Any, run_key: str, port: int) -> float:
    from marketflow.channels.identifiers import unsubscribe_url
    from marketflow.channels.smtp import build_email

    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for row in rows:
            msg = build_email(
                from_address=channel.from_address, from_name=channel.from_name, to=row.recipient, subject=row.subject,
                body_text=row.body_text, body_html=row.body_html, message_id=row.message_id,
                unsubscribe_url=unsubscribe_url(channel.unsubscribe_url, row.message_id),
                unsubscribe_mailto=channel.unsubscribe_mailto, reply_to=channel.reply_to, campaign_run=run_key,
            )
            smtp.sendmail(channel.from_address, [row.recipient], msg.as_bytes())
    return time.perf_counter() - started


def ledger_loop(engine: Any, channel: Any, run_key: str, port: int, batch_size: int) -> float:
    from marketflow.channels.ledger import SendPolicy, send_pending
    from marketflow.channels.smtp import SmtpSettings, SmtpTransport

    started = time.perf_counter()
    with SmtpTransport(SmtpSettings("127.0.0.1", port)) as transport:
        summary = send_pending(engine, run_key, channel, transport, SendPolicy(rate_per_second=None, batch_size=batch_size))
    elapsed = time.perf_counter() - started
    assert summary.sent > 0 and summary.still_pending == 0 and summary.in_doubt == 0, summary
    return elapsed


def measure(
    label: str, url: str, data_dir: Path, n: int, repeats: int, batch_size: int, server: SmtpServerProcess
) -> dict[str, Any]:
    from sqlalchemy import select

    from marketflow.warehouse import schema

    engine, config, plan = prepare(url, data_dir, n)
    channel = config.channels.email
    with engine.connect() as conn:
        rows = conn.execute(select(schema.messages).where(schema.messages.c.run_key == plan.run_key)
                            .order_by(schema.messages.c.customer_id)).all()
    raw, ledger = [], []
    for i in range(repeats):  # back to back, in turns first, so drift in machine load hits both alike
        before = server.received()
        if i % 2:
            ledger.append(ledger_loop(engine, channel, plan.run_key, server.port, batch_size))
            raw.append(raw_loop(rows, channel, plan.run_key, server.port))
        else:
            raw.append(raw_loop(rows, channel, plan.run_key, server.port))
            ledger.append(ledger_loop(engine, channel, plan.run_key, server.port, batch_size))
        assert server.received() - before == 2 * len(rows)
        reset(engine, plan.run_key)
    pairs = [r / ledger_s for r, ledger_s in zip(raw, ledger)]  # ledger msg/s over raw msg/s, per repeat
    return {"warehouse": label, "messages": len(rows), "batch_size": batch_size,
            "raw_msgs_per_s": len(rows) / statistics.median(raw), "ledger_msgs_per_s": len(rows) / statistics.median(ledger),
            "ledger_over_raw": statistics.median(pairs), "ledger_over_raw_per_repeat": pairs, "raw_s": raw, "ledger_s": ledger}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=os.environ.get("MARKETFLOW_REAL_DATA", REPO.parent / "shared/data/online-retail/by-day"))
    parser.add_argument("--messages", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=None, help="messages claimed per commit (default: the send settings')")
    parser.add_argument("--pg-url", default=os.environ.get("MARKETFLOW_TEST_PG_URL"), help="PostgreSQL server (a scratch database is created)")
    args = parser.parse_args()
    data_dir = Path(args.data)
    if not data_dir.is_dir():
        parser.error(f"real data not found at {data_dir}; pass --data")

    import aiosmtpd
    import sqlalchemy

    from marketflow.channels.settings import SendSettings

    batch_size = SendSettings.from_env(**({"batch_size": args.batch_size} if args.batch_size else {})).batch_size

    server = SmtpServerProcess()
    results = []
    try:
        with tempfile.TemporaryDirectory(prefix="bench-send-") as tmp:
            results.append(measure("sqlite", f"sqlite:///{tmp}/warehouse.db", data_dir, args.messages, args.repeats, batch_size, server))
        if args.pg_url:
            from tests.scratch_db import scratch_database

            with scratch_database(args.pg_url, "bench_send") as url:
                results.append(measure("postgresql", url, data_dir, args.messages, args.repeats, batch_size, server))
    finally:
        server.stop()

    print(f"\nE-mail sends to a local aiosmtpd, {args.messages} messages, batch size {batch_size}, median of {args.repeats} back-to-back pairs\n")
    print("| warehouse | raw smtplib loop (msg/s) | ledger + SMTP (msg/s) | ledger / raw | per repeat |")
    print("|---|---:|---:|---:|---|")
    for r in results:
        each = " ".join(f"{x:.2f}" for x in r["ledger_over_raw_per_repeat"])
        print(f"| {r['warehouse']} | {r['raw_msgs_per_s']:.0f} | {r['ledger_msgs_per_s']:.0f} | {r['ledger_over_raw']:.2f} | {each} |")
    record = {
        "bench": "send", "when": dt.datetime.now(dt.timezone.utc).isoformat(), "results": results,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform(),
                    "sqlalchemy": sqlalchemy.__version__, "aiosmtpd": aiosmtpd.__version__},
    }
    write_record("send", record)
    return 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve"]:
        serve_counting_smtp()
    else:
        sys.exit(main())
