"""Lifetime value on a time split of the real history: BG/NBD + Gamma-Gamma vs the naive baseline.

Fit on purchases up to 2011-07-31, predict purchases and spend per customer for 2011-08-01..10-31
(92 days), compare with what each customer really bought; the naive baseline predicts "the same
as the last 92 days" (2011-05-01..07-31). Customers: everyone with a purchase by 2011-07-31.
Nothing is tuned on August-October. Purchases and spend follow `marketflow.profiles.history`
(purchase invoices; gross merchandise value).

    .venv/bin/python bench/profiles/clv_eval.py [--data DIR]

Prints the table and writes bench/results/profiles_clv_eval.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "online-retail" / "by-day"
sys.path.insert(0, str(REPO))

from bench.record import write_record  # noqa: E402

from marketflow.ingest.sources.online_retail import read_history  # noqa: E402
from marketflow.profiles.clv import fit_clv, rfm_summary  # noqa: E402
from marketflow.profiles.history import day_number, prepare_history  # noqa: E402
from marketflow.profiles.settings import ProfileSettings  # noqa: E402

CUTOFF = dt.date(2011, 7, 31)
HORIZON_END = dt.date(2011, 10, 31)
HORIZON_DAYS = (HORIZON_END - CUTOFF).days  # 92


def window_totals(invoices: pd.DataFrame, first: int, last: int) -> pd.DataFrame:
    """Purchases and gross spend per customer with first <= day <= last (day numbers)."""
    window = invoices[invoices["is_purchase"] & (invoices["day"] >= first) & (invoices["day"] <= last)]
    grouped = window.groupby("customer_id", observed=True)
    totals = pd.DataFrame({"purchases": grouped.size(), "spend": grouped["purchase_value"].sum()})
    totals.index = totals.index.astype(str)
    return totals


def errors(predicted: pd.Series, actual: pd.Series) -> dict[str, float]:
    difference = predicted - actual
    return {
        "mae": float(difference.abs().mean()),
        "rmse": float(np.sqrt((difference**2).mean())),
        "total_predicted": float(predicted.sum()),
        "total_actual": float(actual.sum()),
        "total_error_pct": float(100 * (predicted.sum() - actual.sum()) / actual.sum()),
    }


def evaluate(data_dir: Path) -> dict:
    settings = ProfileSettings()
    history = prepare_history(read_history(data_dir, end=HORIZON_END), settings)
    cutoff = day_number(CUTOFF)
    summary = rfm_summary(history.invoices, cutoff)
    model = fit_clv(summary)
    prediction = model.predict(summary, HORIZON_DAYS)
    actual = window_totals(history.invoices, cutoff + 1, day_number(HORIZON_END)).reindex(summary.index, fill_value=0)
    naive = window_totals(history.invoices, cutoff - HORIZON_DAYS + 1, cutoff).reindex(summary.index, fill_value=0)
    return {
        "customers": len(summary),
        "fit_until": CUTOFF.isoformat(),
        "horizon": f"{(CUTOFF + dt.timedelta(days=1)).isoformat()}..{HORIZON_END.isoformat()} ({HORIZON_DAYS} days)",
        "bgnbd": vars(model.purchases),
        "gamma_gamma": vars(model.spend) if model.spend else None,
        "purchases": {
            "model": errors(prediction["expected_purchases"], actual["purchases"]),
            "naive": errors(naive["purchases"].astype(float), actual["purchases"]),
        },
        "spend": {
            "model": errors(prediction["expected_spend"], actual["spend"]),
            "naive": errors(naive["spend"], actual["spend"]),
        },
    }


def table(result: dict) -> str:
    lines = [
        f"CLV evaluation: fit <= {result['fit_until']}, predict {result['horizon']}, {result['customers']} customers",
        f"{'target':<10} {'method':<22} {'MAE':>9} {'RMSE':>9} {'predicted':>11} {'actual':>11} {'total err':>9}",
    ]
    names = {"model": "BG/NBD + Gamma-Gamma", "naive": "naive (last 92 days)"}
    for target in ("purchases", "spend"):
        for method in ("model", "naive"):
            e = result[target][method]
            lines.append(
                f"{target:<10} {names[method]:<22} {e['mae']:>9.3f} {e['rmse']:>9.3f} "
                f"{e['total_predicted']:>11.1f} {e['total_actual']:>11.1f} {e['total_error_pct']:>8.1f}%"
            )
    bg, gg = result["bgnbd"], result["gamma_gamma"]
    lines.append(f"BG/NBD r={bg['r']:.3f} alpha={bg['alpha']:.2f} a={bg['a']:.3f} b={bg['b']:.3f} (days)")
    if gg:
        lines.append(f"Gamma-Gamma p={gg['p']:.3f} q={gg['q']:.3f} v={gg['v']:.2f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data",
        type=Path,
        default=Path(os.environ.get("MARKETFLOW_REAL_DATA", DEFAULT_DATA)),
        help="folder of the real YYYY-MM-DD.csv files",
    )
    args = parser.parse_args()
    result = evaluate(args.data)
    print(table(result))
    write_record("profiles_clv_eval", result, stamped=False)


if __name__ == "__main__":
    main()
