"""Ablation of the propensity model's feature groups on the validation cut-offs (issue 14): what each
group adds to the model as shipped, and what each candidate signal (`candidates.py`) would add to it.

For each validation day W (`validate.py`'s days, orders up to 2011-10-01 only) the full model is
trained as `score_audiences` trains it as of W (`model.train_model`), and then, once per feature
group, the same model without that group's columns: the same stacked rows, settings and seeds,
`train_model` itself on a column subset (its `features`: an ensemble on the cut-offs before the
calibration cut-offs, Platt on its scores of those, the ensemble refitted on every cut-off). Then,
once per candidate group, the full model with that group's columns added.

Per variant: the mean over the days of ROC AUC, PR AUC, top-decile lift, the calibration relative
error (mean prediction / observed buyer rate - 1; its absolute value) and the expected calibration
error (10 equal-count bins), and the mean difference variant - full with a 95% interval from
drawing customers jointly for all days (`evaluate.paired_bootstrap_mean`, the same draws for every
variant). For a removed group, a negative difference of ROC AUC, PR AUC or lift means the group
helps (a positive one for the two calibration errors); for an added candidate, the reverse.

    .venv/bin/python bench/propensity/ablation.py [--data DIR] [--cutoffs ...] [--every-other]
        [--groups returns,country] [--candidates season,products] [--replicates N]

Prints the table and writes bench/results/propensity-ablation-<timestamp>.json after every variant
(a stopped run leaves the variants it finished).
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.propensity.calibration import (  # noqa: E402
    absolute_relative_error,
    calibration_row,
    expected_calibration_error,
)
from bench.propensity.candidates import CANDIDATES, with_candidates  # noqa: E402
from bench.propensity.peer import LEVEL, SEED, interval_text  # noqa: E402
from bench.propensity.validate import Cutoffs, validation_days, validation_parser  # noqa: E402
from bench.record import write_record  # noqa: E402
from marketflow.profiles.settings import ProfileSettings  # noqa: E402
from marketflow.propensity.dataset import labelled_profiles  # noqa: E402
from marketflow.propensity.evaluate import EvaluationSet, paired_bootstrap_mean, ranking_metrics  # noqa: E402
from marketflow.propensity.features import FEATURES  # noqa: E402
from marketflow.propensity.model import train_model  # noqa: E402
from marketflow.propensity.settings import PropensitySettings  # noqa: E402

#: The feature groups removed one at a time, by name.
GROUPS: dict[str, tuple[str, ...]] = {
    "rfm_raw": ("recency_days", "frequency", "monetary", "tenure_days", "avg_basket_value"),
    "returns": ("return_rate",),
    "windows": ("purchases_30d", "purchases_90d", "purchases_365d"),
    "rfm_scores": ("r_score", "f_score", "m_score"),
    "clv": ("expected_purchases_90d", "expected_spend_90d"),
    "rhythm": ("mean_gap_days", "recency_over_gap"),
    "price_band": ("price_band_level",),
    "country": ("home_market",),
}
assert sorted(sum(GROUPS.values(), ())) == sorted(FEATURES), "the groups must cover FEATURES exactly once"

#: Metrics of the ablation: name -> a function (labels, scores) -> float or a name `evaluate` knows.
ABLATION_METRICS = {
    "roc_auc": "roc_auc",
    "pr_auc": "pr_auc",
    "top_decile_lift": "top_decile_lift",
    "abs_relative_error": absolute_relative_error,
    "ece": expected_calibration_error,
}


def day_metrics(labels: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    calibration = calibration_row(labels, scores)
    return {
        **ranking_metrics(labels, scores),
        "relative_error": calibration["relative_error"],
        "abs_relative_error": abs(calibration["relative_error"]),
        "ece": calibration["ece"],
    }


def means(per_day: list[dict[str, object]]) -> dict[str, float]:
    """The mean over the days of every metric (not of `day` or `customers`)."""
    names = [name for name in per_day[0] if name not in ("day", "customers")]
    return {name: float(np.mean([d[name] for d in per_day])) for name in names}


class CandidateCutoffs(Cutoffs):
    """`Cutoffs` whose rows also carry every candidate column (`candidates.with_candidates`)."""

    def rows(self, day: dt.date):
        if day not in self._labelled:
            profiles = self.builder.build(day).profiles
            rows = labelled_profiles(self.history, profiles, day, self.settings.horizon_days)
            self._labelled[day] = with_candidates(rows, profiles, self.history, day)
        return self._labelled[day]


def variants(groups: list[str], candidates: list[str]) -> list[tuple[str, str, tuple[str, ...]]]:
    """(kind, group, columns trained on): each group removed, then each candidate added."""
    removed = [("without", name, tuple(f for f in FEATURES if f not in GROUPS[name])) for name in groups]
    added = [("with", name, FEATURES + CANDIDATES[name]) for name in candidates]
    return removed + added


def run(options, days: list[dt.date], groups: list[str], candidates: list[str], stamp: str) -> dict:
    settings, profile_settings = PropensitySettings(), ProfileSettings()
    started = time.perf_counter()
    kind = CandidateCutoffs if candidates else Cutoffs
    cutoffs = kind(options.data, settings, profile_settings, peer=False)
    seconds: dict[str, float] = {"full_train": 0.0}
    held: list[tuple[np.ndarray, np.ndarray]] = []  # (customer ids, labels) per day
    full_scores, full_days = [], []
    for day in days:
        stacked = cutoffs.training_rows(day)
        held_out = cutoffs.rows(day)
        labels = held_out["label"].to_numpy()
        begun = time.perf_counter()
        model, _ = train_model(stacked, settings)
        seconds["full_train"] += time.perf_counter() - begun
        scores = model.predict(held_out)
        held.append((held_out.index.to_numpy(), labels))
        full_scores.append(scores)
        full_days.append({"day": day.isoformat(), "customers": len(labels), **day_metrics(labels, scores)})
        print(f"{day}: full model done", file=sys.stderr, flush=True)
    seconds["full_with_snapshots"] = time.perf_counter() - started
    result = {
        "settings": settings.model_dump(exclude={"model_store"}),
        "days": [day.isoformat() for day in days],
        "groups": {name: list(GROUPS[name]) for name in groups},
        "candidates": {name: list(CANDIDATES[name]) for name in candidates},
        "bootstrap": {
            "unit": "customer, drawn with replacement jointly over the days",
            "replicates": options.replicates,
            "seed": SEED,
            "interval": f"{LEVEL:.0%} percentile",
            "difference": "variant (group removed or candidate added) - full model",
        },
        "full": {"mean": means(full_days), "per_day": full_days},
        "without": {},
        "with": {},
        "seconds": seconds,
    }
    for kind_name, name, columns in variants(groups, candidates):
        begun = time.perf_counter()
        per_day, sets = [], []
        for day, (ids, labels), full in zip(days, held, full_scores, strict=True):
            scores = train_model(cutoffs.training_rows(day), settings, columns)[0].predict(cutoffs.rows(day))
            per_day.append({"day": day.isoformat(), **day_metrics(labels, scores)})
            sets.append(EvaluationSet(ids, labels, scores, full))
        train_seconds = time.perf_counter() - begun
        begun = time.perf_counter()
        intervals = {
            metric: paired_bootstrap_mean(sets, measure, options.replicates, SEED, LEVEL).as_dict()
            for metric, measure in ABLATION_METRICS.items()
        }
        result[kind_name][name] = {
            "columns": [c for c in columns if c not in FEATURES] if kind_name == "with" else list(GROUPS[name]),
            "mean": means(per_day),
            "minus_full": intervals,
            "per_day": per_day,
            "seconds": {"train": round(train_seconds, 1), "bootstrap": round(time.perf_counter() - begun, 1)},
        }
        result["seconds"]["run"] = round(time.perf_counter() - started, 1)
        write_record(f"propensity-ablation-{stamp}", result, stamped=False)
        print(f"{kind_name} {name}: done ({result[kind_name][name]['seconds']})", file=sys.stderr, flush=True)
    result["seconds"] = {key: round(value, 1) for key, value in result["seconds"].items()}
    return result


def print_table(result: dict) -> None:
    full = result["full"]["mean"]
    print(
        f"\nablation over {len(result['days'])} validation days ({result['days'][0]}..{result['days'][-1]})\n"
    )
    print(
        "| variant | ROC AUC | PR AUC | lift | rel. error | ECE | "
        "ROC AUC - full [95% CI] | PR AUC - full [95% CI] | lift - full [95% CI] | "
        "abs rel. error - full [95% CI] | ECE - full [95% CI] |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    print(
        f"| full model | {full['roc_auc']:.4f} | {full['pr_auc']:.4f} | {full['top_decile_lift']:.3f} | "
        f"{full['relative_error']:+.1%} | {full['ece']:.4f} | | | | | |"
    )
    for kind_name in ("without", "with"):
        for name, variant in result.get(kind_name, {}).items():
            m, d = variant["mean"], variant["minus_full"]
            print(
                f"| {kind_name} {name} | {m['roc_auc']:.4f} | {m['pr_auc']:.4f} | {m['top_decile_lift']:.3f} | "
                f"{m['relative_error']:+.1%} | {m['ece']:.4f} | {interval_text(d['roc_auc'])} | "
                f"{interval_text(d['pr_auc'])} | {interval_text(d['top_decile_lift'], 3)} | "
                f"{interval_text(d['abs_relative_error'])} | {interval_text(d['ece'])} |"
            )
    print(f"\nseconds: {result['seconds']}")


def main() -> None:
    parser = validation_parser(__doc__)
    parser.add_argument("--every-other", action="store_true", help="every other validation day (first, third, ...)")
    parser.add_argument(
        "--groups", default=",".join(GROUPS), help=f"comma-separated groups to remove: {', '.join(GROUPS)}"
    )
    parser.add_argument(
        "--candidates",
        default=",".join(CANDIDATES),
        help=f"comma-separated candidate groups to add: {', '.join(CANDIDATES)}",
    )
    options = parser.parse_args()
    days = validation_days(parser, options)
    if options.every_other:
        days = days[::2]
    groups = [name.strip() for name in options.groups.split(",") if name.strip()]
    candidates = [name.strip() for name in options.candidates.split(",") if name.strip()]
    unknown = sorted(set(groups) - set(GROUPS)) + sorted(set(candidates) - set(CANDIDATES))
    if unknown:
        parser.error(f"unknown groups: {', '.join(unknown)}")
    stamp = f"{dt.datetime.now():%Y%m%d-%H%M%S}"
    result = run(options, days, groups, candidates, stamp)
    print_table(result)
    write_record(f"propensity-ablation-{stamp}", result, stamped=False)


if __name__ == "__main__":
    main()
