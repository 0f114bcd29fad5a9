"""`marketflow channels ...`: the local SMTP sink the demo starts."""

from __future__ import annotations

import argparse
import signal
import threading
from pathlib import Path


def _smtp_sink(args: argparse.Namespace) -> int:
    from marketflow.channels.sink import DELIVERY_LOG, start_sink

    # Before the sink announces itself: a supervisor may stop it as soon as it reads the port, and a
    # SIGTERM that arrived before the handler ended the process uncleanly (exit -15, seen under load).
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    folder = Path(args.dir).resolve()
    controller = start_sink(folder, args.host, args.port)
    log = folder / DELIVERY_LOG
    print(f"SMTP sink on {args.host}:{controller.port}: messages are stored as .eml files in {folder}")
    print(
        "Airflow connection for it: AIRFLOW_CONN_SMTP_DEFAULT="
        f"'{{\"conn_type\": \"smtp\", \"host\": \"{args.host}\", \"port\": {controller.port}, "
        f"\"extra\": {{\"disable_ssl\": true, \"disable_tls\": true, \"delivery_log\": \"{log}\"}}}}'",
        flush=True,
    )
    stop.wait()
    controller.stop()
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register `channels smtp-sink` on the `marketflow` parser."""
    channels = subparsers.add_parser("channels", help="message channels (e-mail, ad audiences)")
    commands = channels.add_subparsers(dest="action", required=True)
    sink = commands.add_parser("smtp-sink", help="run a local SMTP server that stores messages as .eml files")
    sink.add_argument("--dir", default="smtp-sink", help="folder for the .eml files (default ./smtp-sink)")
    sink.add_argument("--host", default="127.0.0.1")
    sink.add_argument("--port", type=int, default=1025, help="0 picks a free port")
    sink.set_defaults(handler=_smtp_sink)
