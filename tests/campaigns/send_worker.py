"""Runs a campaign's send step in a separate process, so a test can SIGKILL it mid-batch.

Usage: python -m tests.campaigns.send_worker '<json>' with warehouse_url, run_key, port,
rate, batch_size and an optional delivery_log.
"""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

from marketflow.channels.ledger import SendPolicy, send_pending
from marketflow.channels.smtp import SmtpSettings, SmtpTransport
from marketflow.warehouse import warehouse_engine
from tests.campaigns.seed import make_config


def main(args: dict) -> None:
    engine = warehouse_engine(args["warehouse_url"])
    channel = make_config().channels.email
    settings = SmtpSettings(host="127.0.0.1", port=args["port"], timeout_s=60)
    log = Path(args["delivery_log"]) if args.get("delivery_log") else None
    policy = SendPolicy(rate_per_second=args["rate"], stale_claim_s=0, batch_size=args["batch_size"])
    with SmtpTransport(settings) as transport:
        summary = send_pending(engine, args["run_key"], channel, transport, policy, delivery_log=log)
    print(json.dumps(summary.to_dict()))


if __name__ == "__main__":
    # a process started in the background by a non-interactive shell (scripts/test.sh runs pytest so)
    # inherits SIGINT ignored, and Python then installs no KeyboardInterrupt for it: restore it, so a
    # test's SIGINT raises in the worker as a task timeout raises in Airflow
    signal.signal(signal.SIGINT, signal.default_int_handler)
    main(json.loads(sys.argv[1]))
