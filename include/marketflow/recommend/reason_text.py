"""The reasons the recommender writes beside each pick, and what each claims (no heavy imports: the
campaigns' copy reads this to describe a list of picks truthfully)."""

from __future__ import annotations

BOUGHT_OFTEN = "you buy this often"
BOUGHT_BEFORE = "you bought this before"
BOUGHT_WITH = "bought with "
#: What a reason says the pick is based on; messages describe a list of picks only by the basis
#: all of them share (`copy.facts.ProductFact.basis`).
REPEAT, ASSOCIATED, POPULAR = "repeat", "bought_with", "popular"


def popularity_reason(window_days: int) -> str:
    if 0 < window_days <= 7:
        return "popular this week"
    if 0 < window_days <= 31:
        return "popular this month"
    return "a bestseller"


def basis_of(reason: str) -> str | None:
    """`repeat` (the customer bought it), `bought_with` (goes with something they bought), `popular`,
    or None for a reason this module did not write."""
    if reason in (BOUGHT_OFTEN, BOUGHT_BEFORE):
        return REPEAT
    if reason.startswith(BOUGHT_WITH):
        return ASSOCIATED
    if reason in (popularity_reason(7), popularity_reason(31), popularity_reason(0)):
        return POPULAR
    return None
