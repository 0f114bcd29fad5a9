"""`marketflow recommender ...`: see which models exist and roll serving back to an earlier one."""

from __future__ import annotations

import argparse
import datetime as dt


def _list(_args: argparse.Namespace) -> int:
    from marketflow.recommend import registry
    from marketflow.warehouse import warehouse_engine

    for record in registry.history(warehouse_engine()):
        print(
            f"{record.model_id}  {record.status:<10}  as of {record.trained_as_of}  "
            f"NDCG@10 all {record.ndcg('all'):.4f} new {record.ndcg('new'):.4f}  {record.decision or ''}"
        )
    return 0


def _rollback(args: argparse.Namespace) -> int:
    from marketflow.recommend.train import rollback
    from marketflow.warehouse import warehouse_engine

    day = dt.date.fromisoformat(args.date) if args.date else None
    written = rollback(warehouse_engine(), args.to, day)
    print(f"{args.to} is the champion again; wrote {written} recommendations from it")
    return 0


def add_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register `marketflow recommender list | rollback --to MODEL_ID [--date YYYY-MM-DD]`."""
    recommender = subparsers.add_parser("recommender", help="the recommender's model registry")
    actions = recommender.add_subparsers(dest="action", required=True)

    listing = actions.add_parser("list", help="every recommender model, newest first, with status and metrics")
    listing.set_defaults(handler=_list)

    rollback = actions.add_parser(
        "rollback",
        help="make an earlier model the champion and rewrite the served recommendations from it",
    )
    rollback.add_argument("--to", required=True, metavar="MODEL_ID", help="a model_id from `marketflow recommender list`")
    rollback.add_argument(
        "--date", help="recommend from the purchases up to this day, inclusive (default: the last order date)"
    )
    rollback.set_defaults(handler=_rollback)
