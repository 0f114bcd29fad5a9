"""One DAG per campaign file in `include/campaigns/*.yaml`: `campaign__<name>`, on the campaign's schedule.

Each run: plan the send mode -> wait for fresh inputs -> select the audience -> generate copy and
render the e-mails into the send ledger -> send them exactly once -> export the hashed ad audiences
-> report treatment vs control. The work lives in `marketflow.campaigns.pipeline`; this file only
wires it. At parse time it reads the campaign files (pydantic + YAML); everything else is imported
inside the tasks.
Campaigns with `enabled: false` get no DAG. An invalid campaign file fails this file's import, and
the UI's import error names the file and the field.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from airflow.sdk import DAG, CronDataIntervalTimetable, Param, dag, get_current_context, task

from marketflow.campaigns.config import CampaignConfig, load_campaigns
from marketflow.dag_defaults import DEFAULT_ARGS, INPUT_POKE_INTERVAL_S, periodic_start, tags
from marketflow.days import interval_day
from marketflow.freshness import Freshness
from marketflow.input_sensor import InputsSensor

log = logging.getLogger(__name__)

TASK_DOCS = {
    "plan_run": "decides the send mode (live, backfill or dry run) and says why, in the log and its XCom",
    "wait_for_inputs": "waits (reschedule mode) until the orders, profiles, scores and recommendations the run "
    "reads are as of its day (within `max_input_age_days`); after `wait_for_inputs_minutes` past the due time "
    "the run is **blocked**: it fails naming each stale input and its date, contacts nobody, and "
    "`campaign_runs` records the reason",
    "select_audience": "stores every matching customer with an arm: treatment (with an A/B variant), control, "
    "or excluded with the first reason (consent, suppressions, frequency cap, recent purchase, other campaigns); "
    "when the run uses scores, treatment and control members keep the exact reasons of their score (TreeSHAP)",
    "render_messages": "writes the copy (templates, or the LLM under guardrails when enabled) and stores one "
    "e-mail per treatment member in the send ledger as `rendered`",
    "send_emails": "sends the rendered e-mails over the campaign's SMTP connection, each exactly once; "
    "**skipped** (and the log says NOTHING SENT) on backfill and dry runs",
    "sync_ad_audiences": "writes the treatment group's SHA-256-hashed e-mails as Google Ads / Meta upload files "
    "and, on live runs, pushes them to the configured webhook",
    "report_run": "stores the report: conversion and revenue per customer, treatment vs control, uplift with "
    "95% intervals, per variant",
}


def _doc_md(config: CampaignConfig) -> str:
    channels = [name for name in ("email", "ads") if getattr(config.channels, name) is not None]
    tasks = "\n".join(f"- `{task_id}`: {what}" for task_id, what in TASK_DOCS.items())
    return f"""
### Campaign `{config.name}`

{config.description}

**When it runs**: `{config.schedule}` (UTC). A run works on day D, the last full day before it is
due (`marketflow.days`): audience, profiles and scores as of D; purchases on
D+1 .. D+{config.attribution_days} count towards its report. Channels: {", ".join(channels)};
consent: `{config.consent}`; control group: {config.control_share:.0%} of the audience, never contacted.

**Fresh inputs or nobody is contacted**: the run reads {", ".join(config.required_inputs())}; each
must be as of D (at most {config.max_input_age_days} day(s) older; recommendations at most
{config.max_recommendations_age_days}). A late input is waited for up to
{config.wait_for_inputs_minutes} minutes after the run is due; then the run is blocked with a
message naming the input and its date (task log, `campaign_runs.blocked_reason`, Campaigns page).

**Tasks**
{tasks}

**Backfill safety**: a run due more than two days before today, or an Airflow backfill run, rebuilds
the audience, the messages, the ad-audience files and the report but contacts **nobody**: `send_emails`
is skipped, its log says NOTHING SENT and why, and `campaign_runs.send_mode` is `backfill`. Trigger with
`force_send` to send anyway. Re-running or clearing a run never sends an e-mail twice (the send ledger
is keyed by run, customer and channel). A blocked run can be cleared once its inputs have arrived.

**Params**: `dry_run` renders everything for review and sends nothing; `force_send` sends a past
date's e-mails.

