"""
### Purchase propensity for every customer, scored daily

For the as-of date D (the data interval's first day) scores every customer of the `customer_profiles`
snapshot of D with the probability of a purchase in D+1..D+30 and the three features that moved it
most (signed LightGBM `pred_contrib`, in log-odds), into `audience_scores`.

**Tasks**
- `prepare_day`: D from the data interval; when the profile snapshot of D is missing it is built
  first with the profile stage (same code as `build_profiles`), so a backfill never waits on it.
- `ensure_model`: reuses the newest registered propensity model trained in the last 7 days
  (`MARKETFLOW_PROPENSITY_RETRAIN_AFTER_DAYS`), else trains one as of D (weekly cut-offs, label
  windows ending on or before D, Platt-calibrated on the latest two, then refitted on all; see
  `include/marketflow/propensity/README.md`) and registers it in
  `model_registry` (kind `propensity`; artifact in `MARKETFLOW_PROPENSITY_MODEL_STORE`, which every
  worker must be able to read).
- `score_shard`: dynamic task mapping over `MARKETFLOW_PROPENSITY_SHARDS` customer shards (stable
  hash of customer_id mod N); each mapped task replaces its shard's rows of D in one transaction.
- `publish_scores`: logs rows and mean score, publishes `marketflow_audience_scores` with
  `partition_date` = D.

**When it runs**: daily at 02:00 UTC for the day that ended (`CronDataIntervalTimetable`, catchup off),
two hours after `build_profiles`' 00:00 run, so the snapshot is normally there; a time schedule rather
than a profiles-asset trigger keeps one scoring run per day even when profiles are rebuilt for a range.
Backfill with `airflow backfill create --dag-id score_audiences --from-date A --to-date B`.
Re-running a day leaves identical rows.
"""

from __future__ import annotations

import logging

from airflow.sdk import CronDataIntervalTimetable, dag, get_current_context, task

from marketflow.assets import AUDIENCE_SCORES, PARTITION_KEY
from marketflow.dag_defaults import DEFAULT_ARGS, HISTORY_START, tags

log = logging.getLogger(__name__)


@dag(
    dag_id="score_audiences",
    schedule=CronDataIntervalTimetable("0 2 * * *", timezone="UTC"),
    start_date=HISTORY_START,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=tags("audiences", "propensity"),
    doc_md=__doc__,
)
def score_audiences() -> None:
    @task
    def prepare_day() -> str:
        """The as-of date; builds its profile snapshot first when it is missing."""
        from marketflow.profiles.settings import ProfileSettings
        from marketflow.propensity.warehouse import ensure_snapshot
        from marketflow.warehouse import warehouse_engine

        as_of = get_current_context()["data_interval_start"].date()
        if ensure_snapshot(warehouse_engine(), as_of, ProfileSettings.from_env()):
            log.info("no profile snapshot for %s: built it with the profile stage", as_of)
        return as_of.isoformat()

    @task
    def ensure_model(as_of: str) -> str:
        """The model id that scores the day (reused when young enough, else trained and registered)."""
        import datetime as dt

        from marketflow.profiles.settings import ProfileSettings
        from marketflow.propensity.settings import PropensitySettings
        from marketflow.propensity.warehouse import ensure_model as choose_model
        from marketflow.warehouse import warehouse_engine

        choice = choose_model(
            warehouse_engine(), dt.date.fromisoformat(as_of), PropensitySettings.from_env(), ProfileSettings.from_env()
        )
        log.info("propensity model for %s: %s", as_of, choice.as_dict())
        return choice.model_id

    @task
    def shard_numbers() -> list[int]:
        """One mapped scoring task per configured shard."""
        from marketflow.propensity.settings import PropensitySettings

        return list(range(PropensitySettings.from_env().shards))

    @task
    def score_shard(shard: int, as_of: str, model_id: str) -> int:
        """Score one shard of the day's customers, replacing the shard's rows."""
        import datetime as dt

        from marketflow.propensity.settings import PropensitySettings
        from marketflow.propensity.warehouse import score_shard as score
        from marketflow.warehouse import warehouse_engine

        rows = score(warehouse_engine(), dt.date.fromisoformat(as_of), model_id, shard, PropensitySettings.from_env())
        log.info("shard %d of %s: %d customers scored", shard, as_of, rows)
        return rows

    @task(outlets=[AUDIENCE_SCORES])
    def publish_scores(as_of: str, shard_rows: list[int]) -> dict:
        """Log what the day holds and publish the audience-scores asset for the day."""
        import datetime as dt

        from marketflow.propensity.warehouse import stored_scores_summary
        from marketflow.warehouse import warehouse_engine

        summary = stored_scores_summary(warehouse_engine(), dt.date.fromisoformat(as_of))
        rows = list(shard_rows)
        log.info("scored %d customers in %d shards %s; stored: %s", sum(rows), len(rows), rows, summary)
        if summary["rows"] != sum(rows):
            raise ValueError(f"stored {summary['rows']} scores for {as_of} but the shards wrote {sum(rows)}")
        get_current_context()["outlet_events"][AUDIENCE_SCORES].extra = {PARTITION_KEY: as_of}
        return summary

    as_of = prepare_day()
    model_id = ensure_model(as_of)
    rows = score_shard.partial(as_of=as_of, model_id=model_id).expand(shard=shard_numbers())
    publish_scores(as_of, rows)


score_audiences()
