"""`marketflow` command line: warehouse administration and each stage's operator commands."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib import import_module

from marketflow.days import day_argument

#: Stages that add their own operator commands (each has `<stage>/cli.py` with `add_commands`).
STAGE_CLIS = ["ingest", "profiles", "recommend", "campaigns", "channels", "privacy"]


def _demo(_args: argparse.Namespace) -> int:
    from marketflow.demo import main as demo_main

    return demo_main()


def _stack(_args: argparse.Namespace) -> int:
    from marketflow.stack_command import run_stack

    return run_stack()


def _runs(args: argparse.Namespace) -> int:
    import json

    from marketflow.timeline import dag_runs

    runs = dag_runs(args.dag or None)
    if args.json:
        print(json.dumps([run.as_dict() for run in runs]))
    else:
        for run in runs:
            print(run.line())
    return 0


def _backfill(args: argparse.Namespace) -> int:
    import time

    from marketflow.backfill import BackfillRefused, create_backfill, plan_backfill, scheduler_alive
    from marketflow.timeline import dag_runs

    try:
        plan = plan_backfill(args.dag_id, args.from_date, args.to_date, args.reprocess_behavior)
        if not scheduler_alive():
            print("warning: no scheduler is running: the backfill's runs wait until one starts (`make ui` runs one)")
        print(
            f"backfilling {plan.dag_id}: {len(plan.days)} run(s) for days {plan.days[0]}..{plan.days[-1]}, "
            f"at most {plan.max_active_runs} at a time, reprocess behaviour {plan.reprocess!r}"
        )
        print(create_backfill(plan))
    except BackfillRefused as refused:
        print(f"refused: {refused}")
        return 2
    if not args.wait:
        return 0
    while True:
        runs = [r for r in dag_runs([plan.dag_id]) if r.run_type == "backfill" and set(r.days) & set(plan.days)]
        if runs and all(r.finished for r in runs):
            for run in runs:
                print(f"  {run.line()}")
            return 0 if all(r.state == "success" for r in runs) else 1
        time.sleep(5)


def _warehouse_upgrade(_args: argparse.Namespace) -> int:
    import logging

    from marketflow.warehouse import upgrade_to_head, warehouse_engine, warehouse_url

    logging.getLogger("alembic").setLevel(logging.WARNING)
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

    demo = commands.add_parser(
        "demo", help="a local deployment run by Airflow's scheduler over the shipped sample, re-dated to end yesterday"
    )
    demo.set_defaults(handler=_demo)

    stack = commands.add_parser(
        "stack",
        help="start Airflow (api-server, scheduler, dag-processor, triggerer, log server) on 127.0.0.1, and the "
        "demo's SMTP sink when configured; Ctrl-C stops everything",
    )
    stack.set_defaults(handler=_stack)

    runs = commands.add_parser(
        "runs", help="every DAG run: the day(s) it worked on, its state, duration and what started it"
    )
    runs.add_argument("--dag", action="append", help="only this DAG (repeatable)")
    runs.add_argument("--json", action="store_true", help="one JSON list instead of lines")
    runs.set_defaults(handler=_runs)

    backfill = commands.add_parser(
        "backfill",
        help="backfill a DAG for the days FROM..TO (its runs whose day D falls in the range), one run at a time "
        "where the DAG says so; refuses a paused DAG",
    )
    backfill.add_argument("dag_id")
    backfill.add_argument("--from-date", type=day_argument, required=True, help="first day D, YYYY-MM-DD")
    backfill.add_argument("--to-date", type=day_argument, required=True, help="last day D, YYYY-MM-DD")
    backfill.add_argument(
        "--reprocess-behavior",
        choices=("none", "failed", "completed"),
        default="none",
        help="days that already ran: skip them (none, the default), re-run failed ones, or re-run all (completed)",
    )
    backfill.add_argument("--wait", action="store_true", help="wait for the runs and print how each ended")
    backfill.set_defaults(handler=_backfill)

    for stage in STAGE_CLIS:
        import_module(f"marketflow.{stage}.cli").add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
