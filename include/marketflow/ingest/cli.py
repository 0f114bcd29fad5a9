"""`marketflow ingest ...`: load a range of days in batches, or put the demo sample (or synthetic CRM
files) into a landing location."""

from __future__ import annotations

import argparse
from pathlib import Path


def _landing(args: argparse.Namespace) -> str:
    from marketflow.ingest.settings import IngestSettings

    return args.landing or IngestSettings.from_env().landing_url


def _unpack_sample(args: argparse.Namespace) -> int:
    from marketflow.ingest.sample import unpack_sample

    landing = _landing(args)
    days = unpack_sample(landing)
    print(f"unpacked {len(days)} days of sample exports ({days[0]}..{days[-1]}) into {landing}")
    return 0


def _generate_crm(args: argparse.Namespace) -> int:
    from marketflow.ingest.synthetic_crm import write_crm_exports

    landing = _landing(args)
    days = write_crm_exports(landing)
    print(f"wrote {len(days)} SYNTHETIC customers-YYYY-MM-DD.csv files into {landing}")
    return 0


def _build_sample(args: argparse.Namespace) -> int:
    from marketflow.ingest.sample import SAMPLE_ARCHIVE, build_sample

    members = build_sample(Path(args.data))
    print(f"wrote {SAMPLE_ARCHIVE} ({SAMPLE_ARCHIVE.stat().st_size / 1e6:.2f} MB, {len(members)} files)")
    return 0


def _load_range(args: argparse.Namespace) -> int:
    import datetime as dt

    from marketflow.ingest import IngestError, IngestSettings, ingest_history
    from marketflow.warehouse import warehouse_engine

    settings = IngestSettings.from_env(landing_url=_landing(args))
    first, last = dt.date.fromisoformat(args.date), dt.date.fromisoformat(args.to)
    try:
        reports = ingest_history(warehouse_engine(), settings.landing_url, first, last, settings)
    except IngestError as error:
        print(f"stopped: {error}")
        return 1
    orders = [report for report in reports if report.file_kind == "orders"]
    loaded = [report for report in orders if report.status == "loaded"]
    print(
        f"{first}..{last}: {len(loaded)} day(s) loaded, {len(orders) - len(loaded)} without trading; "
        f"{sum(r.rows_loaded for r in loaded):,} order lines loaded, "
        f"{sum(r.rows_quarantined for r in loaded):,} quarantined"
    )
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register `marketflow ingest load-range | unpack-sample | generate-crm | build-sample`."""
    ingest = subparsers.add_parser("ingest", help="range loads and landing-folder helpers of the ingest stage")
    actions = ingest.add_subparsers(dest="action", required=True)
    landing_help = "landing folder or fsspec URL (default: $MARKETFLOW_LANDING_URL or $AIRFLOW_HOME/landing)"

    load = actions.add_parser(
        "load-range",
        help="load the exports of every day from --date to --to (inclusive) in batches, as a backfill "
        "would, without one Airflow run per day",
    )
    load.add_argument("--date", required=True, help="first day, YYYY-MM-DD")
    load.add_argument("--to", required=True, help="last day, YYYY-MM-DD")
    load.add_argument("--landing", help=landing_help)
    load.set_defaults(handler=_load_range)

    unpack = actions.add_parser("unpack-sample", help="copy the shipped sample exports into the landing")
    unpack.add_argument("--landing", help=landing_help)
    unpack.set_defaults(handler=_unpack_sample)

    crm = actions.add_parser(
        "generate-crm", help="write SYNTHETIC CRM exports next to every orders file of the landing location"
    )
    crm.add_argument("--landing", help=landing_help)
    crm.set_defaults(handler=_generate_crm)

    build = actions.add_parser("build-sample", help="(maintainers) rebuild include/sample from real data")
    build.add_argument("--data", required=True, help="folder of the real YYYY-MM-DD.csv files")
    build.set_defaults(handler=_build_sample)
