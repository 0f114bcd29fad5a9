"""A capacity table for shops of 1M and 10M customers, projected from a `bench/scale/run.py` record.

Each task's seconds are fitted on the two largest scales of the record as seconds per unit of what
it reads, with no constant term (non-negative least squares over the two points; for `build_shard`,
two sizes and two points), so a fixed per-task cost is spread over the units:

- ingest: the day's export lines (one task a day);
- prepare_days: the history's order lines (SQL aggregates over the whole history, one task);
- build_shard: the history lines it scans and the shard's customers. A shard scans the `orders`
  partitions its hash range overlaps (migration 0015: 32 equal ranges; `shards.order_partitions`),
  so the lines it scans are the history's times the share of those partitions; records made before
  0015 (`"partitions"` absent) scanned every line;
- finish_days, selection, render, send: the customers (the campaign's audience grows with them);
- score_shard: the shard's customers (since migration 0016 a shard reads its own rows by their
  stored hash; a record made before it, when each shard hashed the whole day, fits worse).

A shop of N customers has the real shop's lines per customer, the shards a deployment's
`prepare_days` sizes for its history with the default settings (`ProfileSettings.shards_for`: at
least 4, one per 5M lines; the score shards set to the same count), and W workers each with a core
of its own and a PostgreSQL that keeps up; a mapped stage takes ceil(shards / W) rounds of its
slowest task. The PostgreSQL column is the
lines the shard tasks scan in a day, all shards together.

    .venv/bin/python bench/scale/capacity.py [bench/results/scale-<timestamp>.json]
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
from scipy.optimize import nnls

from marketflow.profiles.settings import ProfileSettings
from marketflow.shards import ORDER_PARTITIONS, order_partitions

RESULTS = Path(__file__).resolve().parents[1] / "results"
SHOPS = [1_000_000, 10_000_000]
WORKERS = [1, 4, 16]


def _fit(xs: list[list[float]], ys: list[float]) -> np.ndarray:
    """Non-negative least-squares coefficients of ys ~ xs (columns: the sizes a task reads).
    Clipping an unconstrained solution instead would keep the other coefficient fitted beside a
    negative one: on the sixth run it projected a profile shard at 2.5 times its measured time."""
    solution, _ = nnls(np.array(xs, dtype=float), np.array(ys, dtype=float))
    return solution


def scanned_share(shards: int, partitions: int | None = ORDER_PARTITIONS) -> float:
    """The largest share of the history one of `shards` shards scans: its partitions' share of
    `partitions`, or all of it without partitions."""
    if partitions is None or shards == 1:
        return 1.0
    return max(len(order_partitions(shard, shards)) for shard in range(shards)) / partitions


def scanned_lines(shards: int, lines: float) -> float:
    """The history lines all `shards` shards scan together."""
    if shards == 1:
        return lines
    return sum(len(order_partitions(shard, shards)) for shard in range(shards)) / ORDER_PARTITIONS * lines


def fitted_costs(results: list[dict]) -> dict[str, np.ndarray]:
    """Seconds per unit of what each task reads, from the two largest scales."""
    top = sorted(results, key=lambda r: r["customers"])[-2:]
    costs: dict[str, np.ndarray] = {}
    def tasks(r: dict, stage: str) -> list[float]:
        return r["stages"][stage]["task_s"]
    costs["ingest"] = _fit([[r["day_lines"]] for r in top], [tasks(r, "ingest")[0] for r in top])
    costs["prepare_days"] = _fit([[r["history_lines"]] for r in top], [tasks(r, "profiles")[0] for r in top])
    costs["build_shard"] = _fit(
        [[r["history_lines"] * scanned_share(r["shards"], r.get("partitions")), r["customers"] / r["shards"]] for r in top],
        [max(tasks(r, "profiles")[1:-1]) for r in top],
    )
    costs["finish_days"] = _fit([[r["customers"]] for r in top], [tasks(r, "profiles")[-1] for r in top])
    costs["score_shard"] = _fit([[r["customers"] / r["shards"]] for r in top], [max(tasks(r, "scores")) for r in top])
    for stage in ("selection", "render", "send"):
        costs[stage] = _fit([[r["customers"]] for r in top], [r["stages"][stage]["serial_s"] for r in top])
    return costs


def project(results: list[dict], c: dict[str, np.ndarray], customers: int, workers: int) -> dict[str, float]:
    """Seconds of each stage of one day for a shop of `customers`, on `workers` workers, from the
    fitted costs `c`."""
    top = max(results, key=lambda r: r["customers"])
    k = customers / top["customers"]
    lines, day_lines = top["history_lines"] * k, top["day_lines"] * k
    shards = ProfileSettings().shards_for(int(lines))
    rounds = math.ceil(shards / workers)
    shard_s = float(c["build_shard"] @ [lines * scanned_share(shards), customers / shards])
    return {
        "shards": shards,
        "ingest": float(c["ingest"] @ [day_lines]),
        "profiles": float(c["prepare_days"] @ [lines]) + rounds * shard_s + float(c["finish_days"] @ [customers]),
        "scores": rounds * float(c["score_shard"] @ [customers / shards]),
        "campaign": sum(float(c[s] @ [customers]) for s in ("selection", "render", "send")),
        "scanned_lines": scanned_lines(shards, lines),
        "history_lines": lines,
    }


def table(results: list[dict], costs: dict[str, np.ndarray]) -> str:
    rows = [
        "| customers | history lines | shards | workers | ingest s | profiles s | scores s | one campaign s (select, render, send) | day total | lines the shards scan |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for customers in SHOPS:
        for workers in WORKERS:
            p = project(results, costs, customers, workers)
            total = p["ingest"] + p["profiles"] + p["scores"] + p["campaign"]
            rows.append(
                f"| {customers:,} | {p['history_lines'] / 1e6:,.0f}M | {p['shards']} | {workers} | {p['ingest']:,.0f} | "
                f"{p['profiles']:,.0f} | {p['scores']:,.0f} | {p['campaign']:,.0f} | {total / 60:,.0f} min | "
                f"{p['scanned_lines'] / 1e9:,.1f}G |"
            )
    return "\n".join(rows)


def main() -> None:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else max(RESULTS.glob("scale-*.json"))
    record = json.loads(path.read_text())
    print(f"from {path.name}: fitted on x{', x'.join(str(r['scale']) for r in sorted(record['results'], key=lambda r: r['customers'])[-2:])}")
    costs = fitted_costs(record["results"])
    for name, coefficients in costs.items():
        print(f"  {name}: {', '.join(f'{v:.3g}' for v in coefficients)} s per unit")
    print(table(record["results"], costs))


if __name__ == "__main__":
    main()
