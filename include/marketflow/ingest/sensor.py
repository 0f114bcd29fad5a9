"""`wait_for_export`: wait in reschedule mode (no worker slot held) for the day's two export files."""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import BaseSensorOperator
from airflow.sdk.exceptions import AirflowSensorTimeout


def partition_day(context: Any) -> dt.date:
    """The day a run ingests: the start of its [D, D+1) data interval."""
    return context["data_interval_start"].date()


class ExportSensor(BaseSensorOperator):
    """Succeeds once `<day>.csv` and `customers-<day>.csv` are both in the landing location; on
    timeout fails (without retries) with a message naming the files that never arrived."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(mode="reschedule", **kwargs)

    def _missing(self, context: Any) -> list[str]:
        from marketflow.ingest.landing import Landing
        from marketflow.ingest.settings import IngestSettings

        return Landing(IngestSettings.from_env().landing_url).missing(partition_day(context))

    def poke(self, context: Any) -> bool:
        missing = self._missing(context)
        if missing:
            self.log.info("export not complete yet, still waiting for: %s", ", ".join(missing))
        return not missing

    def execute(self, context: Any) -> Any:
        try:
            return super().execute(context)
        except AirflowSensorTimeout as timeout:
            missing = ", ".join(self._missing(context)) or "(arrived just now: clear the task to load it)"
            raise AirflowSensorTimeout(
                f"export for trading day {partition_day(context)} did not arrive within "
                f"{self.timeout:.0f}s: expected {missing}"
            ) from timeout
