"""Guardrails for machine-written copy: checked against the catalogue facts we gave, never trusted.

Rules (first failing rule is the recorded reason):
- `empty` / `subject_too_long` / `intro_too_long`: length limits from the campaign file;
- `banned_phrase`: spam-trigger and over-promising phrases (defaults + the campaign's list);
- `link_or_markup`: no URLs, e-mail addresses or HTML in copy: every link comes from our template;
- `unknown_product`: a product named in double quotes must be one of the customer's products;
- `price_mismatch`: every amount of money must be the catalogue price of one of those products.
The unsubscribe link is required of every finished message (`has_unsubscribe_link`), whoever wrote it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from marketflow.copy.facts import ProductFact

DEFAULT_BANNED_PHRASES = (
    "act now",
    "guaranteed",
    "risk-free",
    "risk free",
    "100% free",
    "click here",
    "you are a winner",
    "no obligation",
    "limited time only",
    "cash bonus",
    "miracle",
)

_MONEY = re.compile(r"(?:£|GBP\s?)\s?(\d{1,3}(?:,\d{3})*(?:\.\d{1,2})?|\d+(?:\.\d{1,2})?)", re.IGNORECASE)
_BARE_AMOUNT = re.compile(r"(?<![\w.,£])(\d+\.\d{2})(?![\w.])")  # "only 9.99": a price without its sign
_QUOTED = re.compile(r"[\"“”]([^\"“”]{2,120})[\"“”]")
_LINK_OR_MARKUP = re.compile(r"https?://|www\.|<[a-z/!]|[\w.+-]+@[\w-]+\.[\w.]+", re.IGNORECASE)


@dataclass(frozen=True)
class Violation:
    rule: str
    detail: str


def _normalise_name(name: str) -> str:
    return " ".join(name.lower().split())


def check_copy(
    subject: str,
    intro: str,
    products: Iterable[ProductFact],
    *,
    max_subject_chars: int,
    max_intro_chars: int,
    banned_phrases: Iterable[str] = (),
) -> list[Violation]:
    """Every rule the copy breaks (empty list: acceptable)."""
    offered = list(products)
    violations: list[Violation] = []
    if not subject.strip() or not intro.strip():
        violations.append(Violation("empty", "subject and intro must both have text"))
    if len(subject) > max_subject_chars:
        violations.append(Violation("subject_too_long", f"{len(subject)} > {max_subject_chars} characters"))
    if len(intro) > max_intro_chars:
        violations.append(Violation("intro_too_long", f"{len(intro)} > {max_intro_chars} characters"))
    text = f"{subject}\n{intro}"
    lowered = text.lower()
    for phrase in (*DEFAULT_BANNED_PHRASES, *banned_phrases):
        if re.search(rf"(?<!\w){re.escape(phrase.lower())}(?!\w)", lowered):
            violations.append(Violation("banned_phrase", phrase))
    if match := _LINK_OR_MARKUP.search(text):
        violations.append(Violation("link_or_markup", match.group(0)))
    names = {_normalise_name(p.name) for p in offered}
    for quoted in _QUOTED.findall(text):
        if _normalise_name(quoted) not in names:
            violations.append(Violation("unknown_product", quoted))
    prices = {round(p.price, 2) for p in offered}
    for amount in _MONEY.findall(text) + _BARE_AMOUNT.findall(text):
        if round(float(amount.replace(",", "")), 2) not in prices:
            violations.append(Violation("price_mismatch", amount))
    return violations


def has_unsubscribe_link(body_text: str, body_html: str, unsubscribe_url: str) -> bool:
    """Both parts must carry the link (the HTML part with `&` escaped as `&amp;` is accepted)."""
    escaped = unsubscribe_url.replace("&", "&amp;")
    return unsubscribe_url in body_text and (unsubscribe_url in body_html or escaped in body_html)
