"""Campaigns as configuration: one YAML file per campaign in `include/campaigns/`.

The file says who gets what, when: audience rules, exclusions, control share, caps, channels and
copy. Everything is data (enums, ranges, lists): our code compiles the rules to SQLAlchemy
expressions with bound parameters, so no value from a file ever becomes SQL text.

`load_campaign` / `load_campaigns` raise `CampaignConfigError` naming the file and the field path
(e.g. `winback.yaml: audience.recency_days.min: Input should be greater than or equal to 0`).
Kept light (pydantic + PyYAML): DAG files call it at parse time.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from marketflow.copy.draft import LANGUAGES

_SLUG = r"^[a-z][a-z0-9_]*$"
_EMAIL = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[A-Za-z]{2,}$")
_CRON_PRESETS = {"@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@once"}

Slug = Annotated[str, Field(pattern=_SLUG, max_length=48)]


class CampaignConfigError(ValueError):
    """A campaign file that cannot be used; the message names the file and the field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IntRange(_Strict):
    """Inclusive bounds; either side may be left open."""

    min: int | None = Field(default=None, ge=0)
    max: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> IntRange:
        if self.min is None and self.max is None:
            raise ValueError("give at least one of min and max")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class FloatRange(_Strict):
    """Inclusive bounds on an amount (e.g. monetary value); either side may be left open."""

    min: float | None = Field(default=None, ge=0)
    max: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> FloatRange:
        if self.min is None and self.max is None:
            raise ValueError("give at least one of min and max")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class ProbabilityRange(FloatRange):
    """Bounds on a probability, both within [0, 1]."""

    min: float | None = Field(default=None, ge=0, le=1)
    max: float | None = Field(default=None, ge=0, le=1)


class RepeatProductDue(_Strict):
    """Customers with a product they buy again and again whose usual re-order interval has passed.

    A product counts when bought on at least `min_purchase_days` distinct days; it is due when the
    days since its last purchase reach `overdue_factor` x the customer's average gap for it, and
    at most `max_days_since_last` (older habits are considered lost).
    """

    min_purchase_days: int = Field(default=3, ge=2)
    overdue_factor: float = Field(default=1.0, gt=0, le=5)
    max_days_since_last: int = Field(default=180, ge=1)


OrderBy = Literal["propensity_desc", "monetary_desc", "frequency_desc", "recency_asc", "recency_desc"]


class AudienceRules(_Strict):
    """Who qualifies, read from the customer's profile (and scores) as of the run's date."""

    segments: list[Slug] | None = Field(default=None, min_length=1)
    propensity_30d: ProbabilityRange | None = None
    recency_days: IntRange | None = None
    frequency: IntRange | None = None
    monetary: FloatRange | None = None
    favourite_groups: list[Annotated[str, Field(min_length=1, max_length=128)]] | None = Field(
        default=None, min_length=1
    )
    countries: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(default=None, min_length=1)
    repeat_product_due: RepeatProductDue | None = None
    order_by: OrderBy = "propensity_desc"
    max_size: int | None = Field(default=None, gt=0)


class Exclusions(_Strict):
    """Who is left out although the rules match (each recorded with its reason)."""

    bought_within_days: int | None = Field(default=None, ge=1, le=365)
    in_other_campaign_within_days: int | None = Field(default=None, ge=1, le=365)


class FrequencyCap(_Strict):
    """At most `max_messages` marketing messages per customer in any `per_days`, all campaigns together."""

    max_messages: int = Field(default=2, ge=1)
    per_days: int = Field(default=7, ge=1, le=90)


