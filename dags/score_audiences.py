"""
### Purchase propensity for every customer, scored for each day the profiles were built

For day D scores every customer of the `customer_profiles` snapshot of D with the probability of a
purchase in D+1..D+30, into `audience_scores`. The reasons of a score (the three features that
moved it most: signed LightGBM `pred_contrib`, in log-odds, ~30x the cost of the score) are not
computed here: a campaign run computes them, exactly, for the customers it selects and stores them
with its members (`audience_members.top_reasons`); `marketflow.propensity.warehouse.explain_scores`
gives them for any customer on demand.

**When it runs**: when `build_profiles` publishes the profiles asset (data-aware, no clock), for
every day the events name (`partition_dates`), also those of profiles events sent after its
triggering ones (Airflow 3.3 may leave them unconsumed), less the days another run scored after
their events (a run with nothing left to do is skipped); or manually for a range with params
`score_from` / `score_to`. The profile snapshot of each day must exist: a missing one fails the
run at once, naming the day (this DAG never builds profiles itself: `build_profiles` is their one
writer).

**Tasks**
- `resolve_days`: the days to score, each checked for its profile snapshot; the log says which
  came from unconsumed events and which another run already scored.
- `ensure_models`: per day, reuses the newest registered propensity model trained in the 7 days up
  to D (`MARKETFLOW_PROPENSITY_RETRAIN_AFTER_DAYS`), else trains one as of D (weekly cut-offs,
  label windows ending on or before D, Platt-calibrated on the latest two, then refitted on all;
  see `include/marketflow/propensity/README.md`) and registers it in `model_registry` (kind
  `propensity`; artifact in `MARKETFLOW_PROPENSITY_MODEL_STORE`, which every worker must read).
- `score_shard`: dynamic task mapping over `MARKETFLOW_PROPENSITY_SHARDS` customer shards (N equal
  ranges of a stable hash of customer_id); each mapped task replaces its shard's rows of each day.
- `publish_scores`: logs rows and mean score per day, publishes `marketflow_audience_scores` naming
  the days scored and the newest profiles event answered (`answered_through`).

Re-running a day leaves identical rows.
"""

from __future__ import annotations

import logging

from airflow.sdk import Param, dag, get_current_context, task

from marketflow.assets import AUDIENCE_SCORES, CUSTOMER_PROFILES
from marketflow.dag_defaults import DEFAULT_ARGS, deployment_start, tags

log = logging.getLogger(__name__)


@dag(
    dag_id="score_audiences",
    schedule=[CUSTOMER_PROFILES],
    start_date=deployment_start(),
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=tags("audiences", "propensity"),
    params={
        "score_from": Param(None, type=["null", "string"], format="date", description="first day to score"),
        "score_to": Param(None, type=["null", "string"], format="date", description="last day to score"),
    },
    doc_md=__doc__,
)
def score_audiences() -> None:
    @task(inlets=[CUSTOMER_PROFILES, AUDIENCE_SCORES], multiple_outputs=True)
    def resolve_days() -> dict[str, object]:
        """The days to score (from the profiles events or the params), each with its profile
        snapshot; a run that names no day, or a day without a snapshot, fails at once; one whose
        days another run already scored after their events is skipped."""
        from airflow.sdk.exceptions import AirflowFailException

        from marketflow.days import resolve_event_work
        from marketflow.propensity.warehouse import missing_snapshots
        from marketflow.warehouse import warehouse_engine

        work = resolve_event_work(get_current_context(), CUSTOMER_PROFILES, AUDIENCE_SCORES, "score_from", "score_to")
        if problem := missing_snapshots(warehouse_engine(), work.days):
            raise AirflowFailException(problem)
        return work.as_xcom()

    @task
    def ensure_models(days: list[str]) -> dict[str, str]:
        """Day -> the model id that scores it (reused when young enough, else trained and registered)."""
        import datetime as dt

        from marketflow.profiles.settings import ProfileSettings
        from marketflow.propensity.settings import PropensitySettings
        from marketflow.propensity.warehouse import ensure_model
        from marketflow.warehouse import warehouse_engine

        engine, settings, profile_settings = warehouse_engine(), PropensitySettings.from_env(), ProfileSettings.from_env()
        models = {}
        for day in days:
            choice = ensure_model(engine, dt.date.fromisoformat(day), settings, profile_settings)
            log.info("propensity model for %s: %s", day, choice.as_dict())
            models[day] = choice.model_id
        return models

    @task
    def shard_numbers() -> list[int]:
        """One mapped scoring task per configured shard."""
        from marketflow.propensity.settings import PropensitySettings

        return list(range(PropensitySettings.from_env().shards))

    @task
    def score_shard(shard: int, models: dict[str, str]) -> int:
        """Score one shard of each day's customers, replacing the shard's rows of the day."""
        import datetime as dt

        from marketflow.propensity.settings import PropensitySettings
        from marketflow.propensity.warehouse import score_shard as score
        from marketflow.warehouse import warehouse_engine

        engine, settings = warehouse_engine(), PropensitySettings.from_env()
        total = 0
        for day, model_id in models.items():
            rows = score(engine, dt.date.fromisoformat(day), model_id, shard, settings)
            log.info("shard %d of %s: %d customers scored", shard, day, rows)
            total += rows
        return total

    @task(outlets=[AUDIENCE_SCORES])
    def publish_scores(days: list[str], shard_rows: list[int], answered_through: str | None) -> list[dict]:
        """Log what each day holds and publish the audience-scores asset for the days scored."""
        import datetime as dt

        from marketflow.days import event_extra
        from marketflow.propensity.warehouse import stored_scores_summary
        from marketflow.warehouse import warehouse_engine

        engine = warehouse_engine()
        summaries = [stored_scores_summary(engine, dt.date.fromisoformat(day)) for day in days]
        rows = list(shard_rows)
        for summary in summaries:
            log.info("stored scores: %s", summary)
        if sum(s["rows"] for s in summaries) != sum(rows):
            raise ValueError(f"stored {sum(s['rows'] for s in summaries)} scores but the shards wrote {sum(rows)}")
        get_current_context()["outlet_events"][AUDIENCE_SCORES].extra = event_extra(
            [dt.date.fromisoformat(day) for day in days], answered_through=answered_through
        )
        return summaries

    work = resolve_days()
    models = ensure_models(work["days"])
    rows = score_shard.partial(models=models).expand(shard=shard_numbers())
    publish_scores(work["days"], rows, work["answered_through"])


score_audiences()