Campaign file: `include/campaigns/{config.name}.yaml` (fields: `include/campaigns/README.md`).
Preview without storing anything: `marketflow campaigns preview {config.name} --date YYYY-MM-DD -n 3`.
"""


def _timetable(schedule: str) -> CronDataIntervalTimetable | str:
    return "@once" if schedule == "@once" else CronDataIntervalTimetable(schedule, timezone="UTC")


class CampaignInputsSensor(InputsSensor):
    """`wait_for_inputs` of a campaign: the inputs its file asks for when the task runs (like every
    task, it reads the campaign file again); a blocked run is recorded in `campaign_runs` first."""

    def __init__(self, *, campaign: str, **kwargs: Any) -> None:
        super().__init__(max_age_days={}, **kwargs)
        self.campaign = campaign

    def required_inputs(self) -> dict[str, int]:
        from marketflow.campaigns.pipeline import campaign

        return campaign(self.campaign).required_inputs()

    def blocked(self, context: Any, freshness: Freshness) -> None:
        from marketflow.campaigns.pipeline import campaign
        from marketflow.campaigns.runs import RunPlan, record_blocked
        from marketflow.warehouse import warehouse_engine

        plan = RunPlan.from_dict(context["ti"].xcom_pull(task_ids="plan_run"))
        with warehouse_engine().begin() as conn:
            record_blocked(conn, plan, freshness, campaign(self.campaign).attribution_days)
        self.log.error("%s: BLOCKED, NOBODY CONTACTED: %s", plan.run_key, freshness.reason())


def campaign_dag(config: CampaignConfig) -> DAG:
    """The DAG of one campaign; tasks load the campaign file again when they run."""
    name = config.name

    @dag(
        dag_id=config.dag_id,
        schedule=_timetable(config.schedule),
        start_date=periodic_start(),
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=tags("campaigns"),
        params={
            "dry_run": Param(
                False,
                type="boolean",
                title="Dry run",
                description="Render and store the e-mails for review; send nothing and push no ad audience.",
            ),
            "force_send": Param(
                False,
                type="boolean",
                title="Force send",
                description="Send even though the run's date is in the past (a backfill). "
                "Without it a past date rebuilds audience, copy and report but contacts nobody.",
            ),
        },
        doc_md=_doc_md(config),
    )
    def campaign_run() -> None:
        @task(task_id="plan_run", doc_md=TASK_DOCS["plan_run"])
        def plan() -> dict[str, str]:
            from marketflow.campaigns.runs import plan_run

            context = get_current_context()
            params = context["params"]
            end = context["data_interval_end"]
            run_plan = plan_run(
                name,
                interval_day(end),
                today=dt.datetime.now(dt.timezone.utc).date(),
                scheduled_for=end.date(),
                dry_run=bool(params["dry_run"]),
                force_send=bool(params["force_send"]),
                is_backfill_run=context["dag_run"].run_type == "backfill",
            )
            if run_plan.contacts_customers:
                log.info("%s: LIVE RUN: %s", run_plan.run_key, run_plan.reason)
            else:
                log.warning("%s: %s: NOBODY WILL BE CONTACTED: %s", run_plan.run_key, run_plan.send_mode.upper(), run_plan.reason)
            return run_plan.to_dict()

        wait_for_inputs = CampaignInputsSensor(
            task_id="wait_for_inputs",
            doc_md=TASK_DOCS["wait_for_inputs"],
            campaign=name,
            timeout=config.wait_for_inputs_minutes * 60,
            poke_interval=INPUT_POKE_INTERVAL_S,
        )

        @task(task_id="select_audience", doc_md=TASK_DOCS["select_audience"])
        def select(planned: dict[str, str], inputs: dict[str, str | None]) -> dict[str, Any]:
            from marketflow.campaigns.pipeline import campaign, select_audience
            from marketflow.campaigns.runs import RunPlan
            from marketflow.warehouse import warehouse_engine

            return select_audience(warehouse_engine(), campaign(name), RunPlan.from_dict(planned), inputs)

        @task(task_id="render_messages", doc_md=TASK_DOCS["render_messages"])
        def render(planned: dict[str, str], inputs: dict[str, str | None]) -> dict[str, Any]:
            from marketflow.campaigns.pipeline import campaign, copywriter_for, render_messages
            from marketflow.campaigns.runs import RunPlan
            from marketflow.warehouse import warehouse_engine

            config = campaign(name)
            return render_messages(
                warehouse_engine(), config, RunPlan.from_dict(planned), inputs, copywriter=copywriter_for(config)
            )

        @task(task_id="send_emails", doc_md=TASK_DOCS["send_emails"])
        def send(planned: dict[str, str]) -> dict[str, Any]:
            from airflow.sdk.exceptions import AirflowSkipException

            from marketflow.campaigns.pipeline import campaign, send_emails
            from marketflow.campaigns.runs import RunPlan
            from marketflow.warehouse import warehouse_engine

            run_plan = RunPlan.from_dict(planned)
            summary = send_emails(warehouse_engine(), campaign(name), run_plan)
            if not run_plan.contacts_customers:
                # Skipped, not green: the grid shows at a glance that this run contacted nobody.
                raise AirflowSkipException(f"NOTHING SENT ({run_plan.send_mode}): {run_plan.reason}")
            return summary

        @task(task_id="sync_ad_audiences", trigger_rule="none_failed", doc_md=TASK_DOCS["sync_ad_audiences"])
        def sync_ads(planned: dict[str, str]) -> dict[str, Any]:
            from marketflow.campaigns.pipeline import campaign, sync_ad_audiences
            from marketflow.campaigns.runs import RunPlan
            from marketflow.warehouse import warehouse_engine

            return sync_ad_audiences(warehouse_engine(), campaign(name), RunPlan.from_dict(planned))

        @task(task_id="report_run", trigger_rule="none_failed", doc_md=TASK_DOCS["report_run"])
        def report(planned: dict[str, str]) -> dict[str, Any]:
            from marketflow.campaigns.pipeline import campaign, report_run
            from marketflow.campaigns.runs import RunPlan
            from marketflow.warehouse import warehouse_engine

            return report_run(warehouse_engine(), campaign(name), RunPlan.from_dict(planned))

        planned = plan()
        planned >> wait_for_inputs
        inputs = wait_for_inputs.output
        selected = select(planned, inputs)
        selected >> render(planned, inputs) >> send(planned) >> sync_ads(planned) >> report(planned)

    return campaign_run()


for _config in load_campaigns():
    if _config.enabled:
        campaign_dag(_config)
