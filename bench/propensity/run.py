"""Purchase propensity on the real history: our LightGBM model vs recency, RFM and BG/NBD, plus
scoring throughput next to LightGBM's own `predict` on the same matrix, in one run.

Evaluation: features as of 2011-10-01 (the profile snapshot of that day) for every customer with a
purchase by then; label = a purchase invoice dated 2011-10-02..2011-10-31 (the 30 days after the
cut-off, the last day of the history). Our model is trained as `score_audiences` trains it as of
2011-10-01: weekly cut-offs whose 30-day label window ends by 2011-10-01, Platt-calibrated on the
two latest (scored by a booster trained without them), then refitted on all; default settings
(chosen on earlier cut-offs only by `validate.py`, labels up to 2011-10-01; nothing tuned on the
October window). Top-decile lift shares the places at the decile's edge among tied customers
(`marketflow.propensity.evaluate`), the same for every model. Baselines, each a score to rank by:
recency (fewer days since the last purchase = higher), RFM score (r + f + m quintile scores of the
profile), BG/NBD expected purchases in the next 30 days (the profile stage's CLV model fitted on
data up to 2011-10-01).

Throughput: the 2011-10-01 feature matrix repeated to ~100k rows. "LightGBM predict" is
`Booster.predict` of each of the model's boosters on the numpy matrix (and, to show where our time
goes, the same calls with `pred_contrib=True`, LightGBM's TreeSHAP); "ours" is `score_customers` from the profile frame
(features, calibrated probability, pred_contrib, top-3 reasons); "ours, to warehouse" is one
`score_shard` call (read snapshot, score, replace rows) on a SQLite warehouse, per customer.

    .venv/bin/python bench/propensity/run.py [--data DIR]

Prints the tables and writes bench/results/propensity-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import lightgbm as lgb
import numpy as np
import pandas as pd
import sklearn

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.record import write_record  # noqa: E402

from marketflow.ingest.sources.online_retail import read_history  # noqa: E402
from marketflow.profiles.build import fit_lifetime_value  # noqa: E402
from marketflow.profiles.clv import rfm_summary  # noqa: E402
from marketflow.profiles.history import day_number, prepare_history  # noqa: E402
from marketflow.profiles.settings import ProfileSettings  # noqa: E402
from marketflow.profiles.warehouse import write_snapshot  # noqa: E402
from marketflow.propensity import library, registry  # noqa: E402
from marketflow.propensity.dataset import bought_within, snapshot_builder  # noqa: E402
from marketflow.propensity.evaluate import ranking_metrics  # noqa: E402
from marketflow.propensity.features import feature_matrix  # noqa: E402
from marketflow.propensity.scoring import score_customers  # noqa: E402
from marketflow.propensity.settings import PropensitySettings  # noqa: E402
from marketflow.propensity.warehouse import score_shard  # noqa: E402
from marketflow.warehouse import upgrade_to_head, warehouse_engine  # noqa: E402

CUTOFF = dt.date(2011, 10, 1)
HORIZON_DAYS = 30
THROUGHPUT_ROWS = 100_000
REPEATS = 3


def best_seconds(action, repeats: int = REPEATS) -> float:
    timings = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        timings.append(time.perf_counter() - started)
    return min(timings)


def warehouse_seconds(snapshot, model, settings: PropensitySettings, folder: Path) -> float:
    """One `score_shard` (all customers in one shard) against a SQLite warehouse holding the snapshot."""
    engine = warehouse_engine(f"sqlite:///{folder / 'warehouse.db'}")
    upgrade_to_head(engine)
    write_snapshot(engine, snapshot)
    artifact = model.to_json()
    model_id = registry.model_id_for(CUTOFF, artifact)
    with engine.begin() as conn:
        registry.register_and_promote(
            conn, model_id=model_id, trained_as_of=CUTOFF, data_start=CUTOFF, data_end=CUTOFF, params={}, metrics={},
            artifact_uri=registry.write_artifact(str(folder / "models"), model_id, artifact),
        )
    one_shard = settings.model_copy(update={"shards": 1})
    return best_seconds(lambda: score_shard(engine, CUTOFF, model_id, 0, one_shard))


def run(data_dir: Path) -> dict:
    started = time.perf_counter()
    profile_settings, settings = ProfileSettings(), PropensitySettings()
    orders = read_history(data_dir)
    model, report = library.train(orders, CUTOFF, settings, profile_settings)  # what the DAG trains
    train_seconds = time.perf_counter() - started
    history = prepare_history(orders, profile_settings)  # the whole history: labels after the cut-off
    builder = snapshot_builder(history, profile_settings)

    snapshot = builder.build(CUTOFF)
    profiles = snapshot.profiles
    features = feature_matrix(profiles)
    labels = features.index.isin(bought_within(history, CUTOFF, HORIZON_DAYS)).astype(int)
    clv = fit_lifetime_value(history, CUTOFF, profile_settings)
    bgnbd = clv.predict(rfm_summary(history.invoices, day_number(CUTOFF)), HORIZON_DAYS)["expected_purchases"]
    ours = model.predict(features)
    scores = {
        "ours (LightGBM, calibrated)": ours,
        "recency only": -profiles["recency_days"].to_numpy(),
        "RFM score (r+f+m)": (profiles["r_score"] + profiles["f_score"] + profiles["m_score"]).to_numpy(),
        "BG/NBD expected purchases 30d": bgnbd.reindex(features.index).to_numpy(),
    }
    quality = {name: ranking_metrics(labels, score) for name, score in scores.items()}

    repeat = int(np.ceil(THROUGHPUT_ROWS / len(profiles)))
    big_profiles = pd.concat([profiles] * repeat, ignore_index=True)
    matrix = feature_matrix(big_profiles)[list(model.features)].to_numpy(dtype=np.float64)
    raw = best_seconds(lambda: [booster.predict(matrix) for booster in model.boosters])
    contrib = best_seconds(lambda: [booster.predict(matrix, pred_contrib=True) for booster in model.boosters])
    ours_seconds = best_seconds(lambda: score_customers(model, feature_matrix(big_profiles), settings.top_reasons))
    with tempfile.TemporaryDirectory() as folder:
        stored_seconds = warehouse_seconds(snapshot, model, settings, Path(folder))
    throughput = {
        "LightGBM predict (probabilities only)": len(matrix) / raw,
        "LightGBM predict(pred_contrib=True) (SHAP values only)": len(matrix) / contrib,
        "ours: features + calibrated score + pred_contrib + top-3 reasons": len(matrix) / ours_seconds,
        "ours, to warehouse: score_shard on SQLite (read, score, replace rows)": len(profiles) / stored_seconds,
    }
    return {
        "evaluation": {
            "features_as_of": CUTOFF.isoformat(),
            "label_window": [
                (CUTOFF + dt.timedelta(days=1)).isoformat(),
                (CUTOFF + dt.timedelta(days=HORIZON_DAYS)).isoformat(),
            ],
            "customers": len(features),
            "buyer_rate": float(labels.mean()),
            "mean_prediction": float(ours.mean()),
            "training": report.as_dict(),
            "train_seconds": round(train_seconds, 1),
        },
        "quality": quality,
        "throughput_customers_per_s": throughput,
        "throughput_rows": len(matrix),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "lightgbm": lgb.__version__,
            "pandas": pd.__version__,
            "scikit-learn": sklearn.__version__,
        },
    }


def print_tables(result: dict) -> None:
    evaluation = result["evaluation"]
    print(
        f"features as of {evaluation['features_as_of']}, label = purchase in "
        f"{evaluation['label_window'][0]}..{evaluation['label_window'][1]}: {evaluation['customers']} customers, "
        f"buyer rate {evaluation['buyer_rate']:.3f}, mean calibrated prediction {evaluation['mean_prediction']:.3f}"
    )
    training = evaluation["training"]
    print(
        f"trained on cut-offs {training['train_cutoffs'][0]}..{training['train_cutoffs'][1]} "
        f"({training['train_rows']} rows), calibrated on {', '.join(training['calibration_cutoffs'])}\n"
    )
    print(f"| {'model':<32} | ROC AUC | PR AUC | lift top 10% |")
    print(f"|{'-' * 34}|---------|--------|--------------|")
    for name, metrics in result["quality"].items():
        roc, pr, lift = metrics["roc_auc"], metrics["pr_auc"], metrics["top_decile_lift"]
        print(f"| {name:<32} | {roc:.4f}  | {pr:.4f} | {lift:12.2f} |")
    ours = result["quality"]["ours (LightGBM, calibrated)"]
    for name, metrics in list(result["quality"].items())[1:]:
        verdict = ", ".join(
            f"{metric} {'better' if ours[metric] > value else 'tie' if ours[metric] == value else 'WORSE'}"
            for metric, value in metrics.items()
        )
        print(f"ours vs {name}: {verdict}")
    raw = result["throughput_customers_per_s"]["LightGBM predict (probabilities only)"]
    print(f"\n| {'scoring path':<72} | customers/s | vs predict |")
    print(f"|{'-' * 74}|-------------|------------|")
    for name, rate in result["throughput_customers_per_s"].items():
        print(f"| {name:<72} | {rate:11,.0f} | {rate / raw:9.2f}x |")


def data_folder(doc: str) -> Path:
    """The `--data` option of the propensity benches: the real day files."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    default = os.environ.get("MARKETFLOW_REAL_DATA", str(REPO.parent / "shared" / "data" / "online-retail" / "by-day"))
    parser.add_argument("--data", type=Path, default=Path(default), help="folder of YYYY-MM-DD.csv day files")
    return parser.parse_args().data


def main() -> None:
    result = run(data_folder(__doc__))
    print_tables(result)
    write_record("propensity", result)


if __name__ == "__main__":
    main()
