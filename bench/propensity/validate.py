"""The propensity model on earlier cut-offs only: how model choices were made without the October window,
and where it stands against the plain LightGBM peer and BG/NBD there.

For each validation day W (weekly, 2011-05-03..2011-08-02, and 2011-09-01) the model is trained as
`score_audiences` trains it as of W (weekly cut-offs whose label window ends by W) and ranks the
customers of W's snapshot by a purchase in W+1..W+30; the BG/NBD baseline is the profile stage's CLV
model fitted on data up to W, 30 days ahead, as in `run.py`; the plain LightGBM peer (`peer.py`:
default parameters, ten RFM-style features) is trained on exactly our rows and labels as of W. Only
orders dated up to 2011-10-01 are read, so nothing of the bench's October label window can inform a
choice made here.

Every difference ours - peer on a day has a 95% paired bootstrap interval (1,000 seeded draws of
W's customers); the mean difference over the days has one from drawing customers jointly for all
days (a customer's rows on every day move together: the days share most customers).

    .venv/bin/python bench/propensity/validate.py [--data DIR] [--cutoffs 2011-05-03,2011-09-01] [--replicates N]

Calibration of ours on each W (issue 14: the mean predicted probability within 10% relative of the
observed rate): the observed buyer rate, our mean calibrated prediction, the relative error
mean prediction / observed - 1, and the expected calibration error over 10 equal-count bins
(`calibration.py`).

Prints one row per W, the means and how often ours beats each peer (by the point estimate and with
an interval excluding zero), then the calibration table; writes
bench/results/propensity-validation-<timestamp>.json. `ablation.py` reuses `Cutoffs` and the options.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.propensity.calibration import TOLERANCE, calibration_row, calibration_text  # noqa: E402
from bench.propensity.peer import (  # noqa: E402
    LEVEL,
    PLAIN_FEATURES,
    PLAIN_NAME,
    REPLICATES,
    SEED,
    PeerBuilder,
    differences,
    interval_text,
    plain_params,
    plain_scores,
    train_plain,
)
from bench.propensity.run import bench_parser  # noqa: E402
from bench.record import write_record  # noqa: E402
from marketflow.ingest.sources.online_retail import read_history  # noqa: E402
from marketflow.profiles.build import fit_lifetime_value  # noqa: E402
from marketflow.profiles.clv import rfm_summary  # noqa: E402
from marketflow.profiles.history import day_number, prepare_history  # noqa: E402
from marketflow.profiles.settings import ProfileSettings  # noqa: E402
from marketflow.propensity.dataset import labelled_cutoff, snapshot_builder, training_cutoffs  # noqa: E402
from marketflow.propensity.evaluate import METRICS, EvaluationSet, paired_bootstrap_mean, ranking_metrics  # noqa: E402
from marketflow.propensity.model import train_model  # noqa: E402
from marketflow.propensity.settings import PropensitySettings  # noqa: E402

LAST_ORDER_READ = dt.date(2011, 10, 1)
VALIDATION_DAYS = [dt.date(2011, 5, 3) + dt.timedelta(days=7 * week) for week in range(14)] + [dt.date(2011, 9, 1)]
#: Peers compared with ours on every day: key in the record -> name in the tables.
PEERS = {"plain_lightgbm": PLAIN_NAME, "bgnbd": "BG/NBD expected purchases 30d"}


class Cutoffs:
    """The orders up to `LAST_ORDER_READ` and the labelled rows of each cut-off, each built once.
    With `peer`, the builder also keeps the plain peer's features of every snapshot (`PeerBuilder`)."""

    def __init__(
        self, data_dir: Path, settings: PropensitySettings, profile_settings: ProfileSettings, peer: bool = True
    ) -> None:
        orders = read_history(data_dir)
        self.settings, self.profile_settings = settings, profile_settings
        self.history = prepare_history(orders[orders["order_date"] <= LAST_ORDER_READ], profile_settings)
        builder = snapshot_builder(self.history, profile_settings)
        self.builder = PeerBuilder(builder) if peer else builder
        self._labelled: dict[dt.date, pd.DataFrame] = {}

    def rows(self, day: dt.date) -> pd.DataFrame:
        """Features as of `day` for its customers, with `label` (a purchase in day+1..day+horizon)."""
        if day not in self._labelled:
            self._labelled[day] = labelled_cutoff(self.builder, day, self.settings.horizon_days)
        return self._labelled[day]

    def training_rows(self, day: dt.date) -> pd.DataFrame:
        """The stacked rows `score_audiences` trains on as of `day`."""
        return pd.concat([self.rows(c) for c in training_cutoffs(self.history, day, self.settings)])


