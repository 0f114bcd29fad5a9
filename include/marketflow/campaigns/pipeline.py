"""The steps of a campaign run, one function per DAG task: select -> render -> send -> sync ads -> report.

Each step takes the warehouse engine, the campaign's config and the run's `RunPlan` (from
`plan_run`), does its work idempotently (a retry or a cleared task redoes it safely) and returns
a small JSON-friendly summary for XCom and the task log. Selection and rendering read exactly the
inputs the run's freshness check found (input -> as-of date, `marketflow.freshness`), never
"the latest there is". Steps that would contact customers check the plan: backfills and dry runs
rebuild everything but send and push nothing, and say so.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, func, select

from marketflow.audiences.composition import AudienceThresholds, composition_warnings, run_composition
from marketflow.audiences.selection import (
    Audience,
    AudienceInputsMissing,
    audience_is_frozen,
    compute_audience,
    due_repeat_products,
    input_day,
    stored_members,
    write_audience,
)
from marketflow.campaigns.config import CampaignConfig, campaigns_dir, load_campaign, templates_dir
from marketflow.campaigns.report import build_report
from marketflow.campaigns.runs import RunPlan, ensure_run, run_key, set_run_fields
from marketflow.campaigns.sqlutil import bulk_insert, chunks
from marketflow.channels.ads import (
    WebhookTarget,
    hashed_audience,
    post_audience,
    webhook_from_connection,
    write_audience_csv,
)
from marketflow.channels.identifiers import new_message_id
from marketflow.channels.ledger import SendPolicy, send_pending
from marketflow.channels.settings import SendSettings
from marketflow.channels.smtp import SmtpSettings, SmtpTransport, settings_from_connection
from marketflow.copy.facts import CustomerFacts, ProductFact, customer_facts, due_products, recommended_products
from marketflow.copy.llm import Copywriter
from marketflow.copy.render import MessageRenderer, RenderedMessage
from marketflow.freshness import require
from marketflow.warehouse.schema import (
    ad_audience_exports,
    audience_members,
    customer_contacts,
    messages,
)

log = logging.getLogger(__name__)
#: How often a long render logs how far it got (the demo and operators see it is alive).
PROGRESS_EVERY_S = 30.0


class SendIncomplete(RuntimeError):
    """Some e-mails could not be sent yet (transient errors): the task fails so Airflow retries it."""


def campaign(name: str) -> CampaignConfig:
    """The campaign `name` from `include/campaigns/<name>.yaml`."""
    return load_campaign(campaigns_dir() / f"{name}.yaml")


def default_export_root() -> Path:
    """`$MARKETFLOW_EXPORT_DIR`, else `$AIRFLOW_HOME/marketflow/ad-audiences`."""
    if os.environ.get("MARKETFLOW_EXPORT_DIR"):
        return Path(os.environ["MARKETFLOW_EXPORT_DIR"])
    return Path(os.environ.get("AIRFLOW_HOME", Path.home() / "airflow")) / "marketflow" / "ad-audiences"


# --- select -------------------------------------------------------------------------------------


def select_audience(
    engine: Engine, config: CampaignConfig, plan: RunPlan, inputs: Mapping[str, object]
) -> dict[str, Any]:
    """Select and store the run's audience from `inputs` (input -> as-of date, from the run's
    freshness check); once any message of the run left, it is frozen."""
    with engine.connect() as conn:  # read outside the write transaction: other writers are not held up
        frozen = audience_is_frozen(conn, plan.run_key)
        audience = None if frozen else compute_audience(conn, config, plan.day, plan.run_key, inputs)
    with engine.begin() as conn:
        ensure_run(conn, plan, config.attribution_days)
        set_run_fields(conn, plan.run_key, inputs=dict(inputs), blocked_reason=None)
        if audience is None or audience_is_frozen(conn, plan.run_key):
            counts = dict(
                conn.execute(
                    select(audience_members.c.arm, func.count())
                    .where(audience_members.c.run_key == plan.run_key)
                    .group_by(audience_members.c.arm)
                ).all()
            )
            log.warning("%s: messages already left for this run: its audience is kept as recorded %s", plan.run_key, counts)
            return {"frozen": True, **counts}
        write_audience(conn, plan.run_key, audience)
        summary = audience.summary()
        set_run_fields(
            conn,
            plan.run_key,
            status="selected",
            audience_size=len(audience.treatment) + len(audience.control),
            treatment_size=len(audience.treatment),
            control_size=len(audience.control),
            exclusion_counts=audience.exclusion_counts(),
        )
    log.info(
        "%s: %d matched the rules; treatment %d, control %d; excluded by reason: %s; inputs as of %s",
        plan.run_key,
        summary["matched"],
        summary["treatment"],
        summary["control"],
        summary["excluded"] or "none",
        dict(inputs),
    )
    _log_composition_warnings(engine, plan.run_key)
    return summary


def _log_composition_warnings(engine: Engine, run_key: str) -> None:
    """Countries or segments the exclusions left out far more often than the rest (four-fifths rule):
    said in the task log when the audience is chosen; the selection itself stays as it is."""
    with engine.connect() as conn:
        composition = run_composition(conn, run_key)
    if composition is None:
        return
    for warning in composition_warnings(composition, AudienceThresholds.from_env()):
        log.warning("%s", warning)


# --- render -------------------------------------------------------------------------------------


def _products(
    engine: Engine, config: CampaignConfig, day: dt.date, inputs: Mapping[str, object], ids: list[str]
) -> dict[str, list[ProductFact]]:
    n, source = config.message.products, config.message.product_source
    with engine.connect() as conn:
        if source in ("recommendations", "new_recommendations"):
            recommendations_as_of = input_day(inputs, "recommendations")
            if recommendations_as_of is None:
                return {}  # products: 0 (a campaign that shows recommendations requires them)
            return recommended_products(conn, ids, n, recommendations_as_of, new_only=source == "new_recommendations")
        if source == "repeat_products" and config.audience.repeat_product_due is not None:
            wanted = set(ids)
            due = {c: p for c, p in due_repeat_products(conn, day, config.audience.repeat_product_due).items() if c in wanted}
            return due_products(conn, due, n, day)
    return {}


def _facts(
    engine: Engine, config: CampaignConfig, day: dt.date, inputs: Mapping[str, object], ids: list[str]
) -> dict[str, CustomerFacts]:
    profiles_as_of = input_day(inputs, "profiles")
    if profiles_as_of is None:
        raise AudienceInputsMissing(f"the run's inputs name no customer_profiles snapshot for {day}")
    products = _products(engine, config, day, inputs, ids)
    with engine.connect() as conn:
        return customer_facts(conn, profiles_as_of, ids, products)


def _emails(engine: Engine, ids: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    with engine.connect() as conn:
        for chunk in chunks(ids):
            stmt = select(customer_contacts.c.customer_id, customer_contacts.c.email).where(
                customer_contacts.c.customer_id.in_(chunk)
            )
            found.update(dict(conn.execute(stmt).all()))
    return found


def copywriter_for(config: CampaignConfig) -> Copywriter | None:
    """The LLM copywriter when the campaign enables it: its Airflow connection's endpoint, or the
    embedded model when no such connection exists (and it is installed)."""
    llm = config.message.llm
    if not llm.enabled:
        return None
    from airflow.sdk.exceptions import AirflowNotFoundException

    from marketflow.copy import embedded
    from marketflow.copy.llm import LlmSettings, settings_from_connection

    try:
        settings = settings_from_connection(llm.conn_id)
    except AirflowNotFoundException:
        if not embedded.available():
            log.warning("LLM copy is enabled, connection %r is not set and the embedded model is not installed: "
                        "templates only", llm.conn_id)
            return None
        settings = LlmSettings.embedded()
    except ValueError as exc:
        log.warning("LLM copy is enabled but connection %r is unusable (%s): templates only", llm.conn_id, exc)
        return None
    email = config.channels.email
    shop = (email.from_name if email else "") or "our shop"
    brief = llm.brief or config.description
    return Copywriter(settings, shop=shop, brief=brief, limits=llm.limits(), language=config.message.language)


def render_messages(
    engine: Engine,
    config: CampaignConfig,
    plan: RunPlan,
    inputs: Mapping[str, object],
    *,
    templates: Path | None = None,
    copywriter: Copywriter | None = None,
) -> dict[str, Any]:
    """Render one e-mail per treatment member into the ledger as `rendered`.

    Rows already past `rendered` (sending, sent, ...) are never touched; rows still `rendered`
    are re-rendered in place and keep their Message-ID.
    """
    if config.channels.email is None:
        return {"rendered": 0, "note": "no e-mail channel"}
    with engine.connect() as conn:
        members = stored_members(conn, plan.run_key)
        existing = {
            row.customer_id: (row.status, row.message_id)
            for row in conn.execute(
                select(messages.c.customer_id, messages.c.status, messages.c.message_id).where(
                    messages.c.run_key == plan.run_key, messages.c.channel == "email"
                )
            ).all()
        }
    to_render = [m for m in members if existing.get(m.customer_id, ("rendered",))[0] == "rendered"]
    ids = [m.customer_id for m in to_render]
    facts, emails = _facts(engine, config, plan.day, inputs, ids), _emails(engine, ids)
    renderer = MessageRenderer(config, templates or templates_dir(), copywriter)
    # a member whose profile or address is gone since selection has nothing to render
    variant_of = {
        m.customer_id: m.variant or config.message.variants[0].name
        for m in to_render
        if m.customer_id in facts and m.customer_id in emails
    }
    missing = len(to_render) - len(variant_of)
    if copywriter is not None:
        log.info("%s: drafting the copy of %d e-mails", plan.run_key, len(variant_of))
    renderer.prepare((facts[customer], variant) for customer, variant in variant_of.items())
    rows = []
    progress_at = time.monotonic() + PROGRESS_EVERY_S
    for done, (customer, variant) in enumerate(variant_of.items()):
        if time.monotonic() >= progress_at:  # an HTTP language model drafts message by message
            log.info("%s: %d of %d e-mails rendered", plan.run_key, done, len(variant_of))
            progress_at = time.monotonic() + PROGRESS_EVERY_S
        message_id = existing.get(customer, (None, None))[1] or new_message_id(renderer.domain)
        rows.append(_ledger_row(plan.run_key, renderer.render(facts[customer], variant, message_id), emails[customer]))
    with engine.begin() as conn:
        conn.execute(
            messages.delete().where(
                messages.c.run_key == plan.run_key, messages.c.channel == "email", messages.c.status == "rendered"
            )
        )
        bulk_insert(conn, messages, LEDGER_COLUMNS, (tuple(row[name] for name in LEDGER_COLUMNS) for row in rows))
        set_run_fields(conn, plan.run_key, status="rendered")
    sources = Counter(row["copy_source"] for row in rows)
    kept = len(members) - len(to_render)
    log.info(
        "%s: rendered %d e-mails (copy: %s); %d already past rendering kept; %d without profile or address",
        plan.run_key, len(rows), dict(sources), kept, missing,
    )
    return {"rendered": len(rows), "copy_sources": dict(sources), "kept": kept, "missing": missing}


#: The `messages` columns a rendered e-mail fills (`_ledger_row`).
LEDGER_COLUMNS = (
    "run_key", "customer_id", "channel", "status", "message_id", "recipient", "variant", "subject", "body_text",
    "body_html", "copy_source", "attempts",
)


def _ledger_row(run_key: str, msg: RenderedMessage, email: str) -> dict[str, Any]:
    return {
        "run_key": run_key,
        "customer_id": msg.customer_id,
        "channel": "email",
        "status": "rendered",
        "message_id": msg.message_id,
        "recipient": email,
        "variant": msg.variant,
        "subject": msg.subject[:255],
        "body_text": msg.body_text,
        "body_html": msg.body_html,
        "copy_source": msg.copy_source,
        "attempts": 0,
    }


@dataclass(frozen=True)
class RunPreview:
    """What a run of `day` would do: its audience (arms, exclusions), a few of its messages, and
    the facts those messages were written from."""

    audience: Audience
    messages: list[RenderedMessage]
    facts: dict[str, CustomerFacts]


def preview_run(
    engine: Engine,
    config: CampaignConfig,
    day: dt.date,
    n: int,
    *,
    templates: Path | None = None,
    copywriter: Copywriter | None = None,
) -> RunPreview:
    """Select the audience of `day` and render up to `n` of its messages without writing or sending
    anything; stale inputs raise `StaleInputs` naming them, as they would block the run."""
    with engine.connect() as conn:
        inputs = require(conn, day, config.required_inputs()).as_of_dates()
        audience = compute_audience(conn, config, day, run_key(config.name, day), inputs)
    chosen = audience.treatment[:n]
    facts = _facts(engine, config, day, inputs, [m.customer_id for m in chosen])
    renderer = MessageRenderer(config, templates or templates_dir(), copywriter)
    variant_of = {m.customer_id: m.variant or config.message.variants[0].name for m in chosen}
    renderer.prepare((facts[customer], variant) for customer, variant in variant_of.items() if customer in facts)
    messages = [
        renderer.render(facts[m.customer_id], variant_of[m.customer_id], new_message_id(renderer.domain))
        for m in chosen
        if m.customer_id in facts
    ]
    return RunPreview(audience, messages, facts)


# --- send ---------------------------------------------------------------------------------------


def send_emails(
    engine: Engine,
    config: CampaignConfig,
    plan: RunPlan,
    *,
    smtp: SmtpSettings | None = None,
    policy: SendPolicy | None = None,
) -> dict[str, Any]:
    """Send the run's rendered e-mails exactly once (live runs only).

    `smtp` defaults to the campaign's Airflow SMTP connection; `policy` to the campaign's rate
    with 4 tries and exponential backoff from 1 s.
    """
    channel = config.channels.email
    if channel is None:
        return {"sent": 0, "note": "no e-mail channel"}
    with engine.connect() as conn:
        waiting = conn.execute(
            select(func.count()).where(
                messages.c.run_key == plan.run_key, messages.c.channel == "email", messages.c.status == "rendered"
            )
        ).scalar_one()
    if not plan.contacts_customers:
        with engine.begin() as conn:
            set_run_fields(conn, plan.run_key, status="send_skipped")
        log.warning("%s: NOTHING SENT (%s mode): %s; %d e-mails stay rendered", plan.run_key, plan.send_mode, plan.reason, waiting)
        return {"sent": 0, "send_mode": plan.send_mode, "skipped": plan.reason, "rendered_not_sent": waiting}
    settings = smtp or settings_from_connection(channel.smtp_conn_id)
    if policy is None:
        send_settings = SendSettings.from_env()
        policy = SendPolicy(
            rate_per_second=channel.rate_per_second,
            stale_claim_s=send_settings.claim_timeout_s,
            batch_size=send_settings.batch_size,
        )
    with SmtpTransport(settings) as transport:
        summary = send_pending(engine, plan.run_key, channel, transport, policy, delivery_log=settings.delivery_log)
    with engine.begin() as conn:
        set_run_fields(conn, plan.run_key, status="sent")
    log.info("%s: %s", plan.run_key, summary.to_dict())
    if summary.in_doubt:
        log.warning(
            "%s: %d e-mails are in doubt (a connection broke mid-send): not resent; resolve with "
            "`marketflow campaigns resolve-unknown %s --resend|--mark-sent`",
            plan.run_key,
            summary.in_doubt,
            plan.run_key,
        )
    if summary.still_pending:
        raise SendIncomplete(f"{summary.still_pending} e-mails hit transient errors; the retry sends only those")
    if summary.claimed_elsewhere:
        raise SendIncomplete(
            f"{summary.claimed_elsewhere} e-mails are claimed by another attempt of this task that is still "
            f"running, or ran on another machine less than {policy.stale_claim_s:.0f} s ago "
            "(MARKETFLOW_SEND_CLAIM_TIMEOUT_S); a later retry settles them"
        )
    return summary.to_dict()


# --- ad audiences -------------------------------------------------------------------------------


def sync_ad_audiences(
    engine: Engine,
    config: CampaignConfig,
    plan: RunPlan,
    *,
    export_root: Path | None = None,
    webhook: WebhookTarget | None = None,
) -> dict[str, Any]:
    """Write the treatment group's hashed e-mails per platform; push them to the webhook on live runs.

    Files land in `<export_root>/<campaign>/<run day>/` (default `default_export_root()`).
    """
    ads = config.channels.ads
    if ads is None:
        return {"exported": {}, "note": "no ads channel"}
    with engine.connect() as conn:
        treated = [m.customer_id for m in stored_members(conn, plan.run_key)]
    emails = list(_emails(engine, treated).values())
    folder = (export_root or default_export_root()) / config.name / plan.day.isoformat()
    target = None
    if ads.webhook_conn_id and plan.contacts_customers:
        target = webhook or webhook_from_connection(ads.webhook_conn_id)
    results: dict[str, Any] = {}
    for platform in ads.platforms:
        hashes = hashed_audience(emails, platform)
        path = write_audience_csv(hashes, platform, folder)
        status = None
        if target is not None:
            status = post_audience(
                target, {"run_key": plan.run_key, "campaign": config.name, "platform": platform, "hashed_emails": hashes}
            )
        elif ads.webhook_conn_id:
            status = f"not_pushed:{plan.send_mode}"
        with engine.begin() as conn:
            conn.execute(
                ad_audience_exports.delete().where(
                    ad_audience_exports.c.run_key == plan.run_key, ad_audience_exports.c.platform == platform
                )
            )
            conn.execute(
                ad_audience_exports.insert().values(
                    run_key=plan.run_key, platform=platform, artifact_uri=path.as_uri(), rows=len(hashes), webhook_status=status
                )
            )
        results[platform] = {"file": str(path), "rows": len(hashes), "webhook": status}
    with engine.begin() as conn:
        set_run_fields(conn, plan.run_key, status="synced")
    log.info("%s: ad audiences %s", plan.run_key, results)
    failed = {p: r["webhook"] for p, r in results.items() if _push_failed(r["webhook"])}
    if failed:
        raise RuntimeError(f"ad-audience webhook failed: {failed}")
    return results


def _push_failed(status: str | None) -> bool:
    return status is not None and (status.startswith("error") or (status.startswith("http_") and not status.startswith("http_2")))


# --- report -------------------------------------------------------------------------------------


def report_run(engine: Engine, config: CampaignConfig, plan: RunPlan) -> dict[str, Any]:
    """Compute and store the run's report (treatment vs control, uplift, variants)."""
    with engine.begin() as conn:
        report = build_report(conn, plan.run_key)
        set_run_fields(conn, plan.run_key, status="reported", report=report)
    arms = report["arms"]
    log.info(
        "%s: treatment %s vs control %s; conversion uplift %s; window complete: %s",
        plan.run_key,
        arms["treatment"],
        arms["control"],
        report["conversion_uplift"],
        report["window"]["complete"],
    )
    return {
        "measured": report["measured"],
        "treatment": arms["treatment"]["members"],
        "control": arms["control"]["members"],
        "conversion_uplift": report["conversion_uplift"],
    }