class EmailChannel(_Strict):
    """E-mail through an Airflow SMTP connection."""

    from_address: str
    from_name: str = Field(default="", max_length=64)
    reply_to: str | None = None
    smtp_conn_id: str = Field(default="smtp_default", min_length=1, max_length=250)
    unsubscribe_url: str = Field(description="page that handles ?u=<token>; token identifies the message")
    unsubscribe_mailto: str | None = None
    rate_per_second: float = Field(default=20.0, gt=0, le=10_000)

    @field_validator("from_address", "reply_to", "unsubscribe_mailto")
    @classmethod
    def _is_address(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.match(value):
            raise ValueError(f"{value!r} is not an e-mail address")
        return value

    @field_validator("unsubscribe_url")
    @classmethod
    def _is_http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s?#]+$", value):
            raise ValueError("must be an http(s) URL without query or fragment")
        return value


AdPlatform = Literal["google_ads", "meta"]


class AdsChannel(_Strict):
    """Ad audiences: hashed e-mail lists per platform, optionally pushed to a signed webhook."""

    platforms: list[AdPlatform] = Field(default_factory=lambda: ["google_ads", "meta"], min_length=1)
    webhook_conn_id: str | None = Field(default=None, min_length=1, max_length=250)

    @field_validator("platforms")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("platforms are listed twice")
        return value


class Channels(_Strict):
    email: EmailChannel | None = None
    ads: AdsChannel | None = None

    @model_validator(mode="after")
    def _at_least_one(self) -> Channels:
        if self.email is None and self.ads is None:
            raise ValueError("configure at least one channel (email, ads)")
        return self


class Variant(_Strict):
    """An A/B variant: its subject line, preheader and intro, Jinja2 strings rendered per customer."""

    name: Slug
    subject: str = Field(min_length=1, max_length=200)
    preheader: str = Field(default="", max_length=300, description="the inbox preview line after the subject")
    intro: str = Field(min_length=1, max_length=2000)


class LlmCopy(_Strict):
    """Optional copy from an OpenAI-compatible endpoint, accepted only when it passes the guardrails."""

    enabled: bool = False
    conn_id: str = Field(default="marketflow_llm", min_length=1, max_length=250)
    brief: str | None = Field(
        default=None,
        min_length=10,
        max_length=300,
        description="what the e-mail is for, in one plain sentence for the model (default: the description)",
    )
    max_subject_chars: int = Field(default=80, ge=10, le=200)
    max_preheader_chars: int = Field(default=110, ge=10, le=300)
    max_intro_chars: int = Field(default=600, ge=50, le=2000)
    banned_phrases: list[Annotated[str, Field(min_length=2)]] = Field(default_factory=list)
    stop_after_failures: int = Field(
        default=5, ge=1, description="errors or timeouts in a row after which the run stops calling the model"
    )
    variants: list[Slug] = Field(
        default_factory=list,
        description="the variants whose copy the model drafts (empty: all): an A/B test of model against template",
    )

    def limits(self) -> dict[str, int]:
        """The most characters the model may write per part of the copy."""
        return {"subject": self.max_subject_chars, "preheader": self.max_preheader_chars, "intro": self.max_intro_chars}


class MessageConfig(_Strict):
    """What the message says: template, variants, products."""

    template: Slug
    language: str = Field(default="en", description="what the copy is written in (ISO 639-1)")
    variants: list[Variant] = Field(min_length=1, max_length=8)
    product_source: Literal["recommendations", "new_recommendations", "repeat_products", "none"] = "recommendations"
    products: int = Field(default=3, ge=0, le=10)
    llm: LlmCopy = Field(default_factory=LlmCopy)

    @field_validator("variants")
    @classmethod
    def _unique_names(cls, value: list[Variant]) -> list[Variant]:
        names = [v.name for v in value]
        if len(set(names)) != len(names):
            raise ValueError(f"variant names repeat: {names}")
        return value

    @field_validator("language")
    @classmethod
    def _known_language(cls, value: str) -> str:
        if value not in LANGUAGES:
            raise ValueError(f"language {value!r} is not one of {', '.join(sorted(LANGUAGES))}")
        return value

    @model_validator(mode="after")
    def _llm_variants_exist(self) -> MessageConfig:
        unknown = sorted(set(self.llm.variants) - {v.name for v in self.variants})
        if unknown:
            raise ValueError(f"llm.variants names no such variant: {unknown}")
        return self


class CampaignConfig(_Strict):
    """One campaign: who gets what, when."""

    name: Slug
    description: str = Field(min_length=10, max_length=2000)
    schedule: str
    enabled: bool = True
    consent: Literal["explicit_opt_in", "soft_opt_in"] = "explicit_opt_in"
    control_share: float = Field(ge=0, le=0.5)
    attribution_days: int = Field(default=14, ge=1, le=90)
    audience: AudienceRules
    exclusions: Exclusions = Field(default_factory=Exclusions)
    frequency_cap: FrequencyCap = Field(default_factory=FrequencyCap)
    channels: Channels
    message: MessageConfig
    max_input_age_days: int = Field(
        default=0,
        ge=0,
        le=30,
        description="how many days older than the run's day its orders, profiles and scores may be "
        "(0: as of the day itself); older inputs block the run",
    )
    max_recommendations_age_days: int = Field(
        default=7, ge=0, le=60, description="the same for recommendations, which the recommender writes weekly"
    )
    wait_for_inputs_minutes: int = Field(
        default=360,
        ge=0,
        le=24 * 60,
        description="how long after it is due a run waits for late inputs before it is blocked",
    )

    @field_validator("schedule")
    @classmethod
    def _valid_schedule(cls, value: str) -> str:
        from croniter import croniter

        if value in _CRON_PRESETS or (len(value.split()) == 5 and croniter.is_valid(value)):
            return value
        raise ValueError(f"{value!r} is neither a 5-field cron expression nor one of {sorted(_CRON_PRESETS)}")

    @model_validator(mode="after")
    def _products_need_a_source(self) -> CampaignConfig:
        if self.message.product_source == "repeat_products" and self.audience.repeat_product_due is None:
            raise ValueError("message.product_source 'repeat_products' needs audience.repeat_product_due")
        return self

    @property
    def dag_id(self) -> str:
        return f"campaign__{self.name}"

    def required_inputs(self) -> dict[str, int]:
        """Input -> allowed age in days (`marketflow.freshness`): what this campaign's runs read."""
        inputs = {"orders": self.max_input_age_days, "profiles": self.max_input_age_days}
        if self.audience.propensity_30d is not None or self.audience.order_by == "propensity_desc":
            inputs["scores"] = self.max_input_age_days
        if self.message.product_source in ("recommendations", "new_recommendations") and self.message.products > 0:
            inputs["recommendations"] = self.max_recommendations_age_days
        return inputs


def _include_dir() -> Path:
    return Path(__file__).resolve().parents[2]


def campaigns_dir() -> Path:
    """`$MARKETFLOW_CAMPAIGNS_DIR`, else `include/campaigns` next to the package."""
    return Path(os.environ.get("MARKETFLOW_CAMPAIGNS_DIR", _include_dir() / "campaigns"))


def templates_dir() -> Path:
    """`$MARKETFLOW_TEMPLATES_DIR`, else `include/templates` next to the package."""
    return Path(os.environ.get("MARKETFLOW_TEMPLATES_DIR", _include_dir() / "templates"))


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(file)"


def _describe(error: ValidationError, path: Path) -> str:
    lines = [f"{path}: {_field_path(e['loc'])}: {e['msg']}" for e in error.errors()]
    return "\n".join(lines)


def load_campaign(path: Path, templates: Path | None = None) -> CampaignConfig:
    """Read and validate one campaign file; its `name` must be the file's stem (the DAG id uses it)
    and its template must exist in `templates` (default `templates_dir()`)."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else "(file)"
        raise CampaignConfigError(f"{path}: {where}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(raw, dict):
        raise CampaignConfigError(f"{path}: (file): expected a mapping of fields, got {type(raw).__name__}")
    try:
        config = CampaignConfig.model_validate(raw)
    except ValidationError as exc:
        raise CampaignConfigError(_describe(exc, path)) from exc
    if config.name != path.stem:
        raise CampaignConfigError(f"{path}: name: {config.name!r} must equal the file name {path.stem!r}")
    folder = templates if templates is not None else templates_dir()
    missing = [
        name
        for name in (f"{config.message.template}.txt.j2", f"{config.message.template}.html.j2")
        if not (folder / name).is_file()
    ]
    if missing:
        raise CampaignConfigError(f"{path}: message.template: {', '.join(missing)} not found in {folder}")
    return config


def load_campaigns(folder: Path | None = None, templates: Path | None = None) -> list[CampaignConfig]:
    """Every `*.yaml` campaign in `folder` (default `campaigns_dir()`), sorted by name."""
    folder = folder if folder is not None else campaigns_dir()
    return [load_campaign(path, templates) for path in sorted(folder.glob("*.yaml"))]