def run(data_dir: Path, days: list[dt.date], replicates: int = REPLICATES) -> dict:
    profile_settings, settings = ProfileSettings(), PropensitySettings()
    cutoffs = Cutoffs(data_dir, settings, profile_settings)
    history, builder, rows = cutoffs.history, cutoffs.builder, cutoffs.rows

    results, sets = [], {key: [] for key in PEERS}
    seconds = {"ours_train": 0.0, "plain_train": 0.0, "bootstrap": 0.0}
    for day in days:
        stacked = cutoffs.training_rows(day)
        started = time.perf_counter()
        model, _ = train_model(stacked, settings)
        seconds["ours_train"] += time.perf_counter() - started
        started = time.perf_counter()
        plain = train_plain(builder.rows(stacked))
        seconds["plain_train"] += time.perf_counter() - started
        held_out = rows(day)
        labels = held_out["label"].to_numpy()
        clv = fit_lifetime_value(history, day, profile_settings)
        bgnbd = clv.predict(rfm_summary(history.invoices, day_number(day)), settings.horizon_days)
        ours = model.predict(held_out)
        peers = {
            "plain_lightgbm": plain_scores(plain, builder.rows(held_out)),
            "bgnbd": bgnbd["expected_purchases"].reindex(held_out.index).to_numpy(),
        }
        started = time.perf_counter()
        intervals = differences(labels, ours, peers, replicates)
        seconds["bootstrap"] += time.perf_counter() - started
        for key, scores in peers.items():
            sets[key].append(EvaluationSet(held_out.index.to_numpy(), labels, ours, scores))
        results.append(
            {
                "day": day.isoformat(),
                "customers": len(held_out),
                "buyer_rate": float(labels.mean()),
                "train_rows": len(stacked),
                "ours": ranking_metrics(labels, ours),
                "calibration": calibration_row(labels, ours),
                **{key: ranking_metrics(labels, scores) for key, scores in peers.items()},
                "ours_minus": intervals,
            }
        )
        print(f"{day}: done; calibration {calibration_text(results[-1]['calibration'])}", file=sys.stderr, flush=True)
    started = time.perf_counter()
    mean_intervals = {
        key: {metric: paired_bootstrap_mean(sets[key], metric, replicates, SEED, LEVEL).as_dict() for metric in METRICS}
        for key in PEERS
    }
    seconds["joint_bootstrap"] = time.perf_counter() - started
    return {
        "settings": settings.model_dump(exclude={"model_store"}),
        "plain_lightgbm": {"features": list(PLAIN_FEATURES), "params": plain_params(plain)},
        "bootstrap": {
            "unit": "customer, drawn with replacement (per day; jointly over the days for the mean)",
            "replicates": replicates,
            "seed": SEED,
            "interval": f"{LEVEL:.0%} percentile",
        },
        "days": results,
        "mean_ours_minus": mean_intervals,
        "calibration": calibration_summary(results),
        "seconds": {name: round(value, 1) for name, value in seconds.items()},
    }


def calibration_summary(days: list[dict]) -> dict[str, float | int]:
    """How many days have the mean prediction within `TOLERANCE` of the buyer rate, and the means."""
    rows = [d["calibration"] for d in days]
    return {
        "tolerance": TOLERANCE,
        "days_within": sum(r["within_tolerance"] for r in rows),
        "days": len(rows),
        "mean_relative_error": sum(r["relative_error"] for r in rows) / len(rows),
        "mean_absolute_relative_error": sum(abs(r["relative_error"]) for r in rows) / len(rows),
        "max_absolute_relative_error": max(abs(r["relative_error"]) for r in rows),
        "mean_ece": sum(r["ece"] for r in rows) / len(rows),
    }


