"""Campaign results read live from the warehouse: per run, per arm and per variant.

Outcomes are defined once, in `marketflow.campaigns.outcomes` (the same definition as the stored run
reports): purchases on days D+1 .. D+N after the run's day D, N recorded on the run; intention to
treat. Only runs that sent messages are measured: a backfill or dry run rebuilds its audience but
contacts no one.

The stored report is computed once, when the run ends, usually before its window closes; the pages
recompute the outcomes on every view so conversions appear as the orders arrive.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, select

from marketflow.campaigns.outcomes import (
    ArmOutcome,
    arm_outcome,
    latest_order_date,
    member_outcomes,
    revenue_difference,
    variant_outcomes,
)
from marketflow.campaigns.sqlutil import as_date
from marketflow.campaigns.uplift import Interval
from marketflow.ui.schedules import DagSchedule
from marketflow.ui.uplift import Uplift, uplift
from marketflow.warehouse.schema import (
    audience_members,
    campaign_runs,
    customer_contacts,
    engagement_events,
    messages,
)


@dataclass(frozen=True)
class RunResult:
    """One campaign run: its sizes, what it sent, and how its arms converted."""

    run_key: str
    campaign: str
    day: dt.date
    send_mode: str
    status: str
    blocked_reason: str | None
    inputs: dict[str, str | None]
    audience_size: int
    treatment_size: int
    control_size: int
    attribution_days: int
    message_statuses: dict[str, int]
    engagement: dict[str, int]
    treatment: ArmOutcome
    control: ArmOutcome
    variants: dict[str, ArmOutcome]
    window_complete: bool

    @property
    def window_end(self) -> dt.date:
        return self.day + dt.timedelta(days=self.attribution_days)

    @property
    def sent(self) -> int:
        return self.message_statuses.get("sent", 0)

    @property
    def measured(self) -> bool:
        return self.sent > 0

    @property
    def activity(self) -> list[tuple[str, int]]:
        """Message statuses other than sent, then engagement events: what happened after rendering."""
        statuses = [(status, n) for status, n in sorted(self.message_statuses.items()) if status != "sent"]
        return statuses + sorted(self.engagement.items())

    @property
    def uplift(self) -> Uplift | None:
        return uplift(self.treatment, self.control) if self.measured else None

    @property
    def revenue_uplift(self) -> Interval | None:
        return revenue_difference(self.treatment, self.control) if self.measured else None


@dataclass(frozen=True)
class CampaignResult:
    """A campaign's runs, oldest first, and its uplift pooled over the runs that sent messages."""

    name: str
    runs: list[RunResult] = field(default_factory=list)

    @property
    def last_run(self) -> RunResult | None:
        return self.runs[-1] if self.runs else None

    @property
    def measured_runs(self) -> list[RunResult]:
        return [run for run in self.runs if run.measured]

    @property
    def treatment(self) -> ArmOutcome:
        return sum((run.treatment for run in self.measured_runs), ArmOutcome())

    @property
    def control(self) -> ArmOutcome:
        return sum((run.control for run in self.measured_runs), ArmOutcome())

    @property
    def uplift(self) -> Uplift | None:
        return uplift(self.treatment, self.control)

    @property
    def revenue_uplift(self) -> Interval | None:
        return revenue_difference(self.treatment, self.control)

    @property
    def variants(self) -> dict[str, ArmOutcome]:
        pooled: dict[str, ArmOutcome] = defaultdict(ArmOutcome)
        for run in self.measured_runs:
            for variant, outcome in run.variants.items():
                pooled[variant] += outcome
        return dict(sorted(pooled.items()))

    @property
    def all_windows_complete(self) -> bool:
        return all(run.window_complete for run in self.measured_runs)


@dataclass(frozen=True)
class LatestRun:
    """The newest day a campaign ran for, in Airflow or in the warehouse, and only that day's facts:
    Airflow's state of its DAG run and the warehouse's run of the same day (None where that day
    wrote nothing yet), so a row never mixes two runs."""

    day: dt.date | None
    state: str | None
    run: RunResult | None


