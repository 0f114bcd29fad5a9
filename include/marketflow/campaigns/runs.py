"""A campaign run: its key, whether it may contact anyone, and its row in `campaign_runs`.

Send modes:
- `live`: messages are sent and ad audiences pushed.
- `backfill`: a past logical date (or an Airflow backfill run). Audiences, copy, exports and the
  report are rebuilt, but nobody is contacted unless the run is explicitly forced.
- `dry_run`: everything is rendered and stored for review; nothing is sent or pushed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Connection, select, update

from marketflow.warehouse.schema import campaign_runs

SendMode = Literal["live", "backfill", "dry_run"]

#: A run whose logical date is more than this many days before today is a backfill: a daily
#: schedule runs the day after its logical date, a late scheduler a little later.
DEFAULT_MAX_LAG_DAYS = 2


@dataclass(frozen=True)
class RunPlan:
    """What a campaign run is and why it may or may not contact customers."""

    campaign: str
    logical_date: dt.date
    send_mode: SendMode
    reason: str

    @property
    def run_key(self) -> str:
        return run_key(self.campaign, self.logical_date)

    @property
    def contacts_customers(self) -> bool:
        return self.send_mode == "live"

    def to_dict(self) -> dict[str, str]:
        """Small and JSON-friendly, for XCom and logs."""
        return {
            "campaign": self.campaign,
            "logical_date": self.logical_date.isoformat(),
            "send_mode": self.send_mode,
            "reason": self.reason,
            "run_key": self.run_key,
        }

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> RunPlan:
        return cls(
            campaign=data["campaign"],
            logical_date=dt.date.fromisoformat(data["logical_date"]),
            send_mode=data["send_mode"],  # type: ignore[arg-type]
            reason=data["reason"],
        )


def run_key(campaign: str, logical_date: dt.date) -> str:
    """One run per campaign and logical date: re-runs and clears of that date reuse it."""
    return f"{campaign}:{logical_date.isoformat()}"


def plan_run(
    campaign: str,
    logical_date: dt.date,
    *,
    today: dt.date,
    scheduled_for: dt.date | None = None,
    dry_run: bool = False,
    force_send: bool = False,
    is_backfill_run: bool = False,
    max_lag_days: int = DEFAULT_MAX_LAG_DAYS,
) -> RunPlan:
    """Decide the send mode; the reason is meant for the task log and the UI.

    `scheduled_for` is the day the run was due (for a data-interval timetable its
    `data_interval_end`, e.g. a week after the logical date of a weekly run); default the logical date.
    """
    if dry_run:
        return RunPlan(campaign, logical_date, "dry_run", "dry run requested: messages are rendered, none sent")
    lag = (today - (scheduled_for or logical_date)).days
    past = lag > max_lag_days
    if (past or is_backfill_run) and not force_send:
        why = "an Airflow backfill run" if is_backfill_run else f"the run was due {lag} days before today ({today})"
        return RunPlan(
            campaign, logical_date, "backfill", f"{why}: audiences and copy are rebuilt, nobody is contacted"
        )
    if past or is_backfill_run:
        return RunPlan(campaign, logical_date, "live", f"past date ({lag} days ago) sent because force_send=true")
    return RunPlan(campaign, logical_date, "live", "current date: messages are sent")


def ensure_run(conn: Connection, plan: RunPlan) -> None:
    """Create the run's row, or record the mode of this attempt on an existing one."""
    existing = conn.execute(select(campaign_runs.c.run_key).where(campaign_runs.c.run_key == plan.run_key)).first()
    if existing is None:
        conn.execute(
            campaign_runs.insert().values(
                run_key=plan.run_key,
                campaign=plan.campaign,
                logical_date=plan.logical_date,
                send_mode=plan.send_mode,
                status="planned",
                audience_size=0,
                treatment_size=0,
                control_size=0,
            )
        )
    else:
        conn.execute(
            update(campaign_runs).where(campaign_runs.c.run_key == plan.run_key).values(send_mode=plan.send_mode)
        )


def set_run_fields(conn: Connection, run_key_: str, **values: Any) -> None:
    """Update the run's row (status, sizes, report...)."""
    conn.execute(update(campaign_runs).where(campaign_runs.c.run_key == run_key_).values(**values))
