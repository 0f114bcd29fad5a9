"""Words a marketer reads instead of the codes the warehouse stores.

Each page shows the label and keeps the code in a tooltip (`label` filter), so an analyst can still
find the value in SQL. A code without a label reads as itself with underscores as spaces: a new
exclusion reason or metric shows, just not prettily.
"""

from __future__ import annotations

import re

from markupsafe import Markup

EXCLUSION_REASONS = {
    "unsubscribed": "Unsubscribed",
    "complained": "Marked a message as spam",
    "bounced": "E-mail address bounced",
    "suppressed": "On the suppression list",
    "opted_out": "Opted out of marketing",
    "no_consent": "No marketing consent on record",
    "no_email": "No e-mail address",
    "frequency_cap": "Contacted too recently (frequency cap)",
    "bought_recently": "Bought recently",
    "in_other_campaign": "Already in another campaign",
    "over_max_size": "Over the audience's size limit",
}

RUN_STATES = {
    "planned": "Planned",
    "blocked": "Blocked: inputs not ready",
    "selected": "Audience selected",
    "rendered": "Messages written",
    "sent": "Sent",
    "send_skipped": "Not sent",
    "synced": "Ad audiences synced",
    "reported": "Results recorded",
    "success": "Succeeded",
    "failed": "Failed",
    "running": "Running",
    "queued": "Queued",
    "bounced": "Bounced",
    "champion": "Serving",
    "challenger": "Candidate",
    "retired": "Retired",
    "rejected": "Not promoted",
    "loaded": "Loaded",
    "no_trading": "No trading that day",
}

SEND_MODES = {
    "live": "Live",
    "backfill": "Backfill: nobody contacted",
    "dry_run": "Dry run: nobody contacted",
}

MESSAGE_ACTIVITY = {
    "delivered": "delivered",
    "open": "opens",
    "click": "clicks",
    "unsubscribe": "unsubscribes",
    "complaint": "spam complaints",
    "bounce": "bounces",
    "bounced": "bounced",
    "failed": "failed",
    "rendered": "written, not sent",
    "sending": "being sent",
    "suppressed": "held back",
}

COPY_SOURCES = {"template": "Template", "llm": "Language model"}
#: Why a model's draft was not used (`template_fallback:<reason>` or `...:guardrail:<rule>`).
FALLBACK_REASONS = {
    "llm_not_configured": "no model configured",
    "circuit_open": "the model failed too often in this run",
    "model_missing": "the embedded model is not installed",
    "timeout": "the model timed out",
    "unreachable": "the model could not be reached",
    "bad_response": "the model's answer was unreadable",
}

#: Metric leaf names (after the last dot) and groups (the parts before it).
METRIC_NAMES = {
    "ndcg@10": "NDCG@10 (ranking quality of the top 10)",
    "hitrate@10": "Hit rate in the top 10",
    "recall@10": "Recall in the top 10",
    "precision@10": "Precision in the top 10",
    "coverage": "Share of the catalogue recommended",
    "customers": "Customers evaluated",
    "calibration_auc": "ROC AUC (ranking of buyers)",
    "calibration_base_rate": "Share who bought (calibration weeks)",
    "calibration_mean_prediction": "Mean predicted probability",
    "recency_baseline_auc": "ROC AUC of ranking by recency alone",
    "train_rows": "Training rows",
    "calibration_rows": "Calibration rows",
    "holdout_customers": "Customers in the hold-out weeks",
    "cold_start_customers": "Hold-out customers without history",
    "seconds": "Training time (s)",
    "samples_per_s": "Training speed (samples/s)",
}
METRIC_GROUPS = {
    "all": "all customers",
    "new": "products new to the customer",
    "popularity_baseline": "popularity baseline",
    "training": "training",
}

_CAMPAIGN_ACRONYMS = re.compile(r"\b(sms|vip|ltv|rfm)\b", re.IGNORECASE)


def humanize(code: str) -> str:
    """`cross_sell` -> `Cross sell`: the fallback for codes without a label."""
    text = code.replace("_", " ").replace("-", " ").strip()
    text = text[:1].upper() + text[1:]
    return _CAMPAIGN_ACRONYMS.sub(lambda m: m.group(0).upper(), text)


def metric_label(name: str) -> str:
    """`all.ndcg@10` -> `NDCG@10 (ranking quality of the top 10), all customers`."""
    *groups, leaf = name.split(".")
    label = METRIC_NAMES.get(leaf, humanize(leaf))
    context = ", ".join(METRIC_GROUPS.get(group, humanize(group).lower()) for group in groups)
    return f"{label}, {context}" if context else label


_VOCABULARIES = {
    "exclusion": EXCLUSION_REASONS,
    "state": RUN_STATES,
    "mode": SEND_MODES,
    "activity": MESSAGE_ACTIVITY,
    "copy": COPY_SOURCES,
}


def label_text(code: str | None, kind: str) -> str:
    """The words for `code` in vocabulary `kind` (exclusion, state, mode, activity, copy, metric, name)."""
    if code is None:
        return "—"
    if kind == "metric":
        return metric_label(code)
    if kind == "name":
        return humanize(code)
    if kind == "copy" and code.startswith("template_fallback:"):
        return f"Template ({_fallback_reason(code.removeprefix('template_fallback:'))})"
    vocabulary = _VOCABULARIES.get(kind)
    if vocabulary is None:
        raise KeyError(f"unknown label vocabulary {kind!r}")
    return vocabulary.get(code, humanize(code))


def _fallback_reason(reason: str) -> str:
    if reason.startswith("guardrail:"):
        return f"the model's draft broke a rule: {humanize(reason.removeprefix('guardrail:')).lower()}"
    return FALLBACK_REASONS.get(reason, f"the model failed: {humanize(reason)}")


def label(code: str | None, kind: str) -> Markup:
    """The label with its code as a tooltip (`data-code` for tests and analysts)."""
    if code is None:
        return Markup('<span class="muted">—</span>')
    return Markup('<span class="label" title="{code}" data-code="{code}">{text}</span>').format(
        code=code, text=label_text(code, kind)
    )


__all__ = ["humanize", "label", "label_text", "metric_label"]
