"""Guardrails for machine-written copy: checked against the catalogue facts we gave, never trusted.

Rules (first failing rule is the recorded reason):
- `empty` / `subject_too_long` / `preheader_too_long` / `intro_too_long`: length limits from the
  campaign file (an empty preheader is allowed: the inbox then shows the intro);
- `banned_phrase`: spam-trigger and over-promising phrases (defaults + the campaign's list);
- `link_or_markup`: no URLs, e-mail addresses or HTML in copy: every link comes from our template;
- `placeholder`: template slots a model left unfilled ("[Customer's Name]", "{name}");
- `invented_offer`: discounts, deals, offers, rewards, loyalty schemes, percentages off, codes,
  vouchers, free delivery: we never offer one unless the campaign's own template does;
- `invented_date`: deadlines, dates, years, holidays and "today" ("ends Friday", "until 3 May", "our
  summer collection of 2018", "for Christmas", "added this week"): copy makes no claim about time;
- `off_voice`: the shop speaks as "we" to "you": no "I", "my", "the customer", apologies or refusals
  (a small model's drafts did all of these on the demo's customers);
- `unknown_product`: a product named in double quotes must be one of the customer's products;
- `product_name_changed`: part of a product's catalogue name (two words in a row) without the
  whole name: the model paraphrased it, and the reader could not find it in the shop;
- `price_mismatch`: every amount of money must be the catalogue price of one of those products;
- `wrong_language`: the copy must be in the campaign's language, as `py3langid` (a naive Bayes
  model over byte n-grams, choosing among `LANGUAGES`) reads subject, preheader and intro together,
  with the catalogue's product names taken out (they are English whatever the campaign's language).
The unsubscribe link is required of every finished message (`has_unsubscribe_link`), whoever wrote it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from marketflow.copy.draft import LANGUAGES, Draft
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
_PLACEHOLDER = re.compile(r"\[[^\]]{1,60}\]|\{[^}]{1,60}\}|\bplaceholder\b", re.IGNORECASE)
_OFFER = re.compile(
    r"\d+\s?%|\bper\s?cent\b|\bdiscount|\bcoupon|\bvoucher|\bpromo(?:tion|tional)?\b|\bcode\b|\bsale\b"
    r"|\bdeals?\b|\bbargains?\b|\bclearance\b|\bsav(?:e|ings)\b|\boffers?\b|\brewards?\b|\bloyalty\b|\bredeem"
    r"|\bfree\s+(?:shipping|delivery|gift|postage)|\b(?:half|\d+)\s+price\b|\bbogo\b|\b\w+\s+off\b(?=\s+(?:your|all|every))",
    re.IGNORECASE,
)
_DATE = re.compile(
    r"\b(?:monday|tuesday|wednesday|thursday|friday|saturday|sunday|january|february|march|april|june|july"
    r"|august|september|october|november|december|tomorrow|tonight|weekend|deadline|expires?|ends?|until"
    r"|last chance|hurry|today|this week|next week|this season|upcoming|\d{1,2}(?:st|nd|rd|th)|christmas|easter"
    r"|black friday|(?:19|20)\d{2})\b|\b\d{1,2}/\d{1,2}(?:/\d{2,4})?\b",
    re.IGNORECASE,
)
_OFF_VOICE = re.compile(
    r"\b(?:i|i'm|i'd|i've|i'll|me|my|mine|the customers?|sorry|apologi[sz]e|can't help|cannot help|unable to"
    r"|as an ai)\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
#: Fewer words than this cannot be told apart reliably ("Hi", "Regency Cakestand"): not judged.
MIN_WORDS_FOR_LANGUAGE = 4


@dataclass(frozen=True)
class Violation:
    rule: str
    detail: str


def _normalise_name(name: str) -> str:
    return " ".join(name.lower().split())


def check_copy(
    draft: Draft,
    products: Iterable[ProductFact],
    *,
    max_subject_chars: int,
    max_preheader_chars: int,
    max_intro_chars: int,
    banned_phrases: Iterable[str] = (),
    language: str = "en",
) -> list[Violation]:
    """Every rule the copy breaks (empty list: acceptable)."""
    offered = list(products)
    violations: list[Violation] = []
    if not draft.subject.strip() or not draft.intro.strip():
        violations.append(Violation("empty", "subject and intro must both have text"))
    for part, limit in (("subject", max_subject_chars), ("preheader", max_preheader_chars), ("intro", max_intro_chars)):
        if len(getattr(draft, part)) > limit:
            violations.append(Violation(f"{part}_too_long", f"{len(getattr(draft, part))} > {limit} characters"))
    text = f"{draft.subject}\n{draft.preheader}\n{draft.intro}"
    lowered = text.lower()
    for phrase in (*DEFAULT_BANNED_PHRASES, *banned_phrases):
        if re.search(rf"(?<!\w){re.escape(phrase.lower())}(?!\w)", lowered):
            violations.append(Violation("banned_phrase", phrase))
    if match := _LINK_OR_MARKUP.search(text):
        violations.append(Violation("link_or_markup", match.group(0)))
    if match := _PLACEHOLDER.search(text):
        violations.append(Violation("placeholder", match.group(0)))
    if match := _OFFER.search(text):
        violations.append(Violation("invented_offer", match.group(0)))
    if match := _DATE.search(text):
        violations.append(Violation("invented_date", match.group(0)))
    if match := _OFF_VOICE.search(text.replace("’", "'")):
        violations.append(Violation("off_voice", match.group(0)))
    names = {_normalise_name(p.name) for p in offered}
    for quoted in _QUOTED.findall(text):
        if _normalise_name(quoted) not in names:
            violations.append(Violation("unknown_product", quoted))
    if changed := _changed_product_name(text, offered):
        violations.append(Violation("product_name_changed", changed))
    prices = {round(p.price, 2) for p in offered}
    for amount in _MONEY.findall(text) + _BARE_AMOUNT.findall(text):
        if round(float(amount.replace(",", "")), 2) not in prices:
            violations.append(Violation("price_mismatch", amount))
    if (detected := _language_of(text, offered)) not in (None, language):
        violations.append(Violation("wrong_language", f"reads as {LANGUAGES.get(detected, detected)}"))
    return violations


@lru_cache(maxsize=1)
def _identifier() -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE)
    identifier.set_languages(sorted(LANGUAGES))
    return identifier


def _language_of(text: str, products: list[ProductFact]) -> str | None:
    """The language the text is written in, judged without the product names (None: too short to say)."""
    for product in products:
        text = re.sub(re.escape(product.name), " ", text, flags=re.IGNORECASE)
    if len(_WORD.findall(text)) < MIN_WORDS_FOR_LANGUAGE:
        return None
    return str(_identifier().classify(text)[0])


def _changed_product_name(text: str, products: list[ProductFact]) -> str | None:
    """The first product whose name is mentioned only in part (two of its words in a row)."""
    normalised = _normalise_name(re.sub(r"[\"“”]", " ", text))
    for product in products:
        name = _normalise_name(product.name)
        if name in normalised:
            continue
        words = [w for w in name.split() if len(w) > 2]
        for first, second in zip(words, words[1:]):
            if re.search(rf"(?<!\w){re.escape(first)}\s+{re.escape(second)}(?!\w)", normalised):
                return product.name
    return None


def has_unsubscribe_link(body_text: str, body_html: str, unsubscribe_url: str) -> bool:
    """Both parts must carry the link (the HTML part with `&` escaped as `&amp;` is accepted)."""
    escaped = unsubscribe_url.replace("&", "&amp;")
    return unsubscribe_url in body_text and (unsubscribe_url in body_html or escaped in body_html)
