"""A campaign run: its key, whether it may contact anyone, and its row in `campaign_runs`.

A run works on day D (`marketflow.days`: the last day of its data interval) and is keyed by it.
Send modes:
- `live`: messages are sent and ad audiences pushed.
- `backfill`: a past run (or an Airflow backfill run). Audiences, copy, exports and the report are
  rebuilt, but nobody is contacted unless the run is explicitly forced.
- `dry_run`: everything is rendered and stored for review; nothing is sent or pushed.
Whatever the mode, a run whose inputs are stale or missing is `blocked`: it selects, renders and
contacts nobody, and its row says which input was how old (`blocked_reason`, `inputs`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Connection, select, update

from marketflow.freshness import Freshness
from marketflow.warehouse.schema import campaign_runs

SendMode = Literal["live", "backfill", "dry_run"]

#: A run due more than this many days before today is a backfill: a daily schedule runs the day
#: after its day D, a late scheduler a little later.
DEFAULT_MAX_LAG_DAYS = 2


@dataclass(frozen=True)
class RunPlan:
    """What a campaign run is and why it may or may not contact customers."""

    campaign: str
    day: dt.date
    send_mode: SendMode
    reason: str

    @property
    def run_key(self) -> str:
        return run_key(self.campaign, self.day)

    @property
    def contacts_customers(self) -> bool:
        return self.send_mode == "live"

    def to_dict(self) -> dict[str, str]:
        """Small and JSON-friendly, for XCom and logs."""
        return {
            "campaign": self.campaign,
            "day": self.day.isoformat(),
            "send_mode": self.send_mode,
            "reason": self.reason,
            "run_key": self.run_key,
        }

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> RunPlan:
        return cls(
            campaign=data["campaign"],
            day=dt.date.fromisoformat(data["day"]),
            send_mode=data["send_mode"],  # type: ignore[arg-type]
            reason=data["reason"],
        )


def run_key(campaign: str, day: dt.date) -> str:
    """One run per campaign and day: re-runs and clears of that day reuse it."""
    return f"{campaign}:{day.isoformat()}"


def plan_run(
    campaign: str,
    day: dt.date,
    *,
    today: dt.date,
    scheduled_for: dt.date | None = None,
    dry_run: bool = False,
    force_send: bool = False,
    is_backfill_run: bool = False,
    max_lag_days: int = DEFAULT_MAX_LAG_DAYS,
) -> RunPlan:
    """Decide the send mode; the reason is meant for the task log and the UI.

    `scheduled_for` is the day the run was due (its data interval's end, the day after D); default D.
    """
    if dry_run:
        return RunPlan(campaign, day, "dry_run", "dry run requested: messages are rendered, none sent")
    lag = (today - (scheduled_for or day)).days
    past = lag > max_lag_days
    if (past or is_backfill_run) and not force_send:
        why = "an Airflow backfill run" if is_backfill_run else f"the run was due {lag} days before today ({today})"
        return RunPlan(campaign, day, "backfill", f"{why}: audiences and copy are rebuilt, nobody is contacted")
    if past or is_backfill_run:
        return RunPlan(campaign, day, "live", f"past date ({lag} days ago) sent because force_send=true")
    return RunPlan(campaign, day, "live", "current date: messages are sent")


def ensure_run(conn: Connection, plan: RunPlan, attribution_days: int) -> None:
    """Create the run's row, or record the mode of this attempt on an existing one; the attribution
    window is the campaign's when the run started, kept on the run so its outcomes never change
    meaning when the campaign file does."""
    existing = conn.execute(select(campaign_runs.c.run_key).where(campaign_runs.c.run_key == plan.run_key)).first()
    if existing is None:
        conn.execute(
            campaign_runs.insert().values(
                run_key=plan.run_key,
                campaign=plan.campaign,
                run_day=plan.day,
                send_mode=plan.send_mode,
                status="planned",
                attribution_days=attribution_days,
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


def record_blocked(conn: Connection, plan: RunPlan, freshness: Freshness, attribution_days: int) -> None:
    """The run contacted nobody because its inputs were stale or missing: say which, in its row."""
    ensure_run(conn, plan, attribution_days)
    set_run_fields(
        conn,
        plan.run_key,
        status="blocked",
        blocked_reason=freshness.reason(),
        inputs=freshness.as_of_dates(),
    )
