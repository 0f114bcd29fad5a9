"""
### Weekly recommender retraining with champion/challenger

Trains the product recommender on all purchases **up to day D** (the Sunday before the Monday
run; `marketflow.days`), evaluates it, registers it, promotes it only if it beats the serving
model, then writes the serving model's top 20 products per active customer (bought in the last
365 days) to `recommendations` as of D, each with a score and a reason ("bought with WHITE
HANGING HEART T-LIGHT HOLDER", "you buy this often", "popular this week").

**Tasks**
0. `wait_for_inputs`: waits until the orders of D are ingested (reschedule mode), up to
   `MARKETFLOW_INPUT_WAIT_S` (6 h) after the run was due; then fails, naming the newest day ingested.
1. `train_challenger`: the library's `Recommender.fit` twice: as of the hold-out's start (blend
   weights tuned on the split it picks, usually the 4 weeks before), scored on the **last 4 weeks
   up to D**: NDCG@10, Recall@10, HitRate@10 and coverage, variants "all" and "new"; then as of D,
   tuned on those last 4 weeks, as the serving model. Both go to the model store (`$MARKETFLOW_MODEL_STORE`, any fsspec URL; default
   `$AIRFLOW_HOME/models`), the metrics to `model_registry`.
2. `evaluate_against_champion`: the champion's evaluation model is scored on the same hold-out.
3. `promote_or_keep`: promotes only if the challenger's NDCG@10 ("all") is higher; otherwise the
   champion keeps serving, the challenger is marked `rejected` and the log says why. (A backfilled
   earlier week never uses a champion trained on later purchases: its own model writes its day.)
4. `write_recommendations`: from the serving model (the winner), with every purchase up to D, so
   the lists follow the latest purchases every week even when the champion stays; replaces the
   recommendations as of D in one transaction (earlier weeks' sets are kept: a campaign of day D
   reads the newest set on or before D) and publishes the `marketflow_recommendations` asset.

**Schedule and dates**: Mondays 03:00 UTC (`CronDataIntervalTimetable`): a run works on the
Sunday its week ends with. A manual run, `airflow dags test train_recommender 2011-10-03`, works on
the last full week before its logical date (here Sunday 2011-10-02); backfill with
`marketflow backfill train_recommender --from-date A --to-date B`.

**GPU**: `train_challenger` runs on the worker queue `$MARKETFLOW_GPU_QUEUE` (default `default`):
point it at a queue served by a CUDA worker and training uses the GPU with mixed precision; on a
CPU worker it trains on the CPU (a few minutes on 2 cores).

**Settings**: trigger with params `{"recommender": {...}}` to override any field of
`RecommenderParams` (e.g. `{"recommender": {"bpr": {"epochs": 50}}}`); a wrong field fails the run.

**Roll back**: `marketflow recommender list`, then `marketflow recommender rollback --to MODEL_ID`
(makes it the champion and rewrites the recommendations from it).
"""

from __future__ import annotations

import logging
from typing import Any

from airflow.sdk import CronDataIntervalTimetable, Param, dag, get_current_context, task

from marketflow.assets import RECOMMENDATIONS
from marketflow.dag_defaults import DEFAULT_ARGS, GPU_QUEUE, INPUT_POKE_INTERVAL_S, INPUT_WAIT_S, periodic_start, tags
from marketflow.days import interval_day
from marketflow.input_sensor import InputsSensor

log = logging.getLogger(__name__)


def _day() -> Any:
    """D: the last day of the run's data interval (`marketflow.days`)."""
    return interval_day(get_current_context()["data_interval_end"])


@dag(
    dag_id="train_recommender",
    schedule=CronDataIntervalTimetable("0 3 * * 1", timezone="UTC"),
    start_date=periodic_start(),
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
            return train(warehouse_engine(), _day(), get_current_context()["params"]["recommender"])
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
        """Promote the challenger only if it wins; returns the model that writes D's recommendations
        (the champion, or this run's model when the champion saw purchases after D)."""
        from marketflow.recommend.train import promote_or_keep as decide
        from marketflow.recommend.train import serving_model_id
        from marketflow.warehouse import warehouse_engine

        engine = warehouse_engine()
        decide(engine, comparison)
        return serving_model_id(engine, _day(), comparison["challenger_id"])

    @task(outlets=[RECOMMENDATIONS])
    def write_recommendations(model_id: str) -> int:
        """Top 20 per active customer with reasons, from the serving model and the purchases up to D."""
        from marketflow.days import event_extra
        from marketflow.recommend.train import write_recommendations as write
        from marketflow.warehouse import warehouse_engine

        day = _day()
        written = write(warehouse_engine(), model_id, day)
        get_current_context()["outlet_events"][RECOMMENDATIONS].extra = event_extra([day], model_id=model_id)
        return written

    inputs = InputsSensor(
        task_id="wait_for_inputs",
        max_age_days={"orders": 0},
        timeout=INPUT_WAIT_S,
        poke_interval=INPUT_POKE_INTERVAL_S,
    )
    challenger = train_challenger()
    inputs >> challenger
    write_recommendations(promote_or_keep(evaluate_against_champion(challenger)))


train_recommender()