def print_calibration(result: dict) -> None:
    print("\ncalibration of ours: observed buyer rate, mean calibrated prediction, relative error, ECE (10 bins)\n")
    print("| day        | customers | observed | predicted | relative error | within 10% | ECE    |")
    print("|------------|-----------|----------|-----------|----------------|------------|--------|")
    for d in result["days"]:
        c = d["calibration"]
        print(
            f"| {d['day']} | {d['customers']:9,} | {c['buyer_rate']:.4f}   | {c['mean_prediction']:.4f}    | "
            f"{c['relative_error']:+14.1%} | {'yes' if c['within_tolerance'] else 'NO':<10} | {c['ece']:.4f} |"
        )
    s = result["calibration"]
    print(
        f"within {s['tolerance']:.0%} on {s['days_within']}/{s['days']} days; mean relative error "
        f"{s['mean_relative_error']:+.1%} (mean |.| {s['mean_absolute_relative_error']:.1%}, max "
        f"{s['max_absolute_relative_error']:.1%}); mean ECE {s['mean_ece']:.4f}"
    )


def summary(result: dict) -> dict[str, dict[str, dict[str, float]]]:
    """peer -> metric -> the means over the days, the mean difference with its joint interval, and
    on how many days ours is better (point estimate) and better / worse with the interval excluding zero."""
    days = result["days"]
    out: dict[str, dict[str, dict[str, float]]] = {}
    for key in PEERS:
        out[key] = {}
        for metric in METRICS:
            intervals = [d["ours_minus"][key][metric] for d in days]
            out[key][metric] = {
                "ours_mean": sum(d["ours"][metric] for d in days) / len(days),
                "peer_mean": sum(d[key][metric] for d in days) / len(days),
                "mean_difference": result["mean_ours_minus"][key][metric],
                "ours_better_days": sum(d["ours"][metric] > d[key][metric] for d in days),
                "interval_above_zero_days": sum(i["low"] > 0 for i in intervals),
                "interval_below_zero_days": sum(i["high"] < 0 for i in intervals),
                "days": len(days),
            }
    return out


def print_table(result: dict) -> None:
    for key, name in PEERS.items():
        print(f"\nours vs {name}: metric ours / peer, then ours - peer [95% CI] (* = excludes zero)\n")
        print(f"| day        | {' | '.join(f'{m:<43}' for m in METRICS)} |")
        print(f"|------------|{'|'.join('-' * 45 for _ in METRICS)}|")
        for d in result["days"]:
            cells = " | ".join(
                f"{d['ours'][m]:.4f} / {d[key][m]:.4f} {interval_text(d['ours_minus'][key][m])}" for m in METRICS
            )
            print(f"| {d['day']} | {cells} |")
        for metric, s in result["summary"][key].items():
            print(
                f"{metric}: mean ours {s['ours_mean']:.4f}, peer {s['peer_mean']:.4f}, "
                f"ours - peer {interval_text(s['mean_difference'])}; ours better on "
                f"{s['ours_better_days']}/{s['days']} days, interval above zero on "
                f"{s['interval_above_zero_days']}, below zero on {s['interval_below_zero_days']}"
            )
    print_calibration(result)
    print(f"\nseconds: {result['seconds']}")


def validation_parser(doc: str) -> argparse.ArgumentParser:
    """`--data`, `--cutoffs` and `--replicates`: the options of the benches on the validation days."""
    parser = bench_parser(doc)
    parser.add_argument(
        "--cutoffs",
        default=",".join(day.isoformat() for day in VALIDATION_DAYS),
        help="comma-separated validation days W (W + 30 <= 2011-10-01); default: the 15 days",
    )
    parser.add_argument("--replicates", type=int, default=REPLICATES, help="bootstrap draws per interval")
    return parser


def validation_days(parser: argparse.ArgumentParser, options: argparse.Namespace) -> list[dt.date]:
    """The parsed `--cutoffs`, each checked to end its label window by `LAST_ORDER_READ`."""
    days = [dt.date.fromisoformat(text.strip()) for text in options.cutoffs.split(",") if text.strip()]
    late = [day for day in days if day + dt.timedelta(days=30) > LAST_ORDER_READ]
    if late:
        parser.error(f"label windows must end by {LAST_ORDER_READ}: {', '.join(map(str, late))}")
    return days


def arguments() -> tuple[Path, list[dt.date], int]:
    parser = validation_parser(__doc__)
    options = parser.parse_args()
    return options.data, validation_days(parser, options), options.replicates


def main() -> None:
    data, days, replicates = arguments()
    started = time.perf_counter()
    result = run(data, days, replicates)
    result["summary"] = summary(result)
    result["seconds"]["run"] = round(time.perf_counter() - started, 1)
    print_table(result)
    write_record("propensity-validation", result)


if __name__ == "__main__":
    main()
