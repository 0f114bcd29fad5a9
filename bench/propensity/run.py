"""Purchase propensity on the real history: our LightGBM model vs a plain LightGBM, recency, RFM and
BG/NBD, with paired bootstrap intervals for every difference, plus scoring throughput next to
LightGBM's own `predict` on the same matrix, in one run.

Evaluation: features as of 2011-10-01 (the profile snapshot of that day) for every customer with a
purchase by then; label = a purchase invoice dated 2011-10-02..2011-10-31 (the 30 days after the
cut-off, the last day of the history). Our model is trained as `score_audiences` trains it as of
2011-10-01: weekly cut-offs whose 30-day label window ends by 2011-10-01, Platt-calibrated on the
two latest (scored by a booster trained without them), then refitted on all; default settings
(chosen on earlier cut-offs only by `validate.py`, labels up to 2011-10-01; nothing tuned on the
October window). Calibration: the observed buyer rate, our mean calibrated prediction, their
relative error and the expected calibration error over 10 equal-count bins (`calibration.py`).
Top-decile lift shares the places at the decile's edge among tied customers
(`marketflow.propensity.evaluate`), the same for every model. Baselines, each a score to rank by:
recency (fewer days since the last purchase = higher), RFM score (r + f + m quintile scores of the
profile), BG/NBD expected purchases in the next 30 days (the profile stage's CLV model fitted on
data up to 2011-10-01), and the plain LightGBM peer (`peer.py`: LightGBM's default parameters on ten
RFM-style features, trained on exactly our training rows and labels). Every difference ours - peer
comes with a 95% paired bootstrap interval: 1,000 draws of the October customers with replacement
(seeded), every model measured on the same draws.

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

from bench.propensity.peer import (  # noqa: E402
    PLAIN_FEATURES,
    PLAIN_NAME,
    REPLICATES,
    SEED,
    PeerBuilder,
    differences,
    interval_text,
    plain_features,
    plain_params,
    plain_scores,
    train_plain,
)
from bench.propensity.calibration import calibration_row, calibration_text  # noqa: E402
from bench.record import write_record  # noqa: E402

from marketflow.ingest.sources.online_retail import read_history  # noqa: E402
from marketflow.profiles.build import fit_lifetime_value  # noqa: E402
from marketflow.profiles.clv import rfm_summary  # noqa: E402
from marketflow.profiles.history import day_number, prepare_history  # noqa: E402
from marketflow.profiles.settings import ProfileSettings  # noqa: E402
from marketflow.profiles.warehouse import write_snapshot  # noqa: E402
from marketflow.propensity import library, registry  # noqa: E402
from marketflow.propensity.dataset import (  # noqa: E402
    bought_within,
    snapshot_builder,
    stacked_dataset,
    training_cutoffs,
)
from marketflow.propensity.evaluate import ranking_metrics  # noqa: E402
from marketflow.propensity.features import feature_matrix  # noqa: E402
from marketflow.propensity.model import TrainingReport  # noqa: E402
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


def train_peer(
    orders: pd.DataFrame, report: TrainingReport, settings: PropensitySettings, profile_settings: ProfileSettings
) -> tuple[lgb.LGBMClassifier, float, dict[str, float]]:
    """The plain peer trained as of CUTOFF on the rows `library.train` stacks: the same steps (orders up
    to the cut-off, its weekly cut-offs, `stacked_dataset`), checked against the training report."""
    dated = orders[(pd.to_datetime(orders["order_date"]) <= pd.Timestamp(CUTOFF)).to_numpy()]
    history = prepare_history(dated, profile_settings)
    builder = PeerBuilder(snapshot_builder(history, profile_settings))
    cutoffs = training_cutoffs(history, CUTOFF, settings)
    ours = stacked_dataset(builder, cutoffs, settings.horizon_days)
    if cutoffs != report.train_cutoffs or len(ours) != report.train_rows:
        raise AssertionError("the peer's training rows are not ours")
    rows = builder.rows(ours)
    started = time.perf_counter()
    plain = train_plain(rows)
    fit_seconds = time.perf_counter() - started
    return plain, fit_seconds, {"train_rows": len(rows), "train_buyer_rate": float(rows["label"].mean())}


def run(data_dir: Path) -> dict:
    started = time.perf_counter()
    profile_settings, settings = ProfileSettings(), PropensitySettings()
    orders = read_history(data_dir)
    model, report = library.train(orders, CUTOFF, settings, profile_settings)  # what the DAG trains
    train_seconds = time.perf_counter() - started
    started = time.perf_counter()
    plain, plain_fit_seconds, plain_rows = train_peer(orders, report, settings, profile_settings)
    plain_seconds = time.perf_counter() - started
    history = prepare_history(orders, profile_settings)  # the whole history: labels after the cut-off
    builder = snapshot_builder(history, profile_settings)

    snapshot = builder.build(CUTOFF)
    profiles = snapshot.profiles
    features = feature_matrix(profiles)
    labels = features.index.isin(bought_within(history, CUTOFF, HORIZON_DAYS)).astype(int)
    clv = fit_lifetime_value(history, CUTOFF, profile_settings)
    bgnbd = clv.predict(rfm_summary(history.invoices, day_number(CUTOFF)), HORIZON_DAYS)["expected_purchases"]
    ours = model.predict(features)
    plain_matrix = plain_features(profiles, history, CUTOFF)
    assert plain_matrix.index.equals(features.index)
    scores = {
        "ours (LightGBM, calibrated)": ours,
        PLAIN_NAME: plain_scores(plain, plain_matrix),
        "recency only": -profiles["recency_days"].to_numpy(),
        "RFM score (r+f+m)": (profiles["r_score"] + profiles["f_score"] + profiles["m_score"]).to_numpy(),
        "BG/NBD expected purchases 30d": bgnbd.reindex(features.index).to_numpy(),
    }
    quality = {name: ranking_metrics(labels, score) for name, score in scores.items()}
    started = time.perf_counter()
    peers = {name: score for name, score in scores.items() if name != "ours (LightGBM, calibrated)"}
    intervals = differences(labels, ours, peers)
    bootstrap_seconds = time.perf_counter() - started

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
            "calibration": calibration_row(labels, ours),
            "training": report.as_dict(),
            "train_seconds": round(train_seconds, 1),
        },
        "quality": quality,
        "ours_minus_peer": intervals,
        "bootstrap": {
            "unit": "customer (row), drawn with replacement",
            "replicates": REPLICATES,
            "seed": SEED,
            "interval": "95% percentile",
            "seconds": round(bootstrap_seconds, 1),
        },
        "plain_lightgbm": {
            "features": list(PLAIN_FEATURES),
            "params": plain_params(plain),
            **plain_rows,
            "fit_seconds": round(plain_fit_seconds, 1),
            "seconds_with_cutoff_snapshots": round(plain_seconds, 1),
        },
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
    print(f"calibration of ours: {calibration_text(evaluation['calibration'])}")
    training = evaluation["training"]
    print(
        f"trained on cut-offs {training['train_cutoffs'][0]}..{training['train_cutoffs'][1]} "
        f"({training['train_rows']} rows), calibrated on {', '.join(training['calibration_cutoffs'])}\n"
    )
    width = max(len(name) for name in result["quality"])
    heads = ("ours - peer: ROC AUC [95% CI]", "PR AUC [95% CI]", "lift [95% CI]")
    sizes = (max(len(heads[0]), 27), 27, 24)  # the widths of `interval_text` at 4, 4 and 3 digits
    print(
        f"| {'model':<{width}} | ROC AUC | PR AUC | lift top 10% | "
        + " | ".join(f"{head:<{size}}" for head, size in zip(heads, sizes, strict=True))
        + " |"
    )
    print(f"|{'-' * (width + 2)}|---------|--------|--------------|" + "|".join("-" * (n + 2) for n in sizes) + "|")
    for name, metrics in result["quality"].items():
        roc, pr, lift = metrics["roc_auc"], metrics["pr_auc"], metrics["top_decile_lift"]
        d = result["ours_minus_peer"].get(name)
        texts = (
            (interval_text(d["roc_auc"]), interval_text(d["pr_auc"]), interval_text(d["top_decile_lift"], 3))
            if d
            else ("", "", "")
        )
        cells = " | ".join(f"{text:<{size}}" for text, size in zip(texts, sizes, strict=True))
        print(f"| {name:<{width}} | {roc:.4f}  | {pr:.4f} | {lift:12.3f} | {cells} |")
    bootstrap = result["bootstrap"]
    print(
        f"* = the interval excludes zero ({bootstrap['replicates']} paired draws of the customers, seed "
        f"{bootstrap['seed']}, {bootstrap['seconds']} s); plain LightGBM trained on "
        f"{result['plain_lightgbm']['train_rows']} rows (ours: {training['train_rows']}), "
        f"fit {result['plain_lightgbm']['fit_seconds']} s"
    )
    raw = result["throughput_customers_per_s"]["LightGBM predict (probabilities only)"]
    print(f"\n| {'scoring path':<72} | customers/s | vs predict |")
    print(f"|{'-' * 74}|-------------|------------|")
    for name, rate in result["throughput_customers_per_s"].items():
        print(f"| {name:<72} | {rate:11,.0f} | {rate / raw:9.2f}x |")


def bench_parser(doc: str) -> argparse.ArgumentParser:
    """The options every propensity bench takes: `--data`, the real day files."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    default = os.environ.get("MARKETFLOW_REAL_DATA", str(REPO.parent / "shared" / "data" / "online-retail" / "by-day"))
    parser.add_argument("--data", type=Path, default=Path(default), help="folder of YYYY-MM-DD.csv day files")
    return parser


def data_folder(doc: str) -> Path:
    """The `--data` option of the propensity benches: the real day files."""
    return bench_parser(doc).parse_args().data


def main() -> None:
    started = time.perf_counter()
    result = run(data_folder(__doc__))
    result["run_seconds"] = round(time.perf_counter() - started, 1)
    print_tables(result)
    print(f"\nwhole run: {result['run_seconds']} s")
    write_record("propensity", result)


if __name__ == "__main__":
    main()
