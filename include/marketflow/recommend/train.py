"""The weekly retraining job, one function per DAG task; the DAG only wires them.

For day D (purchases on or before D, as every stage counts days; `cutoff(D)` = D+1 is the first
day left out):
1. `train_challenger`: one procedure, `Recommender.fit` (the library's, the bench's and the CLI's),
   run twice: as of the hold-out's start (the last 4 weeks up to D) it gives the *evaluation* model,
   scored on the hold-out; as of C it gives the *serving* model. Each tunes its blend weights on the
   split `validation.py` picks before its own as-of date, so what serves is exactly what was
   evaluated, four weeks later. Both are saved, the model is registered as a challenger with its
   metrics (`trained_as_of` = D), overall and per customer segment and country (`fairness.py`).
2. `evaluate_against_champion`: the champion's evaluation model is loaded and scored on the
   challenger's hold-out, with the same history and groups, so both are judged on identical data.
3. `promote_or_keep`: promote only if the challenger's NDCG@10 ("all") is higher; otherwise keep
   the champion, mark the challenger rejected and say why.
4. `write_recommendations`: top-k for every active customer from the champion's serving model.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from marketflow.recommend import artifacts, fairness, registry
from marketflow.recommend import warehouse as store_io
from marketflow.recommend.blend import Recommender
from marketflow.recommend.evaluate import HoldoutTask
from marketflow.recommend.interactions import split_at
from marketflow.recommend.params import RecommenderParams
from marketflow.recommend.reasons import explain

log = logging.getLogger(__name__)

HOLDOUT_DAYS = 28
TOP_K = 20
ACTIVE_DAYS = 365
EVALUATION_FILE, SERVING_FILE = "evaluation.pt", "serving.pt"
#: per-component metrics and throughput of a tuning fit stay in the artifact, not in the registry row
_TUNING_DETAIL = ("components", "fit_throughput")


def model_id_for(day: dt.date, params: RecommenderParams) -> str:
    """Deterministic: a re-run of the same day with the same settings is the same model."""
    digest = hashlib.sha256(json.dumps(params.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()
    return f"{registry.KIND}-{day.isoformat()}-{digest[:8]}"


def cutoff(day: dt.date) -> dt.date:
    """The first day a model of day D does not see: purchases strictly before it are used."""
    return day + dt.timedelta(days=1)


def holdout_start(as_of: dt.date) -> dt.date:
    """First day of the hold-out that ends before the cut-off `as_of`."""
    return as_of - dt.timedelta(days=HOLDOUT_DAYS)


def _summary(record: registry.ModelRecord) -> dict[str, Any]:
    return {
        "model_id": record.model_id,
        "status": record.status,
        "ndcg@10": {v: round(record.ndcg(v), 4) for v in ("all", "new")},
    }


@dataclass(frozen=True)
class Trained:
    evaluation: Recommender
    serving: Recommender
    metrics: dict[str, Any]


def fit_and_evaluate(
    purchases: pd.DataFrame, params: RecommenderParams, as_of: dt.date, groups: fairness.CustomerGroups | None = None
) -> Trained:
    """The training itself, without the warehouse (the bench times this): the evaluation model and
    its hold-out metrics (per group too, given the customers' `groups`), then the serving model: the
    same `Recommender.fit` on everything up to `as_of`, tuning its weights on its own latest data."""
    start = holdout_start(as_of)
    before_holdout, holdout = split_at(purchases, start, as_of)
    if before_holdout.empty or holdout.empty:
        raise ValueError(f"need purchases before {start} and in [{start}, {as_of}) to train and evaluate")
    started = time.perf_counter()
    evaluation = Recommender.fit(before_holdout, params, as_of=start)
    task = HoldoutTask(evaluation.history(before_holdout, as_of=start), holdout)
    scores = evaluation.score(task.history, task.rows)
    metrics: dict[str, Any] = task.evaluate_scores(scores)
    if groups is not None:
        metrics[fairness.METRICS_KEY] = fairness.quality_by_group(task, scores, groups)
    # the simplest model on the same weeks: what the Models page's verdict compares against
    metrics["popularity_baseline"] = task.evaluate(evaluation.components["popularity"].score)
    # its tuning window is the hold-out: the evaluation model's components are the ones to tune
    serving = Recommender.fit(purchases, params, as_of=as_of, earlier=evaluation)
    seconds = time.perf_counter() - started
    fits = [model.training["throughput"] for model in (evaluation, serving)]
    fits += [model.training["tuning"]["fit_throughput"] for model in (evaluation, serving) if model.training["tuning"]]
    samples = sum(t["samples"] for fit in fits for t in fit.values())
    # metrics hold numbers worth charting over time (the UI plots every numeric leaf)
    metrics.update(
        holdout=[start.isoformat(), as_of.isoformat()],
        holdout_customers=task.customers_in_holdout,
        cold_start_customers=task.cold_start_customers,
        training={"seconds": round(seconds, 1), "samples_per_s": round(samples / seconds, 1)},
    )
    return Trained(evaluation, serving, metrics)


def train_challenger(
    engine: Engine, day: dt.date, overrides: dict[str, Any] | None = None, store: str | None = None
) -> dict[str, Any]:
    """Train, evaluate, save and register a challenger on the purchases up to `day`; returns ids and
    metrics (XCom)."""
    params = RecommenderParams.model_validate(overrides or {})
    model_id = model_id_for(day, params)
    as_of = cutoff(day)
    existing = registry.get(engine, model_id)
    if existing is not None:
        log.info("%s is already registered (%s): not retraining", model_id, existing.status)
        return _summary(existing)

    purchases = store_io.load_purchases(engine, as_of, params.interaction_weight)
    groups = fairness.load_customer_groups(engine, holdout_start(as_of))
    trained = fit_and_evaluate(purchases, params, as_of, groups)
    evaluation, serving, metrics = trained.evaluation, trained.serving, trained.metrics

    folder = f"{(store or artifacts.model_store()).rstrip('/')}/{registry.KIND}/{model_id}"
    artifacts.save(evaluation, f"{folder}/{EVALUATION_FILE}")
    artifacts.save(serving, f"{folder}/{SERVING_FILE}")
    record = registry.ModelRecord(
        model_id=model_id,
        model_kind=registry.KIND,
        trained_as_of=day,
        data_start=store_io.first_order_date(engine),
        data_end=day,
        params={
            **params.model_dump(mode="json"),
            "tuned_weights": serving.weights,
            "evaluated_weights": evaluation.weights,
            "tuning": {
                role: {key: value for key, value in model.training["tuning"].items() if key not in _TUNING_DETAIL}
                for role, model in (("serving", serving), ("evaluation", evaluation))
            },
            "trained_on": serving.training["device"],
            "samples_per_s": {name: t["samples_per_s"] for name, t in serving.training["throughput"].items()},
        },
        metrics=metrics,
        code_version=registry.code_version(),
        artifact_uri=folder,
        status=registry.CHALLENGER,
    )
    registry.register(engine, record)
    log.info(
        "registered %s: NDCG@10 all %.4f new %.4f on %s..%s (evaluated weights %s, serving weights %s)",
        model_id, metrics["all"]["ndcg@10"], metrics["new"]["ndcg@10"], *metrics["holdout"], evaluation.weights,
        serving.weights,
    )
    return _summary(record)


def evaluate_against_champion(engine: Engine, model_id: str) -> dict[str, Any]:
    """Score the champion on the challenger's hold-out; returns both NDCG@10 ("all") for the gate."""
    challenger = _require(engine, model_id)
    comparison: dict[str, Any] = {"challenger_id": model_id, "challenger_ndcg": challenger.ndcg("all")}
    current = registry.champion(engine)
    if current is None or current.model_id == model_id:
        return {**comparison, "champion_id": current and current.model_id, "comparable": current is None}

    as_of = cutoff(challenger.trained_as_of)
    start = holdout_start(as_of)
    champion_model = artifacts.load(f"{current.artifact_uri}/{EVALUATION_FILE}")
    if champion_model.fitted_as_of.date() > start:
        return {
            **comparison,
            "champion_id": current.model_id,
            "comparable": False,
            "note": f"the champion was fitted on data up to {champion_model.fitted_as_of.date()}, "
            f"after this hold-out starts ({start}): an older as-of date never replaces it",
        }
    purchases = store_io.load_purchases(engine, as_of, challenger.params["interaction_weight"])
    before_holdout, holdout = split_at(purchases, start, as_of)
    task = HoldoutTask(champion_model.history(before_holdout, as_of=start), holdout)
    scores = champion_model.score(task.history, task.rows)
    champion_metrics: dict[str, Any] = task.evaluate_scores(scores)
    groups = fairness.load_customer_groups(engine, start)
    champion_metrics[fairness.METRICS_KEY] = fairness.quality_by_group(task, scores, groups)
    registry.set_metrics(
        engine, model_id, {**challenger.metrics, "champion": {"model_id": current.model_id, **champion_metrics}}
    )
    return {
        **comparison,
        "champion_id": current.model_id,
        "champion_ndcg": champion_metrics["all"]["ndcg@10"],
        "comparable": True,
    }


def promote_or_keep(engine: Engine, comparison: dict[str, Any]) -> bool:
    """Promote the challenger if it beats the champion on NDCG@10 ("all"); True when it serves."""
    model_id = comparison["challenger_id"]
    challenger = _require(engine, model_id)
    window = "..".join(challenger.metrics.get("holdout", []))
    champion_id = comparison.get("champion_id")
    if challenger.status == registry.CHAMPION:
        log.info("%s is already the champion", model_id)
        return True
    if challenger.status != registry.CHALLENGER:
        log.info("%s was already decided: %s (%s)", model_id, challenger.status, challenger.decision)
        return False
    if champion_id is None:
        registry.promote(engine, model_id, "first recommender: no champion to beat")
        return True
    if not comparison["comparable"]:
        registry.reject(engine, model_id, f"kept champion {champion_id}: {comparison['note']}")
        return False
    ours, theirs = comparison["challenger_ndcg"], comparison["champion_ndcg"]
    if ours > theirs:
        registry.promote(
            engine, model_id, f"NDCG@10 (all) {ours:.4f} > champion {champion_id}'s {theirs:.4f} on {window}"
        )
        return True
    registry.reject(
        engine, model_id, f"kept champion {champion_id}: its NDCG@10 (all) {theirs:.4f} >= {ours:.4f} on {window}"
    )
    return False


def serving_model_id(engine: Engine, day: dt.date, challenger_id: str) -> str:
    """The model that writes the recommendations as of `day`: the champion, unless it was trained on
    purchases after `day` (a backfill of an earlier week), then this run's own model, so that nothing
    written as of `day` has seen a later purchase."""
    champion = registry.champion(engine)
    if champion is None:
        raise LookupError("no recommender champion in model_registry")
    if champion.trained_as_of > day:
        log.info("the champion %s saw purchases after %s: %s writes that day's recommendations", champion.model_id, day, challenger_id)
        return challenger_id
    return champion.model_id


def write_recommendations(
    engine: Engine, model_id: str, day: dt.date, k: int = TOP_K, active_days: int = ACTIVE_DAYS
) -> int:
    """Top-k with reasons, from the serving model of `model_id` and the purchases up to `day`, for
    customers who bought in the `active_days` up to `day`; replaces the set of `day` in one
    transaction (sets of other days are kept: a campaign of day D reads the newest on or before D)."""
    record = _require(engine, model_id)
    as_of = cutoff(day)
    model = artifacts.load(f"{record.artifact_uri}/{SERVING_FILE}")
    purchases = store_io.load_purchases(engine, as_of, record.params["interaction_weight"])
    since = pd.Timestamp(as_of - dt.timedelta(days=active_days))
    active = purchases.loc[purchases["timestamp"] >= since, "user"].unique()
    history = model.history(purchases, as_of=as_of)
    recommendations = model.recommend_from(history, k=k, users=active)
    recommendations["reason"] = explain(model, history, recommendations)
    written = store_io.replace_recommendations(engine, model_id, day, recommendations)
    log.info(
        "wrote %d recommendations as of %s (top %d for %d active customers) from %s", written, day, k, len(active), model_id
    )
    return written


def rollback(engine: Engine, to_model_id: str, day: dt.date | None = None) -> int:
    """Serve an earlier model again: it becomes champion and its recommendations are rewritten
    from the purchases up to `day` (default: the last order date)."""
    target = _require(engine, to_model_id)
    registry.promote(engine, to_model_id, f"rolled back to {to_model_id} by an operator")
    if day is None:
        day = store_io.latest_order_date(engine) or target.trained_as_of
    return write_recommendations(engine, target.model_id, day)


def _require(engine: Engine, model_id: str) -> registry.ModelRecord:
    record = registry.get(engine, model_id)
    if record is None:
        raise LookupError(f"no model {model_id!r} in model_registry")
    return record
