"""`marketflow campaigns ...`: validate files, preview messages, feed events, settle messages in doubt."""

from __future__ import annotations

import argparse
import datetime as dt
import json
from pathlib import Path


def _validate(args: argparse.Namespace) -> int:
    from marketflow.campaigns.config import CampaignConfigError, campaigns_dir, load_campaigns

    folder = Path(args.dir) if args.dir else campaigns_dir()
    try:
        configs = load_campaigns(folder)
    except CampaignConfigError as exc:
        print(exc)
        return 1
    from marketflow.audiences.selection import unknown_segments

    problems = [f"{folder / (c.name + '.yaml')}: audience.segments: unknown {unknown_segments(c)}" for c in configs if unknown_segments(c)]
    if problems:
        print("\n".join(problems))
        return 1
    for config in configs:
        channels = [name for name in ("email", "ads") if getattr(config.channels, name) is not None]
        print(f"ok  {config.name:<20} schedule {config.schedule!r:<16} control {config.control_share:.0%}  channels {channels}")
    return 0


def _preview(args: argparse.Namespace) -> int:
    from marketflow.campaigns.pipeline import campaign, copywriter_for, preview_run
    from marketflow.freshness import StaleInputs
    from marketflow.warehouse import warehouse_engine

    config = campaign(args.campaign)
    copywriter = copywriter_for(config) if args.llm else None
    try:
        preview = preview_run(warehouse_engine(), config, dt.date.fromisoformat(args.date), args.n, copywriter=copywriter)
    except StaleInputs as stale:
        print(f"no preview: a run of {args.date} would be blocked: {stale}")
        return 1
    out = Path(args.out) if args.out else None
    if out:
        out.mkdir(parents=True, exist_ok=True)
    audience = preview.audience
    print(
        f"audience of {args.date}: {len(audience.treatment)} treatment, {len(audience.control)} control; "
        f"left out: {audience.exclusion_counts() or 'nobody'}"
    )
    messages = preview.messages
    for msg in messages:
        print(f"--- customer {msg.customer_id} | variant {msg.variant} | copy {msg.copy_source}")
        print(f"Subject: {msg.subject}\n\n{msg.body_text}")
        if out:
            (out / f"{msg.customer_id}.html").write_text(msg.body_html, encoding="utf-8")
    print(f"{len(messages)} message(s) rendered; nothing stored, nothing sent" + (f"; HTML in {out}" if out else ""))
    return 0


def _ingest_events(args: argparse.Namespace) -> int:
    from marketflow.channels.events import ingest_drop_folder, read_drop_file, record_events
    from marketflow.warehouse import warehouse_engine

    path = Path(args.path)
    engine = warehouse_engine()
    result = ingest_drop_folder(engine, path) if path.is_dir() else record_events(engine, read_drop_file(path), str(path))
    print(json.dumps({"read": result.read, "new": result.inserted, "suppressed": result.suppressed, "rejected": result.rejected}))
    return 0


def _resolve_unknown(args: argparse.Namespace) -> int:
    from marketflow.channels.ledger import resolve_unknown
    from marketflow.channels.settings import SendSettings
    from marketflow.warehouse import warehouse_engine

    timeout_s = SendSettings.from_env().claim_timeout_s
    outcome = resolve_unknown(warehouse_engine(), args.run_key, "resend" if args.resend else "mark_sent", timeout_s)
    if outcome.reconciled:
        settled = ", ".join(f"{n} {status}" for status, n in outcome.reconciled.items())
        print(f"abandoned claims of {args.run_key} settled first (delivery evidence, else in doubt): {settled}")
    what = "queued for a resend with the same Message-ID (the next send task sends them)" if args.resend else "marked sent"
    print(f"{outcome.decided} message(s) of {args.run_key} {what}")
    if outcome.still_claimed:
        print(
            f"{outcome.still_claimed} message(s) are still claimed by a worker that is running, or ran on "
            f"another machine less than {timeout_s:.0f} s ago (MARKETFLOW_SEND_CLAIM_TIMEOUT_S): run this "
            "again once it has finished or that time has passed"
        )
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register `campaigns validate|preview|ingest-events|resolve-unknown` on the `marketflow` parser."""
    campaigns = subparsers.add_parser("campaigns", help="campaign files, previews and the send ledger")
    commands = campaigns.add_subparsers(dest="action", required=True)

    validate = commands.add_parser("validate", help="check every campaign file (errors name the file and field)")
    validate.add_argument("--dir", help="folder of campaign files (default include/campaigns)")
    validate.set_defaults(handler=_validate)

    preview = commands.add_parser("preview", help="render N messages of a campaign for a date; nothing is sent")
    preview.add_argument("campaign")
    preview.add_argument("--date", required=True, help="the run's day D, YYYY-MM-DD")
    preview.add_argument("-n", type=int, default=3)
    preview.add_argument("--llm", action="store_true", help="also try the LLM copywriter if the campaign enables it")
    preview.add_argument("--out", help="also write each HTML part to this folder")
    preview.set_defaults(handler=_preview)

    events = commands.add_parser("ingest-events", help="load engagement events from a drop file or folder")
    events.add_argument("path")
    events.set_defaults(handler=_ingest_events)

    resolve = commands.add_parser("resolve-unknown", help="settle e-mails left in doubt by a crash")
    resolve.add_argument("run_key", help="e.g. winback:2011-10-03")
    decision = resolve.add_mutually_exclusive_group(required=True)
    decision.add_argument("--resend", action="store_true", help="send them again (same Message-ID)")
    decision.add_argument("--mark-sent", action="store_true", help="record them as sent")
    resolve.set_defaults(handler=_resolve_unknown)