def latest_run(result: CampaignResult, schedule: DagSchedule | None) -> LatestRun:
    """Both sources key a run by its day D (`marketflow.days`); a blocked run says so whatever
    Airflow's state of it."""
    airflow_day = schedule.last_run_day if schedule is not None else None
    stored = result.last_run
    days = [day for day in (airflow_day, stored.day if stored else None) if day is not None]
    if not days:
        return LatestRun(None, None, None)
    day = max(days)
    run = stored if stored is not None and stored.day == day else None
    airflow_state = schedule.last_run_state if schedule is not None and airflow_day == day else None
    if run is not None and run.status == "blocked":
        return LatestRun(day, "blocked", run)
    return LatestRun(day, airflow_state or (run.status if run else None), run)


@dataclass(frozen=True)
class MessageSample:
    """A rendered message as stored; `email` is filled only when the caller may see contacts."""

    run_key: str
    customer_id: str
    channel: str
    status: str
    variant: str | None
    subject: str | None
    body_text: str | None
    body_html: str | None
    copy_source: str | None
    email: str | None
    consent: str | None = None  # the consent its selection relied on, in words (with contacts only)


def _per_run_counts(conn: Connection, stmt: Any) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    for run_key, key, count in conn.execute(stmt):
        counts[run_key][key] = int(count)
    return counts


def _message_statuses(conn: Connection, campaign: str | None) -> dict[str, dict[str, int]]:
    stmt = (
        select(messages.c.run_key, messages.c.status, func.count())
        .select_from(messages.join(campaign_runs, campaign_runs.c.run_key == messages.c.run_key))
        .group_by(messages.c.run_key, messages.c.status)
    )
    if campaign is not None:
        stmt = stmt.where(campaign_runs.c.campaign == campaign)
    return _per_run_counts(conn, stmt)


def _engagement(conn: Connection, campaign: str | None) -> dict[str, dict[str, int]]:
    """Opens, clicks, unsubscribes, bounces per run, through the messages' Message-IDs."""
    e, m = engagement_events, messages
    stmt = (
        select(m.c.run_key, e.c.event_type, func.count(func.distinct(e.c.event_id)))
        .select_from(
            e.join(m, m.c.message_id == e.c.message_id).join(campaign_runs, campaign_runs.c.run_key == m.c.run_key)
        )
        .group_by(m.c.run_key, e.c.event_type)
    )
    if campaign is not None:
        stmt = stmt.where(campaign_runs.c.campaign == campaign)
    return _per_run_counts(conn, stmt)


def campaign_results(conn: Connection, campaign: str | None = None) -> dict[str, CampaignResult]:
    """Every campaign with runs in the warehouse (or just `campaign`), by name."""
    stmt = select(campaign_runs).order_by(campaign_runs.c.campaign, campaign_runs.c.run_day)
    if campaign is not None:
        stmt = stmt.where(campaign_runs.c.campaign == campaign)
    rows = conn.execute(stmt).all()
    outcomes = member_outcomes(conn, [row.run_key for row in rows])
    statuses = _message_statuses(conn, campaign)
    engagement = _engagement(conn, campaign)
    newest_order = latest_order_date(conn)
    runs: dict[str, list[RunResult]] = defaultdict(list)
    for row in rows:
        arms = outcomes.get(row.run_key, {})
        window_end = row.run_day + dt.timedelta(days=row.attribution_days)
        runs[row.campaign].append(
            RunResult(
                run_key=row.run_key,
                campaign=row.campaign,
                day=row.run_day,
                send_mode=row.send_mode,
                status=row.status,
                blocked_reason=row.blocked_reason,
                inputs=dict(row.inputs or {}),
                audience_size=row.audience_size,
                treatment_size=row.treatment_size,
                control_size=row.control_size,
                attribution_days=row.attribution_days,
                message_statuses=statuses.get(row.run_key, {}),
                engagement=engagement.get(row.run_key, {}),
                treatment=arm_outcome(arms, "treatment"),
                control=arm_outcome(arms, "control"),
                variants=variant_outcomes(arms),
                window_complete=newest_order is not None and window_end <= newest_order,
            )
        )
    return {name: CampaignResult(name, runs_of_campaign) for name, runs_of_campaign in runs.items()}


