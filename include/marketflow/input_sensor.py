"""`wait_for_inputs`: hold a time-scheduled run until the inputs of its day are fresh.

The recommender and the campaigns run on clocks, but what they read is made by other DAGs: this
sensor (reschedule mode, no worker slot held) checks `marketflow.freshness` for the run's day D.
It succeeds with the as-of date of every input (its XCom), keeps waiting while the inputs may still
arrive, and fails (no retries) with a message naming each stale input and its date once the run
is `timeout` past its due time (the data interval's end): at once for a catch-up or backfill run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from airflow.sdk import BaseSensorOperator, PokeReturnValue

from marketflow.days import interval_day
from marketflow.freshness import Freshness


class InputsSensor(BaseSensorOperator):
    """Waits for inputs (input name -> allowed age in days) of the run's day."""

    def __init__(self, *, max_age_days: Mapping[str, int], **kwargs: Any) -> None:
        super().__init__(mode="reschedule", **kwargs)
        self.max_age_days = dict(max_age_days)

    def required_inputs(self) -> Mapping[str, int]:
        """The inputs to wait for, each with its allowed age in days (read when the task runs)."""
        return self.max_age_days

    def freshness(self, context: Any) -> Freshness:
        from marketflow.freshness import check
        from marketflow.warehouse import warehouse_engine

        with warehouse_engine().connect() as conn:
            return check(conn, interval_day(context["data_interval_end"]), self.required_inputs())

    def waits(self, context: Any) -> bool:
        """Whether a stale run may keep waiting: only until `timeout` after it was due."""
        due = context["data_interval_end"]
        return dt.datetime.now(dt.timezone.utc) < due + dt.timedelta(seconds=self.timeout)

    def blocked(self, context: Any, freshness: Freshness) -> None:
        """Called once before the run fails on stale inputs (campaigns record it)."""

    def poke(self, context: Any) -> PokeReturnValue | bool:
        from airflow.sdk.exceptions import AirflowFailException

        freshness = self.freshness(context)
        if freshness.fresh:
            self.log.info("%s", freshness.reason())
            return PokeReturnValue(is_done=True, xcom_value=freshness.as_of_dates())
        if self.waits(context):
            self.log.info("waiting: %s", freshness.reason())
            return False
        self.blocked(context, freshness)
        raise AirflowFailException(f"BLOCKED: {freshness.reason()}")
