"""`marketflow privacy ...`: erase a person on request."""

from __future__ import annotations

import argparse
import os
from pathlib import Path


def _erase(args: argparse.Namespace) -> int:
    from marketflow.campaigns.demo import OUTBOX_ENV
    from marketflow.privacy.erase import erase_customer
    from marketflow.privacy.pseudonyms import PrivacyKeyMissing, privacy_key
    from marketflow.warehouse import warehouse_engine

    try:
        key = privacy_key()
    except PrivacyKeyMissing as problem:
        print(f"not erased: {problem}")
        return 1
    outbox = Path(args.outbox) if args.outbox else (Path(os.environ[OUTBOX_ENV]) if os.environ.get(OUTBOX_ENV) else None)
    report = erase_customer(warehouse_engine(), args.customer, key=key, source=args.source, outbox=outbox)
    print(f"customer {args.customer}: ledger entry {report.customer_pseudonym[:16]}…")
    for line in report.lines():
        print(f"  {line}")
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register `privacy erase` on the `marketflow` parser."""
    privacy = subparsers.add_parser("privacy", help="the right to erasure")
    commands = privacy.add_subparsers(dest="action", required=True)
    erase = commands.add_parser(
        "erase",
        help="forget a customer everywhere we hold them (orders stay, unlinked) and record it in the erasure ledger",
    )
    erase.add_argument("--customer", required=True, help="the customer id")
    erase.add_argument("--source", required=True, help="the request's reference, e.g. 'support ticket 4711'")
    erase.add_argument("--outbox", help="a local outbox folder of .eml files (default: $MARKETFLOW_OUTBOX, if set)")
    erase.set_defaults(handler=_erase)
