"""The propensity model on earlier cut-offs only: how model choices were made without the October window.

For each validation day W (weekly, 2011-05-03..2011-08-02, and 2011-09-01) the model is trained as
`score_audiences` trains it as of W (weekly cut-offs whose label window ends by W) and ranks the
customers of W's snapshot by a purchase in W+1..W+30; the BG/NBD baseline is the profile stage's CLV
model fitted on data up to W, 30 days ahead, as in `run.py`. Only orders dated up to 2011-10-01 are
read, so nothing of the bench's October label window can inform a choice made here.

    .venv/bin/python bench/propensity/validate.py [--data DIR]

Prints one row per W, the means and how often ours beats BG/NBD; writes
bench/results/propensity-validation-<timestamp>.json.
"""

from __future__ import annotations

import datetime as dt
import sys
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.propensity.run import data_folder  # noqa: E402
from bench.record import write_record  # noqa: E402
from marketflow.ingest.sources.online_retail import read_history  # noqa: E402
from marketflow.profiles.build import fit_lifetime_value  # noqa: E402
from marketflow.profiles.clv import rfm_summary  # noqa: E402
from marketflow.profiles.history import day_number, prepare_history  # noqa: E402
from marketflow.profiles.settings import ProfileSettings  # noqa: E402
from marketflow.propensity.dataset import labelled_cutoff, snapshot_builder, training_cutoffs  # noqa: E402
from marketflow.propensity.evaluate import ranking_metrics  # noqa: E402
from marketflow.propensity.model import train_model  # noqa: E402
from marketflow.propensity.settings import PropensitySettings  # noqa: E402

LAST_ORDER_READ = dt.date(2011, 10, 1)
VALIDATION_DAYS = [dt.date(2011, 5, 3) + dt.timedelta(days=7 * week) for week in range(14)] + [dt.date(2011, 9, 1)]
METRICS = ("roc_auc", "pr_auc", "top_decile_lift")


def run(data_dir: Path) -> dict:
    profile_settings, settings = ProfileSettings(), PropensitySettings()
    orders = read_history(data_dir)
    history = prepare_history(orders[orders["order_date"] <= LAST_ORDER_READ], profile_settings)
    builder = snapshot_builder(history, profile_settings)
    labelled: dict[dt.date, pd.DataFrame] = {}

    def rows(day: dt.date) -> pd.DataFrame:
        if day not in labelled:
            labelled[day] = labelled_cutoff(builder, day, settings.horizon_days)
        return labelled[day]

    results = []
    for day in VALIDATION_DAYS:
        model, _ = train_model(pd.concat([rows(c) for c in training_cutoffs(history, day, settings)]), settings)
        held_out = rows(day)
        clv = fit_lifetime_value(history, day, profile_settings)
        bgnbd = clv.predict(rfm_summary(history.invoices, day_number(day)), settings.horizon_days)
        results.append(
            {
                "day": day.isoformat(),
                "ours": ranking_metrics(held_out["label"], model.predict(held_out)),
                "bgnbd": ranking_metrics(
                    held_out["label"], bgnbd["expected_purchases"].reindex(held_out.index).to_numpy()
                ),
            }
        )
    return {"settings": settings.model_dump(exclude={"model_store"}), "days": results}


def summary(result: dict) -> dict[str, dict[str, float]]:
    days = result["days"]
    return {
        metric: {
            "ours_mean": sum(d["ours"][metric] for d in days) / len(days),
            "bgnbd_mean": sum(d["bgnbd"][metric] for d in days) / len(days),
            "ours_better_days": sum(d["ours"][metric] > d["bgnbd"][metric] for d in days),
            "days": len(days),
        }
        for metric in METRICS
    }


def print_table(result: dict) -> None:
    print("| day        | ROC AUC ours / BG/NBD | PR AUC ours / BG/NBD | lift ours / BG/NBD |")
    print("|------------|-----------------------|----------------------|--------------------|")
    for d in result["days"]:
        cells = " | ".join(f"{d['ours'][m]:.4f} / {d['bgnbd'][m]:.4f}" for m in METRICS)
        print(f"| {d['day']} | {cells} |")
    for metric, s in result["summary"].items():
        print(
            f"{metric}: mean ours {s['ours_mean']:.4f}, BG/NBD {s['bgnbd_mean']:.4f}; "
            f"ours better on {s['ours_better_days']}/{s['days']} days"
        )


def main() -> None:
    result = run(data_folder(__doc__))
    result["summary"] = summary(result)
    print_table(result)
    write_record("propensity-validation", result)


if __name__ == "__main__":
    main()
