"""Guardrails for machine-written copy: checked against the catalogue facts we gave, never trusted.

Rules (first failing rule is the recorded reason):
- `empty` / `subject_too_long` / `intro_too_long`: length limits from the campaign file;
- `banned_phrase`: spam-trigger and over-promising phrases (defaults + the campaign's list);
- `link_or_markup`: no URLs, e-mail addresses or HTML in copy: every link comes from our template;
- `placeholder`: template slots a model left unfilled ("[Customer's Name]", "{name}");
- `invented_offer`: discounts, deals, offers, rewards, loyalty schemes, percentages off, codes,
  vouchers, free delivery: we never offer one unless the campaign's own template does;
- `invented_date`: deadlines, dates, years and holidays ("ends Friday", "until 3 May", "our summer
  collection of 2018", "for Christmas"): copy makes no claim about time;
- `unknown_product`: a product named in double quotes must be one of the customer's products;
- `product_name_changed`: part of a product's catalogue name (two words in a row) without the
  whole name: the model paraphrased it, and the reader could not find it in the shop;
- `price_mismatch`: every amount of money must be the catalogue price of one of those products;
- `not_english`: the copy must read as English, the campaigns' language (common English words make
  up at least a sixth of it).
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
    r"|last chance|hurry|today only|\d{1,2}(?:st|nd|rd|th)|christmas|easter"
    r"|black friday|(?:19|20)\d{2})\b|\b\d{1,2}/\d{1,2}(?:/\d{2,4})?\b",
    re.IGNORECASE,
)
_WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")
#: Common English words: at least a sixth of any English sentence is made of them.
_ENGLISH = frozenset(
    "a about all an and are as at be but by can do for from have here hope i if in is it its just like more "
    "my new no not of on or our out so some that the their them these they this to up us we what when which "
    "who will with you your".split()
)


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
    if match := _PLACEHOLDER.search(text):
        violations.append(Violation("placeholder", match.group(0)))
    if match := _OFFER.search(text):
        violations.append(Violation("invented_offer", match.group(0)))
    if match := _DATE.search(text):
        violations.append(Violation("invented_date", match.group(0)))
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
    words = [word.lower() for word in _WORD.findall(text)]
    if len(words) >= 4 and sum(word in _ENGLISH for word in words) < len(words) / 6:
        violations.append(Violation("not_english", " ".join(words[:8])))
    return violations


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
