"""
### Weekly recommender retraining with champion/challenger

Trains the product recommender on all purchases **before the logical date** (the as-of date),
evaluates it, registers it, promotes it only if it beats the serving model, then writes the
serving model's top 20 products per active customer (bought in the last 365 days) to
`recommendations`, each with a score and a reason ("bought with WHITE HANGING HEART T-LIGHT
HOLDER", "you buy this often", "popular this week").

**Tasks**
1. `train_challenger`: blend weights tuned on the 4 weeks before the hold-out; the evaluation model
   (fitted before the hold-out) is scored on the **last 4 weeks before the as-of date**: NDCG@10,
   Recall@10, HitRate@10 and coverage, variants "all" and "new"; the serving model is refitted on
   everything. Both go to the model store (`$MARKETFLOW_MODEL_STORE`, any fsspec URL; default
   `$AIRFLOW_HOME/models`), the metrics to `model_registry`.
2. `evaluate_against_champion`: the champion's evaluation model is scored on the same hold-out.
3. `promote_or_keep`: promotes only if the challenger's NDCG@10 ("all") is higher; otherwise the
   champion keeps serving, the challenger is marked `rejected` and the log says why.
4. `write_recommendations`: from the serving model (the winner), with every purchase before the
   as-of date, so the lists follow the latest purchases every week even when the champion stays;
   replaces the served recommendations in one transaction and publishes the
   `marketflow_recommendations` asset.

**Schedule and dates**: Mondays 03:00 UTC (`CronTriggerTimetable`): the logical date is the run
time, so a scheduled run trains on purchases up to Sunday. A manual run, `airflow dags test
train_recommender 2011-10-03`, or a backfill trains as of its logical date.

**GPU**: `train_challenger` runs on the worker queue `$MARKETFLOW_GPU_QUEUE` (default `default`):
point it at a queue served by a CUDA worker and training uses the GPU with mixed precision; on a
CPU worker it trains on the CPU (a few minutes on 2 cores).

**Settings**: trigger with params `{"recommender": {...}}` to override any field of
`RecommenderParams` (e.g. `{"recommender": {"sasrec": {"epochs": 8}}}`); a wrong field fails the run.

**Roll back**: `marketflow recommender list`, then `marketflow recommender rollback --to MODEL_ID`
(makes it the champion and rewrites the recommendations from it).
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import CronTriggerTimetable, Param, dag, get_current_context, task

from marketflow.assets import PARTITION_KEY, RECOMMENDATIONS
from marketflow.dag_defaults import DEFAULT_ARGS, GPU_QUEUE, HISTORY_START, tags

log = logging.getLogger(__name__)


def _as_of() -> Any:
    """The as-of date: the run's logical date (purchases strictly before it are used); a manual
    run triggered without one uses the time it was triggered for."""
    context = get_current_context()
    return (context.get("logical_date") or context["dag_run"].run_after).date()


@dag(
    dag_id="train_recommender",
    schedule=CronTriggerTimetable("0 3 * * 1", timezone="UTC"),
    start_date=HISTORY_START,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=tags("recommend", "ml"),
    params={
        "recommender": Param({}, type="object", description="overrides of RecommenderParams fields"),
    },
    doc_md=__doc__,
)
def train_recommender() -> None:
    @task(queue=GPU_QUEUE)
    def train_challenger() -> dict:
        """Fit, evaluate on the last 4 weeks, save and register a challenger."""
        from airflow.sdk.exceptions import AirflowFailException
        from pydantic import ValidationError

        from marketflow.recommend.train import train_challenger as train
        from marketflow.warehouse import warehouse_engine

        try:
            return train(warehouse_engine(), _as_of(), get_current_context()["params"]["recommender"])
        except ValidationError as error:
            raise AirflowFailException(f"invalid recommender params: {error}") from error

    @task
    def evaluate_against_champion(challenger: dict) -> dict:
        """Score the champion on the challenger's hold-out."""
        from marketflow.recommend.train import evaluate_against_champion as evaluate
        from marketflow.warehouse import warehouse_engine

        return evaluate(warehouse_engine(), challenger["model_id"])

    @task
    def promote_or_keep(comparison: dict) -> str:
        """Promote the challenger only if it wins; returns the model that serves from now on."""
        from marketflow.recommend.train import promote_or_keep as decide
        from marketflow.recommend.train import serving_model_id
        from marketflow.warehouse import warehouse_engine

        engine = warehouse_engine()
        decide(engine, comparison)
        return serving_model_id(engine)

    @task(outlets=[RECOMMENDATIONS])
    def write_recommendations(model_id: str) -> int:
        """Top 20 per active customer with reasons, from the serving model and the latest purchases."""
        from marketflow.recommend.train import write_recommendations as write
        from marketflow.warehouse import warehouse_engine

        as_of = _as_of()
        written = write(warehouse_engine(), model_id, as_of)
        get_current_context()["outlet_events"][RECOMMENDATIONS].extra = {
            PARTITION_KEY: as_of.isoformat(),
            "model_id": model_id,
        }
        return written

    write_recommendations(promote_or_keep(evaluate_against_champion(train_challenger())))


train_recommender()
