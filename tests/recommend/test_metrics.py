"""The evaluation's definitions on a case small enough to check by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from marketflow.recommend.evaluate import HoldoutTask, top_k
from marketflow.recommend.interactions import History

ITEMS = ["A", "B", "C", "D", "E"]


def frame(rows: list[tuple[str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["user", "item", "timestamp"])


@pytest.fixture
def task() -> HoldoutTask:
    history = History.from_frame(
        frame([("u1", "A", "2024-01-02"), ("u1", "B", "2024-01-03"), ("u2", "C", "2024-01-05"), ("u4", "D", "2024-01-06")]),
        item_ids=np.array(ITEMS, dtype=object),
        as_of="2024-02-01",
    )
    holdout = frame(
        [
            ("u1", "A", "2024-02-03"),  # a repeat purchase
            ("u1", "D", "2024-02-04"),  # new to u1
            ("u2", "E", "2024-02-05"),
            ("u2", "Z", "2024-02-05"),  # outside the catalogue: relevant, never reachable
            ("u3", "A", "2024-02-06"),  # cold start: no history, counted but not scored
            ("u4", "D", "2024-02-07"),  # only a repeat: in "all", not in "new"
        ]
    )
    return HoldoutTask(history, holdout)


def test_top_k_orders_best_first_and_breaks_ties_by_position() -> None:
    scores = np.array([[0.1, 0.9, 0.5, 0.9, 0.0]])
    assert top_k(scores, 3).tolist() == [[1, 3, 2]]


def test_customers_are_those_with_history_and_cold_start_ones_are_counted(task: HoldoutTask) -> None:
    assert task.customers_in_holdout == 4
    assert task.cold_start_customers == 1
    assert [task.history.user_ids[r] for r in task.rows] == ["u1", "u2", "u4"]


def test_metrics_in_both_variants_follow_the_documented_definitions(task: HoldoutTask) -> None:
    # rows u1, u2, u4; columns A B C D E
    scores = np.array(
        [
            [0.9, 0.1, 0.8, 0.7, 0.0],  # u1: A C D B E
            [0.5, 0.0, 0.1, 0.2, 0.9],  # u2: E A D C B
            [0.0, 0.0, 0.0, 0.9, 0.1],  # u4: D E A B C
        ]
    )
    got = task.evaluate_scores(scores, k=2)
    log2 = math.log2
    # all: u1 top2 [A, C] relevant {A, D}; u2 [E, A] relevant {E, Z}; u4 [D, E] relevant {D}
    ndcg_u1 = 1 / (1 + 1 / log2(3))
    ndcg_u2 = 1 / (1 + 1 / log2(3))
    assert got["all"]["ndcg@2"] == pytest.approx((ndcg_u1 + ndcg_u2 + 1.0) / 3)
    assert got["all"]["recall@2"] == pytest.approx((1 / 2 + 1 / 2 + 1) / 3)
    assert got["all"]["hitrate@2"] == 1.0
    assert got["all"]["coverage"] == pytest.approx(4 / 5)  # A C D E
    assert got["all"]["customers"] == 3
    # new: bought items are removed from the ranking; u4 has nothing new and is left out
    # u1 ranks C D E -> top2 [C, D], relevant {D}; u2 ranks E A D B -> [E, A], relevant {E, Z}
    assert got["new"]["customers"] == 2
    assert got["new"]["ndcg@2"] == pytest.approx(((1 / log2(3)) / 1 + 1 / (1 + 1 / log2(3))) / 2)
    assert got["new"]["recall@2"] == pytest.approx((1 + 1 / 2) / 2)
    assert got["new"]["coverage"] == pytest.approx(4 / 5)  # C D E A


def test_a_perfect_ranking_loses_only_what_is_outside_the_catalogue(task: HoldoutTask) -> None:
    perfect = np.array([[1.0, 0, 0, 0.9, 0], [0, 0, 0, 0, 1.0], [0, 0, 0, 1.0, 0]])
    # u1 finds D first among new items (1.0); u2 finds E but Z can never be shown
    assert task.evaluate_scores(perfect, k=2)["new"]["ndcg@2"] == pytest.approx((1.0 + 1 / (1 + 1 / math.log2(3))) / 2)
    reversed_ = -perfect
    assert task.evaluate_scores(reversed_, k=2)["all"]["ndcg@2"] < task.evaluate_scores(perfect, k=2)["all"]["ndcg@2"]
