"""How the calibration window moves the calibration on the validation cut-offs (issue 14): the model
trained as of each validation day W with `calibration_cutoffs` = K for each K of `--windows`, and per
W the relative error of the mean calibrated prediction (mean prediction / observed buyer rate - 1).

K only changes which latest cut-offs the Platt curve is fitted on (scored by boosters trained without
them); the shipped boosters are refitted on every cut-off whatever K, so ROC AUC, PR AUC and lift do
not depend on K (Platt is increasing). Orders up to 2011-10-01 only, as in `validate.py`.

    .venv/bin/python bench/propensity/calibration_window.py [--data DIR] [--cutoffs ...] [--windows 1,2,4,6,8,12]

Prints one row per K (within-10% count, mean and largest absolute error, mean ECE, every day's error)
and writes bench/results/propensity-calibration-window-<timestamp>.json.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.propensity.calibration import TOLERANCE, calibration_row  # noqa: E402
from bench.propensity.validate import Cutoffs, validation_days, validation_parser  # noqa: E402
from bench.record import write_record  # noqa: E402
from marketflow.profiles.settings import ProfileSettings  # noqa: E402
from marketflow.propensity.model import train_model  # noqa: E402
from marketflow.propensity.settings import PropensitySettings  # noqa: E402


def main() -> None:
    parser = validation_parser(__doc__)
    parser.add_argument("--windows", default="1,2,4,6,8,12", help="comma-separated calibration_cutoffs values K")
    options = parser.parse_args()
    days = validation_days(parser, options)
    windows = [int(text) for text in options.windows.split(",") if text.strip()]
    started = time.perf_counter()
    cutoffs = Cutoffs(options.data, PropensitySettings(), ProfileSettings(), peer=False)
    result: dict[str, object] = {"days": [day.isoformat() for day in days], "windows": {}}
    for window in windows:
        settings = PropensitySettings(calibration_cutoffs=window)
        rows = []
        for day in days:
            held_out = cutoffs.rows(day)
            model, _ = train_model(cutoffs.training_rows(day), settings)
            rows.append({"day": day.isoformat(), **calibration_row(held_out["label"].to_numpy(), model.predict(held_out))})
        errors = np.array([row["relative_error"] for row in rows])
        result["windows"][str(window)] = {
            "within": int((np.abs(errors) <= TOLERANCE).sum()),
            "mean_abs_error": float(np.abs(errors).mean()),
            "max_abs_error": float(np.abs(errors).max()),
            "mean_ece": float(np.mean([row["ece"] for row in rows])),
            "per_day": rows,
        }
        print(f"K={window}: done", file=sys.stderr, flush=True)
    result["seconds"] = round(time.perf_counter() - started, 1)
    print(f"\n| K | within {TOLERANCE:.0%} | mean abs. error | max abs. error | ECE | " + " | ".join(d[5:] for d in result["days"]) + " |")
    print("|---|---|---|---|---|" + "---|" * len(days))
    for window, row in result["windows"].items():
        errors = " | ".join(f"{day['relative_error']:+.1%}" for day in row["per_day"])
        print(
            f"| {window} | {row['within']} / {len(days)} | {row['mean_abs_error']:.1%} | {row['max_abs_error']:.1%} | "
            f"{row['mean_ece']:.4f} | {errors} |"
        )
    print(f"\nseconds: {result['seconds']}")
    write_record("propensity-calibration-window", result)


if __name__ == "__main__":
    main()
