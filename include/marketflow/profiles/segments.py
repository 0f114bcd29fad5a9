"""RFM scores and named segments: the whole rule set, in one table.

Scores (1 = worst, 5 = best) are quintiles within one snapshot (one as-of date, all its customers):
`score = 1 + floor(5 * worse / customers)`, where `worse` counts the customers with a strictly worse
value (more days since the last purchase; fewer purchases; less net spend). Tied customers always
share a score, and customers tied at the worst value always score 1 however many they are (about
40% of customers bought once: they all get frequency score 1, and the next value starts at 3). On
a date when everyone ties (the first day of the history), everyone scores 1.

A segment is decided by the recency score R and the frequency score F only (monetary correlates
with frequency and is kept as a score for ranking). The rules below partition the 5 x 5 grid:
every (R, F) pair matches exactly one rule (a test checks it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from sqlalchemy import ColumnElement, and_, case


@dataclass(frozen=True)
class SegmentRule:
    """Customers whose R and F scores fall in both inclusive ranges belong to `segment`."""

    segment: str
    recency: tuple[int, int]
    frequency: tuple[int, int]
    meaning: str

    def matches(self, r_score: int, f_score: int) -> bool:
        return self.recency[0] <= r_score <= self.recency[1] and self.frequency[0] <= f_score <= self.frequency[1]


SEGMENT_RULES: tuple[SegmentRule, ...] = (
    SegmentRule("champions", (5, 5), (4, 5), "bought very recently and buy often"),
    SegmentRule("loyal", (3, 4), (4, 5), "buy often and bought fairly recently"),
    SegmentRule("potential_loyalist", (4, 5), (2, 3), "recent customers on their second or third purchase"),
    SegmentRule("new", (5, 5), (1, 1), "first purchase very recently"),
    SegmentRule("promising", (4, 4), (1, 1), "first purchase recently"),
    SegmentRule("need_attention", (3, 3), (3, 3), "middling recency and frequency"),
    SegmentRule("about_to_sleep", (3, 3), (1, 2), "one or two purchases, a while ago"),
    SegmentRule("cant_lose", (1, 2), (5, 5), "used to buy the most, not seen for a long time"),
    SegmentRule("at_risk", (1, 2), (3, 4), "bought regularly, but long ago"),
    SegmentRule("hibernating", (2, 2), (1, 2), "one or two purchases, long ago"),
    SegmentRule("lost", (1, 1), (1, 2), "one or two purchases, longest ago"),
)

SEGMENTS: tuple[str, ...] = tuple(rule.segment for rule in SEGMENT_RULES)


def quintile_score(values: pd.Series, higher_is_better: bool = True) -> pd.Series:
    """1..5 from the share of values strictly worse than each one (ties share a score)."""
    if values.empty:
        return pd.Series([], index=values.index, dtype=int)
    worse = values.rank(method="min", ascending=higher_is_better).to_numpy() - 1
    scores = 1 + np.floor(5 * worse / len(values)).astype(int)
    return pd.Series(np.clip(scores, 1, 5), index=values.index)


def quintile_score_sql(worse: ColumnElement[int], customers: ColumnElement[int]) -> ColumnElement[int]:
    """`quintile_score` in SQL, from `worse` = RANK() - 1 over the day's customers ordered worst
    first, and the day's customer count (integer division is the floor; 5 * worse < 5 * customers,
    so the score never exceeds 5)."""
    return 1 + (5 * worse) // customers


def segment_sql(r_score: ColumnElement[int], f_score: ColumnElement[int]) -> ColumnElement[str]:
    """`segment_for` in SQL: the same rules, tried in the same order."""
    return case(
        *(
            (and_(r_score.between(*rule.recency), f_score.between(*rule.frequency)), rule.segment)
            for rule in SEGMENT_RULES
        )
    )


def segment_for(r_score: int, f_score: int) -> str:
    """The segment of one (R, F) pair; raises if the rule table leaves it uncovered."""
    for rule in SEGMENT_RULES:
        if rule.matches(r_score, f_score):
            return rule.segment
    raise ValueError(f"no segment rule covers R={r_score}, F={f_score}")


_GRID = {(r, f): segment_for(r, f) for r in range(1, 6) for f in range(1, 6)}


def score_and_segment(facts: pd.DataFrame) -> pd.DataFrame:
    """r_score, f_score, m_score and segment for customer facts (recency_days, frequency, monetary)."""
    scores = pd.DataFrame(
        {
            "r_score": quintile_score(facts["recency_days"], higher_is_better=False),
            "f_score": quintile_score(facts["frequency"]),
            "m_score": quintile_score(facts["monetary"]),
        },
        index=facts.index,
    )
    scores["segment"] = [_GRID[(r, f)] for r, f in zip(scores["r_score"], scores["f_score"], strict=True)]
    return scores
