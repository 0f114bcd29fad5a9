"""Recommender benchmark: our models vs. the peers a shop would otherwise pick, on the real history.

Fit on purchases up to 2011-09-30, test on October 2011 (customers with history; "all" counts
repeat purchases, "new" only items the customer never bought). Everything is tuned only on data
before the test window: ours tunes its blend on the split the library picks (here 2011-09-03..09-30
with components fitted before it); each peer picks, per variant, the best of a small grid on that
same validation window. Rows: the served default blend, every component we have alone with its
weight and fit time, the peers.
Then the default configuration on the same purchases without time order (a random 75/25 split of
each customer's items) beside EASE and popularity, and the weekly job (tune + evaluate + refit, as
`train_recommender` runs it) on the whole history with samples/s.

    .venv/bin/python bench/recommender/run.py [--data DIR] [--device auto|cpu|cuda] [--threads N] [--skip-job]

Prints the tables and writes bench/results/recommender-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import platform
import sys
import time
import warnings
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(REPO))

from bench.record import write_record  # noqa: E402
DEFAULT_DATA = REPO.parent / "shared" / "data" / "online-retail" / "by-day"

AS_OF, TEST_END = "2011-10-01", "2011-11-01"
JOB_AS_OF = dt.date(2011, 11, 1)
METRICS = ("ndcg@10", "recall@10", "hitrate@10", "coverage")


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("MARKETFLOW_REAL_DATA", DEFAULT_DATA)))
    parser.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads for our models (default 1)")
    parser.add_argument("--skip-job", action="store_true", help="skip timing the weekly job on the whole history")
    return parser.parse_args()


def _timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[Any, float]:
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    return result, time.perf_counter() - started


def _row(name: str, kind: str, metrics: dict, seconds: float | None, samples_per_s: float | None, note: str = "") -> dict:
    return {"model": name, "kind": kind, "metrics": metrics, "fit_s": seconds, "samples_per_s": samples_per_s, "note": note}


def run_peers(train, test, validation_fit, validation, validation_start) -> list[dict]:  # type: ignore[no-untyped-def]
    from marketflow.recommend.evaluate import HoldoutTask
    from marketflow.recommend.interactions import History
    from peers import PEERS

    val_history = History.from_frame(validation_fit, as_of=validation_start)
    val_task = HoldoutTask(val_history, validation)
    test_history = History.from_frame(train, as_of=AS_OF)
    test_task = HoldoutTask(test_history, test)
    rows = []
    for peer in PEERS:
        best: dict[str, tuple[float, dict]] = {}
        for config in peer.grid:
            scores = val_task.evaluate(peer.fit(val_history, config))
            for variant in ("all", "new"):
                if variant not in best or scores[variant]["ndcg@10"] > best[variant][0]:
                    best[variant] = (scores[variant]["ndcg@10"], config)
        metrics, seconds, configs = {}, 0.0, {}
        for variant in ("all", "new"):
            config = best[variant][1]
            scorer, spent = _timed(peer.fit, test_history, config)
            seconds = max(seconds, spent)
            metrics[variant] = test_task.evaluate(scorer)[variant]
            configs[variant] = config
        note = json.dumps(configs["all"]) if configs["all"] == configs["new"] else json.dumps(configs)
        rows.append(_row(peer.name, "peer", metrics, seconds, peer.samples(test_history, configs["all"]) / seconds, note))
        print(f"  peer {peer.name}: {note}", flush=True)
    return rows


def _component_rows(model: Any, task: Any, history: Any, params: Any, label: str, weights_of: dict) -> list[dict]:
    """One row per component the library has: the blend's fitted one, or one fitted alone when the
    tuning gave it weight 0 or it is not in the default list (the blend does not train those)."""
    from marketflow.recommend import models
    from marketflow.recommend.params import COMPONENT_NAMES
    from marketflow.recommend.runtime import cpu_threads, resolve_device

    rows = []
    for name in COMPONENT_NAMES:
        component = model.components.get(name)
        note = ", ".join(f"{blend} weight {weights[name]}" for blend, weights in weights_of.items() if name in weights)
        note = note or "not in the default list"
        if component is None:
            component = models.build(name, params, resolve_device(params.device))
            with cpu_threads(params.cpu_threads):
                component.fit(history)
            note += " (fitted here only for this row)"
        t = component.throughput.as_dict()
        rows.append(_row(f"{label}{name}", "component", task.evaluate(component.score), t["seconds"], t["samples_per_s"] or None, note))
    return rows


def _blend_row(name: str, model: Any, task: Any, seconds: float) -> dict:
    samples = sum(v["samples"] for v in model.training["throughput"].values())
    samples += sum(v["samples"] for v in model.training["tuning"].get("fit_throughput", {}).values())
    tuning = {k: v for k, v in model.training["tuning"].items() if k not in ("components", "fit_throughput", "objective")}
    note = f"tuning + refit; weights {model.weights}; validation {json.dumps(tuning)}"
    return _row(name, "ours", task.evaluate(model.score), seconds, samples / seconds, note)


def run_ours(train, test, params) -> tuple[list[dict], Any]:  # type: ignore[no-untyped-def]
    """The served default blend (its tuning decides the default components' weights) and every
    component alone."""
    from marketflow.recommend.blend import Recommender
    from marketflow.recommend.evaluate import HoldoutTask
    from marketflow.recommend.interactions import History

    model, seconds = _timed(Recommender.fit, train, params, as_of=AS_OF)
    task = HoldoutTask(model.history(train, as_of=AS_OF), test)
    print(f"  served default blend fitted in {seconds:.0f} s: {model.weights}", flush=True)
    history = History.from_frame(train, as_of=AS_OF)
    rows = _component_rows(model, task, history, params, "ours: ", {"blend": model.weights})
    rows.append(_blend_row("ours: blend (served default)", model, task, seconds))
    return rows, model


def run_without_time_order(purchases, params) -> dict:  # type: ignore[no-untyped-def]
    """The default configuration on a table without time order: every purchase up to TEST_END at
    one moment, 75/25 of each customer's distinct items at random. Peers: EASE (ridge chosen on a
    random 75/25 split of the training part) and all-time popularity."""
    import pandas as pd

    from marketflow.recommend.blend import Recommender
    from marketflow.recommend.evaluate import HoldoutTask
    from marketflow.recommend.interactions import History, split_at
    from marketflow.recommend.validation import random_holdout
    from peers import PEERS

    moment = pd.Timestamp(TEST_END) - pd.Timedelta(days=1)
    frame = split_at(purchases, TEST_END)[0].assign(timestamp=moment)
    train, test = random_holdout(frame, 0.25, seed=params.seed + 1)
    as_of = pd.Timestamp(TEST_END)
    model, seconds = _timed(Recommender.fit, train, params, as_of=as_of)
    history = History.from_frame(train, as_of=as_of)
    task = HoldoutTask(history, test)
    print(f"  without time order: blend fitted in {seconds:.0f} s: {model.weights}", flush=True)
    rows = _component_rows(model, task, history, params, "ours: ", {"blend": model.weights})
    rows.append(_blend_row("ours: blend (default configuration)", model, task, seconds))
    inner_fit, inner_test = random_holdout(train, 0.25, seed=params.seed + 2)
    inner_task = HoldoutTask(History.from_frame(inner_fit, as_of=as_of), inner_test)
    for peer in (p for p in PEERS if p.name in ("EASE", "popularity")):
        grid = [c for c in peer.grid if c.get("window_days", 0) == 0]  # all-time popularity: no time order
        config = max(grid, key=lambda c: inner_task.evaluate(peer.fit(inner_task.history, c))["all"]["ndcg@10"])
        scorer, spent = _timed(peer.fit, history, config)
        rows.append(_row(peer.name, "peer", task.evaluate(scorer), spent, None, json.dumps(config)))
    return {
        "split": "purchases before " + TEST_END + " at one moment; 25% of each customer's distinct items held out",
        "train_interactions": len(train),
        "test_interactions": len(test),
        "rows": rows,
    }


def time_weekly_job(purchases, params) -> dict:  # type: ignore[no-untyped-def]
    """What `train_challenger` computes for an as-of date (tune, evaluate, refit) on the whole history."""
    from marketflow.recommend.train import fit_and_evaluate

    trained = fit_and_evaluate(purchases, params, JOB_AS_OF)
    return {
        "as_of": JOB_AS_OF.isoformat(),
        **trained.metrics["training"],
        "device": trained.serving.training["device"],
        "holdout_ndcg@10": {v: trained.metrics[v]["ndcg@10"] for v in ("all", "new")},
        "per_component": trained.serving.training["throughput"],
    }


def _print_table(rows: list[dict]) -> None:
    header = f"{'model':28} | {'all: NDCG  Recall  HitRate  Cover':34} | {'new: NDCG  Recall  HitRate  Cover':34} | {'fit s':>7} | {'samples/s':>10}"
    print(header)
    print("-" * len(header))
    for row in rows:
        cells = []
        for variant in ("all", "new"):
            m = row["metrics"][variant]
            cells.append(f"     {m['ndcg@10']:.4f}  {m['recall@10']:.4f}  {m['hitrate@10']:.4f}   {m['coverage']:.3f}")
        rate = f"{row['samples_per_s']:10.0f}" if row["samples_per_s"] else f"{'-':>10}"
        print(f"{row['model']:28} | {cells[0]:34} | {cells[1]:34} | {row['fit_s']:7.1f} | {rate}")


def main() -> int:
    args = _args()
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore", message="Method expects CSR input")  # implicit's kNN, internal
    import numpy as np
    import pandas as pd
    import torch

    from marketflow.recommend.datasets import online_retail_purchases
    from marketflow.recommend.interactions import split_at
    from marketflow.recommend.params import RecommenderParams

    if not args.data.is_dir():
        raise SystemExit(f"no real history at {args.data}: pass --data or set MARKETFLOW_REAL_DATA")
    purchases = online_retail_purchases(args.data)
    train, test = split_at(purchases, AS_OF, TEST_END)
    validation_start = pd.Timestamp(AS_OF) - pd.Timedelta(days=28)
    validation_fit, validation = split_at(train, validation_start, AS_OF)
    params = RecommenderParams(device=args.device, cpu_threads=args.threads)
    print(f"{len(train)} training purchases, {len(test)} test purchases; device {args.device}", flush=True)

    ours, model = run_ours(train, test, params)
    print("ours done; tuning the peers on the validation window", flush=True)
    peers = run_peers(train, test, validation_fit, validation, validation_start)
    rows = ours + peers
    print()
    _print_table(rows)

    blend = next(r for r in rows if r["model"] == "ours: blend (served default)")
    ratios = {}
    for variant in ("all", "new"):
        best = max((r for r in peers), key=lambda r: r["metrics"][variant]["ndcg@10"])
        ratios[variant] = {
            "best_peer": best["model"],
            "ratio": blend["metrics"][variant]["ndcg@10"] / best["metrics"][variant]["ndcg@10"],
        }
        print(
            f"NDCG@10 {variant}: blend {blend['metrics'][variant]['ndcg@10']:.4f} = "
            f"{ratios[variant]['ratio']:.3f}x the best peer ({best['model']}, {best['metrics'][variant]['ndcg@10']:.4f})"
        )
    ease = {r["model"]: r["metrics"]["new"]["ndcg@10"] for r in rows if r["model"] in ("EASE", "ours: ease")}
    sasrec = next(r for r in rows if r["model"] == "ours: sasrec")["metrics"]["new"]["ndcg@10"]
    print(f"NDCG@10 new: the transformer alone {sasrec:.4f}; EASE {ease}")
    als = next(r for r in peers if r["model"] == "implicit ALS")
    print(f"blend fit time {blend['fit_s']:.1f} s = {blend['fit_s'] / als['fit_s']:.1f}x implicit ALS's {als['fit_s']:.1f} s")

    print("\nwithout time order (random 75/25 per customer):", flush=True)
    unordered = run_without_time_order(purchases, params)
    _print_table(unordered["rows"])
    default = next(r for r in unordered["rows"] if r["kind"] == "ours")
    best = max((r for r in unordered["rows"] if r["kind"] == "component"), key=lambda r: r["metrics"]["all"]["ndcg@10"])
    print(
        f"without time order, NDCG@10 all: default blend {default['metrics']['all']['ndcg@10']:.4f}, "
        f"best component alone {best['model']} {best['metrics']['all']['ndcg@10']:.4f}"
    )

    job = None
    if not args.skip_job:
        job = time_weekly_job(purchases, params)
        print(
            f"weekly job as of {job['as_of']} (tune + evaluate + refit, whole history) on {job['device']}: "
            f"{job['seconds']:.1f} s, {job['samples_per_s']:.0f} samples/s; "
            + ", ".join(f"{k} {v['samples_per_s']:.0f}/s" for k, v in job["per_component"].items() if v["samples"])
        )

    record = {
        "benchmark": "recommender",
        "when": dt.datetime.now().isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "torch": torch.__version__,
            "numpy": np.__version__,
            "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
            "torch_threads": args.threads,
        },
        "split": {"fit_before": AS_OF, "test": [AS_OF, TEST_END], "validation": [str(validation_start.date()), AS_OF]},
        "rows": rows,
        "blend_vs_best_peer": ratios,
        "without_time_order": unordered,
        "weekly_job": job,
    }
    write_record("recommender", record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
