"""`marketflow` command line: warehouse administration and each stage's operator commands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import import_module

#: Stages that add their own operator commands (each has `<stage>/cli.py` with `add_commands`).
STAGE_CLIS = ["ingest", "profiles", "recommend", "campaigns", "channels"]


def _demo(args: argparse.Namespace) -> int:
    from marketflow.demo import main as demo_main

    return demo_main(weeks=args.weeks)


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _warehouse_upgrade(_args: argparse.Namespace) -> int:
    from marketflow.warehouse import upgrade_to_head, warehouse_engine, warehouse_url

    upgrade_to_head(warehouse_engine())
    print(f"warehouse at {warehouse_url().render_as_string(hide_password=True)} is at the newest schema")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="marketflow", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    warehouse = commands.add_parser("warehouse", help="warehouse administration")
    warehouse_commands = warehouse.add_subparsers(dest="action", required=True)
    upgrade = warehouse_commands.add_parser("upgrade", help="apply the schema migrations")
    upgrade.set_defaults(handler=_warehouse_upgrade)

    demo = commands.add_parser("demo", help="run the pipeline's DAGs through Airflow on the shipped sample")
    demo.add_argument(
        "--weeks",
        type=_positive_int,
        metavar="N",
        help="run over only the sample's last N weeks (a quick look; default: the whole sample)",
    )
    demo.set_defaults(handler=_demo)

    for stage in STAGE_CLIS:
        import_module(f"marketflow.{stage}.cli").add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
