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

Throughput (issue 14): the 2011-10-01 snapshot repeated to ~100k customers (copy i's ids suffixed
-i), the same rows as the feature matrix "LightGBM predict" runs on: `Booster.predict` of each of
the model's five boosters on the numpy matrix, the baseline. Next to it, in the same run: LightGBM's
TreeSHAP (`pred_contrib=True`, on the first 10,000 rows: it is ~40x slower); ours in memory
(features + calibrated score from the profile frame); ours to the warehouse, end to end, on SQLite
(and PostgreSQL with `--pg-url`): `score_shard` with the whole day as one shard (read the snapshot,
features, calibrated score, replace the day's rows in one transaction), and the default 4 shards
one after the other, summed (each reads its own rows, filtered by the warehouse's `marketflow_shard`,
and the whole snapshot's count per country for the home market, as each mapped task does; the
bench's warehouse holds no orders, so the shards' known customers without a profile cost nothing
here); the reasons, exact TreeSHAP of the stored scores, for a campaign selection of 1,500
customers drawn from the day (the largest `max_size` a shipped campaign has: winback;
`explain_scores`, what a run's selection calls), per selected customer; and one shard plus one such
selection. customers/s: the best of 3; vs predict: the median of 3 ratios, each timing predict
right before the path (load moves both).

    .venv/bin/python bench/propensity/run.py [--data DIR] [--pg-url URL] [--throughput-only]

Prints the tables and writes bench/results/propensity-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
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
from tests.scratch_db import scratch_database  # noqa: E402

from marketflow.ingest.sources.online_retail import read_history  # noqa: E402
from marketflow.profiles.build import DaySnapshot, fit_lifetime_value  # noqa: E402
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
from marketflow.propensity.model import PropensityModel, TrainingReport  # noqa: E402
from marketflow.propensity.settings import PropensitySettings  # noqa: E402
from marketflow.propensity.warehouse import explain_scores, score_shard  # noqa: E402
from marketflow.warehouse import schema, upgrade_to_head, warehouse_engine  # noqa: E402

CUTOFF = dt.date(2011, 10, 1)
HORIZON_DAYS = 30
THROUGHPUT_ROWS = 100_000
CONTRIB_ROWS = 10_000
#: Customers a campaign run selects and explains: winback's max_size, the largest shipped.
AUDIENCE = 1_500
SHARDS = 4
REPEATS = 3


def seconds_of(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


@dataclasses.dataclass(frozen=True)
class Paired:
    """Times a scoring path against LightGBM's predict on the throughput matrix: each repeat runs
    predict right before the path, so both see the same load (2 shared cores move it a lot)."""

    predict: Callable[[], object]
    customers: int

    def __call__(self, action: Callable[[], object], rows: int) -> dict[str, float]:
        """customers/s of `action` over `rows` (best of REPEATS), and its ratio to predict's
        customers/s: the median over the repeats of each back-to-back pair."""
        best, ratios = float("inf"), []
        for _ in range(REPEATS):
            baseline = seconds_of(self.predict)
            seconds = seconds_of(action)
            best = min(best, seconds)
            ratios.append((rows / seconds) / (self.customers / baseline))
        return {"customers_per_s": rows / best, "vs_predict": float(np.median(ratios))}


def scaled_snapshot(snapshot: DaySnapshot, rows: int) -> DaySnapshot:
    """The snapshot's customers repeated to at least `rows`, copy i's ids suffixed -i (copy 0 as is)."""
    profiles = snapshot.profiles
    copies = [
        profiles.assign(customer_id=profiles["customer_id"].astype(str) + (f"-{i}" if i else ""))
        for i in range(int(np.ceil(rows / len(profiles))))
    ]
    return dataclasses.replace(snapshot, profiles=pd.concat(copies, ignore_index=True))


def warehouse_rates(
    url: str, snapshot: DaySnapshot, model: PropensityModel, folder: Path, paired: Paired, backend: str
) -> dict[str, dict[str, float]]:
    """`score_shard` (one shard; `SHARDS` shards in turn) and the reasons of an `AUDIENCE`-customer
    selection on a warehouse at `url` holding `snapshot` and the model; checks the stored scores are
    the model's and every selected customer's reasons add up to its score."""
    engine = warehouse_engine(url)
    upgrade_to_head(engine)
    write_snapshot(engine, snapshot)
    artifact = model.to_json()
    model_id = registry.model_id_for(CUTOFF, artifact)
    with engine.begin() as conn:
        registry.register_and_promote(
            conn, model_id=model_id, trained_as_of=CUTOFF, data_start=CUTOFF, data_end=CUTOFF, params={}, metrics={},
            artifact_uri=registry.write_artifact(str(folder / "models"), model_id, artifact),
        )
    settings = PropensitySettings()
    one_shard, sharded = settings.model_copy(update={"shards": 1}), settings.model_copy(update={"shards": SHARDS})
    customers = len(snapshot.profiles)

    def one() -> None:
        score_shard(engine, CUTOFF, model_id, 0, one_shard)

    def four() -> None:
        for shard in range(SHARDS):
            score_shard(engine, CUTOFF, model_id, shard, sharded)

    table = schema.audience_scores
    expected = pd.Series(model.predict(feature_matrix(snapshot.profiles)), index=snapshot.profiles["customer_id"])

    def checked_scores(scoring: str) -> pd.DataFrame:
        """The stored day, checked to be the model's score of every customer, once."""
        with engine.connect() as conn:
            stored = pd.read_sql(table.select().where(table.c.as_of_date == CUTOFF), conn).set_index("customer_id")
        gap = (stored["propensity_30d"] - expected.reindex(stored.index)).abs().max()
        if len(stored) != len(expected) or not stored.index.is_unique or gap > 1e-12:
            raise AssertionError(f"the scores stored by {scoring} are not the model's")
        return stored

    one()  # the timed runs replace a stored day: the dearer case
    stored = checked_scores("1 shard")
    selected = np.random.default_rng(SEED).choice(stored.index.to_numpy(dtype=object), AUDIENCE, replace=False).tolist()

    def reasons() -> None:
        with engine.connect() as conn:
            explained = explain_scores(conn, CUTOFF, selected, settings.top_reasons)
        if len(explained) != AUDIENCE or any(found is None for found in explained.values()):
            raise AssertionError("a selected customer's score was not explained exactly")

    rates = {
        f"ours to {backend}: score_shard, 1 shard (read snapshot, features, calibrated score, replace rows)":
            paired(one, customers),
        f"ours to {backend}: score_shard, {SHARDS} shards in turn (each reads its own rows)": paired(four, customers),
    }
    checked_scores(f"{SHARDS} shards")
    return {
        **rates,
        f"ours on {backend}: reasons of a {AUDIENCE:,}-customer selection (explain_scores, per customer)":
            paired(reasons, AUDIENCE),
        f"ours to {backend}: 1 shard + the reasons of one {AUDIENCE:,}-customer campaign":
            paired(lambda: (one(), reasons()), customers),
    }


def throughput(model: PropensityModel, snapshot: DaySnapshot, pg_url: str | None) -> tuple[dict, int]:
    """Scoring path -> customers/s and ratio to LightGBM predict, and the customers (module doc)."""
    big = scaled_snapshot(snapshot, THROUGHPUT_ROWS)
    customers = len(big.profiles)
    matrix = feature_matrix(big.profiles)[list(model.features)].to_numpy(dtype=np.float64)
    paired = Paired(lambda: [booster.predict(matrix) for booster in model.boosters], customers)
    predict = min(seconds_of(paired.predict) for _ in range(REPEATS))
    rates = {
        "LightGBM predict (5 boosters, probabilities only)": {"customers_per_s": customers / predict, "vs_predict": 1.0},
        f"LightGBM predict(pred_contrib=True) (SHAP values only, first {CONTRIB_ROWS:,} rows)": paired(
            lambda: [booster.predict(matrix[:CONTRIB_ROWS], pred_contrib=True) for booster in model.boosters],
            CONTRIB_ROWS,
        ),
        "ours in memory: features + calibrated score": paired(
            lambda: model.predict(feature_matrix(big.profiles)), customers
        ),
    }
    backends = {"SQLite": None, **({"PostgreSQL": pg_url} if pg_url else {})}
    for backend, server in backends.items():
        with tempfile.TemporaryDirectory() as folder:
            if server is None:
                url = f"sqlite:///{Path(folder) / 'warehouse.db'}"
                rates.update(warehouse_rates(url, big, model, Path(folder), paired, backend))
            else:
                with scratch_database(server, "bench_propensity") as url:
                    rates.update(warehouse_rates(url, big, model, Path(folder), paired, backend))
    return rates, customers


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


def run(data_dir: Path, pg_url: str | None, throughput_only: bool) -> dict:
    started = time.perf_counter()
    profile_settings, settings = ProfileSettings(), PropensitySettings()
    orders = read_history(data_dir)
    model, report = library.train(orders, CUTOFF, settings, profile_settings)  # what the DAG trains
    train_seconds = time.perf_counter() - started
    if throughput_only:
        snapshot = snapshot_builder(prepare_history(orders, profile_settings), profile_settings).build(CUTOFF)
        return {"train_seconds": round(train_seconds, 1), **throughput_record(model, snapshot, pg_url)}
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
        **throughput_record(model, snapshot, pg_url),
    }


def throughput_record(model: PropensityModel, snapshot: DaySnapshot, pg_url: str | None) -> dict:
    rates, rows = throughput(model, snapshot, pg_url)
    return {
        "throughput": rates,
        "throughput_rows": rows,
        "selection_customers": AUDIENCE,
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


def print_throughput(result: dict) -> None:
    rates = result["throughput"]
    width = max(len(name) for name in rates)
    print(f"\n{result['throughput_rows']:,} customers; selection {result['selection_customers']:,} customers; "
          "vs predict: median of back-to-back pairs")
    print(f"| {'scoring path':<{width}} | customers/s | vs predict |")
    print(f"|{'-' * (width + 2)}|-------------|------------|")
    for name, rate in rates.items():
        print(f"| {name:<{width}} | {rate['customers_per_s']:11,.0f} | {rate['vs_predict']:9.2f}x |")


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
    parser = bench_parser(__doc__)
    parser.add_argument("--pg-url", default=os.environ.get("MARKETFLOW_TEST_PG_URL"),
                        help="PostgreSQL server for the warehouse throughput too (a scratch database is created)")
    parser.add_argument("--throughput-only", action="store_true", help="train the model and measure scoring only")
    args = parser.parse_args()
    result = run(args.data, args.pg_url, args.throughput_only)
    result["run_seconds"] = round(time.perf_counter() - started, 1)
    if not args.throughput_only:
        print_tables(result)
    print_throughput(result)
    print(f"\nwhole run: {result['run_seconds']} s")
    write_record("propensity-throughput" if args.throughput_only else "propensity", result)


if __name__ == "__main__":
    main()