def exclusion_counts(conn: Connection, run_key: str) -> dict[str, int]:
    """Why members of a run were left out, with counts, largest first."""
    stmt = (
        select(audience_members.c.exclusion_reason, func.count().label("n"))
        .where(audience_members.c.run_key == run_key, audience_members.c.arm == "excluded")
        .group_by(audience_members.c.exclusion_reason)
        .order_by(func.count().desc())
    )
    return {reason or "(no reason recorded)": int(n) for reason, n in conn.execute(stmt)}


def latest_selected_run(conn: Connection, campaign: str) -> str | None:
    """The run key of the campaign's newest run that recorded members (a blocked run has none)."""
    has_members = select(audience_members.c.run_key).where(audience_members.c.run_key == campaign_runs.c.run_key).exists()
    stmt = (
        select(campaign_runs.c.run_key)
        .where(campaign_runs.c.campaign == campaign, has_members)
        .order_by(campaign_runs.c.run_day.desc())
        .limit(1)
    )
    return conn.execute(stmt).scalar_one_or_none()


def sample_messages(conn: Connection, campaign: str, limit: int, with_contacts: bool) -> list[MessageSample]:
    """Messages of the campaign's newest run that rendered any, taking turns across variants so
    each variant shows; e-mail addresses are read only when the caller may see contacts."""
    newest_run = (
        select(messages.c.run_key)
        .join(campaign_runs, campaign_runs.c.run_key == messages.c.run_key)
        .where(campaign_runs.c.campaign == campaign)
        .order_by(campaign_runs.c.run_day.desc())
        .limit(1)
        .scalar_subquery()
    )
    turn = func.row_number().over(
        partition_by=messages.c.variant, order_by=(messages.c.customer_id, messages.c.channel)
    )
    columns = [
        messages.c.run_key,
        messages.c.customer_id,
        messages.c.channel,
        messages.c.status,
        messages.c.variant,
        messages.c.subject,
        messages.c.body_text,
        messages.c.body_html,
        messages.c.copy_source,
        turn.label("turn"),
    ]
    source = messages
    if with_contacts:
        # The address the message was rendered for, else the customer's current one; and the
        # consent its selection relied on (`marketflow privacy consent` lists them all).
        a = audience_members.c
        columns += [func.coalesce(messages.c.recipient, customer_contacts.c.email).label("email"),
                    a.consent_given, a.consent_effective_date, a.consent_source]
        source = messages.outerjoin(customer_contacts, customer_contacts.c.customer_id == messages.c.customer_id).outerjoin(
            audience_members, (a.run_key == messages.c.run_key) & (a.customer_id == messages.c.customer_id))
    ranked = select(*columns).select_from(source).where(messages.c.run_key == newest_run).subquery()
    stmt = select(ranked).order_by(ranked.c.turn, ranked.c.variant).limit(limit)
    samples = []
    for row in conn.execute(stmt):
        values = {key: value for key, value in row._mapping.items() if key != "turn"}
        values.setdefault("email", None)
        if with_contacts:
            values["consent"] = consent_words(
                values.pop("consent_given"), values.pop("consent_effective_date"), values.pop("consent_source"))
        samples.append(MessageSample(**values))
    return samples


def consent_words(given: bool | None, effective: Any, source: str | None) -> str:
    """"given on 2011-06-01 (customers-2011-06-01.csv)", or that the selection had none on record."""
    if given is None:
        return "none on record at selection"
    return f"{'given' if given else 'withdrawn'} on {as_date(effective)} ({source})"
