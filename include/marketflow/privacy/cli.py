"""`marketflow privacy ...`: erase a person on request, prove their consent, export what we hold."""

from __future__ import annotations

import argparse
from pathlib import Path


def _erase(args: argparse.Namespace) -> int:
    from marketflow.campaigns.demo import local_outbox
    from marketflow.privacy.erase import erase_customer
    from marketflow.privacy.pseudonyms import PrivacyKeyMissing, privacy_key
    from marketflow.warehouse import warehouse_engine

    try:
        key = privacy_key()
    except PrivacyKeyMissing as problem:
        print(f"not erased: {problem}")
        return 1
    outbox = Path(args.outbox) if args.outbox else local_outbox()
    report = erase_customer(warehouse_engine(), args.customer, key=key, source=args.source, outbox=outbox)
    print(f"customer {args.customer}: ledger entry {report.customer_pseudonym[:16]}…")
    for line in report.lines():
        print(f"  {line}")
    return 0


def _export(args: argparse.Namespace) -> int:
    import json

    from marketflow.privacy.access import subject_access
    from marketflow.warehouse import warehouse_engine

    document = subject_access(warehouse_engine(), args.customer)
    out = Path(args.out)
    out.write_text(json.dumps(document, indent=2, default=str, ensure_ascii=False) + "\n", encoding="utf-8")
    counts = ", ".join(f"{table} {len(rows)}" for table, rows in document["tables"].items() if rows) or "nothing"
    print(f"customer {args.customer}: wrote {out} ({counts})")
    return 0


def _consent(args: argparse.Namespace) -> int:
    from marketflow.privacy.consent import consent_trail
    from marketflow.warehouse import warehouse_engine

    trail = consent_trail(warehouse_engine(), args.customer)
    print(f"customer {args.customer}: {len(trail['messages'])} message(s)")
    for row in trail["messages"]:
        if row["consent_given"] is None:
            basis = "no consent on record at selection"
        else:
            state = "given" if row["consent_given"] else "withdrawn"
            basis = f"consent {state} on {row['consent_effective_date']} ({row['consent_source']})"
        print(f"  {row['run_key']:<36} {row['channel']:<6} {row['status']:<10} {basis}")
    print(f"consent history: {len(trail['history'])} event(s)")
    for event in trail["history"]:
        state = "given" if event["marketing_consent"] else "withdrawn"
        print(f"  {event['effective_date']}  {state:<9}  {event['source_file']}")
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register `privacy erase` on the `marketflow` parser."""
    privacy = subparsers.add_parser("privacy", help="erasure, proof of consent and subject access")
    commands = privacy.add_subparsers(dest="action", required=True)
    erase = commands.add_parser(
        "erase",
        help="forget a customer everywhere we hold them (orders stay, unlinked) and record it in the erasure ledger",
    )
    erase.add_argument("--customer", required=True, help="the customer id")
    erase.add_argument("--source", required=True, help="the request's reference, e.g. 'support ticket 4711'")
    erase.add_argument("--outbox", help="a local outbox folder of .eml files (default: $MARKETFLOW_OUTBOX, if set)")
    erase.set_defaults(handler=_erase)
    consent = commands.add_parser("consent", help="each message to a customer with the consent it was sent under")
    consent.add_argument("--customer", required=True, help="the customer id")
    consent.set_defaults(handler=_consent)
    export = commands.add_parser("export", help="everything we hold about a customer, as JSON (subject access)")
    export.add_argument("--customer", required=True, help="the customer id")
    export.add_argument("--out", required=True, help="the JSON file to write")
    export.set_defaults(handler=_export)
