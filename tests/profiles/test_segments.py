"""RFM quintile scores and the segment rule table, rule by rule."""

from __future__ import annotations

import pandas as pd
import pytest

from marketflow.profiles.segments import SEGMENT_RULES, SEGMENTS, quintile_score, score_and_segment, segment_for


def test_every_rf_cell_is_covered_by_exactly_one_rule() -> None:
    for r in range(1, 6):
        for f in range(1, 6):
            matching = [rule.segment for rule in SEGMENT_RULES if rule.matches(r, f)]
            assert len(matching) == 1, (r, f, matching)


def test_the_issue_names_are_all_segments() -> None:
    for name in ("champions", "loyal", "potential_loyalist", "new", "at_risk", "cant_lose", "hibernating", "lost"):
        assert name in SEGMENTS


@pytest.mark.parametrize(
    ("segment", "cells"),
    [
        ("champions", {(5, 4), (5, 5)}),
        ("loyal", {(3, 4), (3, 5), (4, 4), (4, 5)}),
        ("potential_loyalist", {(4, 2), (4, 3), (5, 2), (5, 3)}),
        ("new", {(5, 1)}),
        ("promising", {(4, 1)}),
        ("need_attention", {(3, 3)}),
        ("about_to_sleep", {(3, 1), (3, 2)}),
        ("cant_lose", {(1, 5), (2, 5)}),
        ("at_risk", {(1, 3), (1, 4), (2, 3), (2, 4)}),
        ("hibernating", {(2, 1), (2, 2)}),
        ("lost", {(1, 1), (1, 2)}),
    ],
)
def test_rule_covers_exactly_its_cells(segment: str, cells: set[tuple[int, int]]) -> None:
    covered = {(r, f) for r in range(1, 6) for f in range(1, 6) if segment_for(r, f) == segment}
    assert covered == cells


def test_quintile_score_splits_distinct_values_into_fifths() -> None:
    scores = quintile_score(pd.Series(range(100)))
    assert scores.value_counts().sort_index().tolist() == [20, 20, 20, 20, 20]
    assert scores.iloc[0] == 1 and scores.iloc[-1] == 5


def test_lower_is_better_scores_the_smallest_value_highest() -> None:
    scores = quintile_score(pd.Series([0, 10, 20, 30, 40]), higher_is_better=False)
    assert scores.tolist() == [5, 4, 3, 2, 1]


def test_tied_values_share_a_score_and_the_worst_tie_scores_one_however_large() -> None:
    values = pd.Series([1] * 45 + [2] * 20 + list(range(3, 38)))
    scores = quintile_score(values)
    assert set(scores[values == 1]) == {1}
    assert set(scores[values == 2]) == {3}  # 45% are strictly worse
    assert scores[values == 37].iloc[0] == 5
    assert quintile_score(pd.Series([7, 7, 7])).tolist() == [1, 1, 1]


def test_score_and_segment_puts_recent_frequent_buyers_in_champions_and_old_one_off_buyers_in_lost() -> None:
    facts = pd.DataFrame(
        {
            "recency_days": [1, 2, 0, 4, 5, 100, 200, 300, 301, 302],
            "frequency": [30, 25, 1, 20, 15, 10, 1, 1, 1, 1],
            "monetary": [900, 800, 10, 700, 600, 500, 20, 30, 40, 50],
        },
        index=[f"c{i}" for i in range(10)],
    )
    result = score_and_segment(facts)
    assert result.loc["c0", "segment"] == "champions"
    assert result.loc["c2", "segment"] == "new"
    assert result.loc["c9", "segment"] == "lost"
    assert result.loc["c0", "m_score"] == 5 and result.loc["c2", "m_score"] == 1
