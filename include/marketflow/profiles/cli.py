"""`marketflow profiles ...`: build snapshots outside Airflow and look at what is stored."""

from __future__ import annotations

import argparse
import datetime as dt

from marketflow.days import day_argument


def _build(args: argparse.Namespace) -> int:
    from marketflow.profiles.runs import missing_orders, segment_summary
    from marketflow.profiles.settings import ProfileSettings
    from marketflow.profiles.warehouse import build_days
    from marketflow.warehouse import warehouse_engine

    last = args.to or args.date
    if last < args.date:
        raise SystemExit(f"--to {last} is before --date {args.date}")
    days = [args.date + dt.timedelta(days=offset) for offset in range((last - args.date).days + 1)]
    if problem := missing_orders(warehouse_engine(), days):
        print(f"not built: {problem}")
        return 1
    for summary in build_days(warehouse_engine(), days, ProfileSettings.from_env()):
        print(f"{summary.as_of}: {summary.customers} customers, {summary.products} products, {summary.groups} groups")
    print(segment_summary(days[-1], summary.segments))
    return 0


def _segments(args: argparse.Namespace) -> int:
    from marketflow.profiles.runs import segment_summary
    from marketflow.profiles.warehouse import stored_segment_counts
    from marketflow.warehouse import warehouse_engine

    print(segment_summary(args.date, stored_segment_counts(warehouse_engine(), args.date)))
    return 0


def _groups(args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from marketflow.warehouse import schema, warehouse_engine

    table = schema.product_groups
    query = select(table.c.group_name, table.c.description).where(table.c.as_of_date == args.date)
    members: dict[str, list[str]] = {}
    with warehouse_engine().connect() as conn:
        for name, description in conn.execute(query.order_by(table.c.group_name, table.c.stock_code)):
            members.setdefault(name, []).append(description or "")
    if not members:
        print(f"no product groups stored for {args.date}")
        return 1
    for name, descriptions in sorted(members.items(), key=lambda item: -len(item[1])):
        print(f"{len(descriptions):5d}  {name}: {'; '.join(descriptions[: args.examples])}")
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Add `profiles build | segments | groups` to the `marketflow` command."""
    profiles = subparsers.add_parser("profiles", help="customer profiles, segments and product groups")
    commands = profiles.add_subparsers(dest="action", required=True)

    build = commands.add_parser("build", help="build and store the snapshot of a day (or of --date..--to)")
    build.add_argument("--date", type=day_argument, required=True, help="as-of date YYYY-MM-DD")
    build.add_argument("--to", type=day_argument, help="last day of a range to build")
    build.set_defaults(handler=_build)

    segments = commands.add_parser("segments", help="customers per segment in a stored snapshot")
    segments.add_argument("--date", type=day_argument, required=True)
    segments.set_defaults(handler=_segments)

    groups = commands.add_parser("groups", help="product groups of a day with example members")
    groups.add_argument("--date", type=day_argument, required=True)
    groups.add_argument("--examples", type=int, default=5, help="members shown per group")
    groups.set_defaults(handler=_groups)
