"""Render messages from Jinja2 templates in a sandbox, with A/B variants and optional LLM copy.

Templates live in `include/templates/`: `<template>.txt.j2` and `<template>.html.j2` per campaign
(both usually extend `_layout.*.j2`). They run in a `SandboxedEnvironment` with `StrictUndefined`
(a typo in a template fails the task instead of sending "Hello ,"); the HTML environment
autoescapes, so a subject, intro or product name can never inject markup. Variant subject and
preheader and intro strings from the campaign file are rendered in the same sandbox. The HTML part
carries the preheader as hidden text at the top of the body, where inboxes read their preview line.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from marketflow.campaigns.config import CampaignConfig
from marketflow.channels.identifiers import unsubscribe_url
from marketflow.copy.draft import Draft
from marketflow.copy.facts import CustomerFacts, format_money, product_basis
from marketflow.copy.guardrails import check_copy, has_unsubscribe_link
from marketflow.copy.llm import Copywriter, CopywriterError


class TemplateProblem(RuntimeError):
    """A template renders without the unsubscribe link, or refers to something that does not exist."""


@dataclass(frozen=True)
class RenderedMessage:
    customer_id: str
    variant: str
    subject: str
    body_text: str
    body_html: str
    copy_source: str
    message_id: str
    unsubscribe_url: str


def _environment(folder: Path, autoescape: bool) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        loader=FileSystemLoader(str(folder)),
        undefined=StrictUndefined,
        autoescape=autoescape,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        auto_reload=False,  # a run renders with the templates it started with: no file check per `extends`/`include`
    )
    env.filters["money"] = format_money
    return env


class MessageRenderer:
    """Renders one campaign's messages; holds the template environments and the LLM circuit."""

    def __init__(self, config: CampaignConfig, templates: Path, copywriter: Copywriter | None = None) -> None:
        if config.channels.email is None:
            raise ValueError(f"campaign {config.name!r} has no e-mail channel to render for")
        self.config = config
        self.email = config.channels.email
        self.copywriter = copywriter
        self._text = _environment(templates, autoescape=False)
        self._html = _environment(templates, autoescape=True)
        self._text_template = self._text.get_template(f"{config.message.template}.txt.j2")
        self._html_template = self._html.get_template(f"{config.message.template}.html.j2")
        # compiled once per run: compiling a variant's strings for every message cost ~7x the rendering
        self._variants = {
            v.name: tuple(self._text.from_string(part) for part in (v.subject, v.preheader, v.intro))
            for v in config.message.variants
        }
        self._llm_failures_in_a_row = 0

    @property
    def domain(self) -> str:
        return self.email.from_address.rsplit("@", 1)[1]

    def _context(self, facts: CustomerFacts) -> dict[str, object]:
        return {
            "customer": facts,
            "products": facts.products,
            "product_basis": product_basis(facts.products),
            "shop": self.email.from_name or self.domain,
            "campaign": {"name": self.config.name, "description": self.config.description},
            "language": self.config.message.language,
        }

    def template_copy(self, facts: CustomerFacts, variant_name: str) -> Draft:
        """The variant's own subject, preheader and intro for this customer."""
        context = self._context(facts)
        return Draft(*(part.render(context) for part in self._variants[variant_name])).tidy()

    def _uses_llm(self, variant: str) -> bool:
        llm = self.config.message.llm
        return llm.enabled and (not llm.variants or variant in llm.variants)

    def prepare(self, messages: Iterable[tuple[CustomerFacts, str]]) -> None:
        """Let the copywriter draft, at once, the copy of the (facts, variant) messages about to be
        rendered whose variant it writes (the embedded model batches its prompts)."""
        if self.copywriter is not None:
            self.copywriter.prepare(facts for facts, variant in messages if self._uses_llm(variant))

    def _llm_copy(self, facts: CustomerFacts, variant: str, template_copy: Draft) -> tuple[Draft, str]:
        """(copy, copy_source): the LLM's copy if it passes the guardrails, else the template's."""
        llm = self.config.message.llm
        if not self._uses_llm(variant):
            return template_copy, "template"
        if self.copywriter is None:
            return template_copy, "template_fallback:llm_not_configured"
        if self._llm_failures_in_a_row >= llm.stop_after_failures:
            return template_copy, "template_fallback:circuit_open"
        try:
            draft = self.copywriter.write(facts, template_copy)
        except CopywriterError as exc:
            self._llm_failures_in_a_row += 1
            return template_copy, f"template_fallback:{exc.reason}"[:64]
        violations = check_copy(
            draft,
            facts.products,
            max_subject_chars=llm.max_subject_chars,
            max_preheader_chars=llm.max_preheader_chars,
            max_intro_chars=llm.max_intro_chars,
            banned_phrases=llm.banned_phrases,
            language=self.config.message.language,
        )
        self._llm_failures_in_a_row = 0  # it answered: a refused draft is about this customer's copy
        if violations:
            return template_copy, f"template_fallback:guardrail:{violations[0].rule}"[:64]
        return draft.tidy(), "llm"

    def render(self, facts: CustomerFacts, variant_name: str, message_id: str) -> RenderedMessage:
        context = self._context(facts)
        template_copy = self.template_copy(facts, variant_name)
        copy, source = self._llm_copy(facts, variant_name, template_copy)
        link = unsubscribe_url(self.email.unsubscribe_url, message_id)
        full = {**context, "subject": copy.subject, "preheader": copy.preheader, "intro": copy.intro, "unsubscribe_url": link}
        body_text = self._text_template.render(full)
        body_html = self._html_template.render(full)
        if not has_unsubscribe_link(body_text, body_html, link):
            raise TemplateProblem(
                f"template {self.config.message.template!r} must show {{{{ unsubscribe_url }}}} in both parts"
            )
        return RenderedMessage(facts.customer_id, variant_name, copy.subject, body_text, body_html, source, message_id, link)
