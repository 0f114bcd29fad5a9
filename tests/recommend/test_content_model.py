"""The content model and the item texts it reads: descriptions travel from orders to `History`, and
a customer's purchases pull items with similar descriptions up."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import pytest
import torch

from marketflow.recommend import models
from marketflow.recommend.interactions import History, normalise_frame, purchases_to_interactions
from marketflow.recommend.params import RecommenderParams

MUGS = {"mug-red": "RED CERAMIC MUG", "mug-blue": "blue ceramic mug", "mug-green": "green ceramic coffee mug"}
XMAS = {"star": "silver christmas star", "bauble": "gold christmas bauble", "tree": "christmas tree decoration"}
DAY = pd.Timestamp("2024-01-01")


def _history() -> History:
    """Customer a bought two mugs, b a christmas star, c only "no-text", which has no description;
    z bought every item once (an item's text comes with its purchases)."""
    texts = {**MUGS, **XMAS, "no-text": None}
    rows = [("a", "mug-red", 0), ("a", "mug-blue", 5), ("b", "star", 3), ("c", "no-text", 4)]
    frame = pd.DataFrame(rows + [("z", item, 1) for item in texts], columns=["user", "item", "day"])
    frame = frame.assign(timestamp=DAY + pd.to_timedelta(frame.pop("day"), unit="D"), text=frame["item"].map(texts))
    return History.from_frame(frame, item_ids=np.array(sorted(texts), dtype=object), as_of=DAY + pd.Timedelta(days=7))


@pytest.fixture(scope="module")
def fitted() -> tuple[History, models.Component]:
    history = _history()
    component = models.build("content", RecommenderParams(device="cpu"), torch.device("cpu"))
    component.fit(history)
    return history, component


def _scores(fitted: tuple[History, models.Component], user: str) -> dict[str, float]:
    history, component = fitted
    row = history.positions_of(np.array([user]))
    return dict(zip(history.item_ids, component.score(history, row)[0].tolist(), strict=True))


def test_a_mug_buyer_gets_the_unbought_mug_before_any_christmas_item(fitted: tuple[History, models.Component]) -> None:
    scores = _scores(fitted, "a")
    assert scores["mug-green"] > max(scores[item] for item in XMAS)


def test_the_item_with_the_same_words_ranks_nearest(fitted: tuple[History, models.Component]) -> None:
    scores = _scores(fitted, "b")  # bought the star only
    del scores["star"]
    assert max(scores, key=scores.__getitem__) in {"bauble", "tree"}


def test_items_without_text_score_zero_and_their_buyers_get_zeros(fitted: tuple[History, models.Component]) -> None:
    assert _scores(fitted, "a")["no-text"] == 0.0
    assert set(_scores(fitted, "c").values()) == {0.0}


def test_the_state_round_trips_through_a_weights_only_load(fitted: tuple[History, models.Component]) -> None:
    history, component = fitted
    buffer = io.BytesIO()
    torch.save(component.state(), buffer)
    buffer.seek(0)
    loaded = models.build("content", RecommenderParams(device="cpu"), torch.device("cpu"))
    loaded.load_state(torch.load(buffer, weights_only=True))
    rows = np.arange(history.n_users)
    np.testing.assert_array_equal(loaded.score(history, rows), component.score(history, rows))


def test_a_table_without_text_scores_zero_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    """The default blend includes content; a ratings table has no descriptions: it must still fit."""
    history = History.from_frame(pd.DataFrame({"user": ["a", "a"], "item": ["x", "y"], "timestamp": [DAY, DAY]}))
    assert history.item_text is None
    component = models.build("content", RecommenderParams(device="cpu"), torch.device("cpu"))
    with caplog.at_level("WARNING"):
        component.fit(history)
    assert "no 'text' column" in caplog.text
    assert not component.score(history, np.arange(history.n_users)).any()


def test_the_latest_non_empty_text_of_each_item_reaches_history() -> None:
    frame = pd.DataFrame(
        {
            "user": ["a", "b", "c", "a"],
            "item": ["x", "x", "x", "y"],
            "timestamp": [DAY, DAY + pd.Timedelta(days=2), DAY + pd.Timedelta(days=1), DAY],
            "text": ["old name", None, "new name", np.nan],
        }
    )
    normalised = normalise_frame(frame)
    assert normalised["text"].isna().tolist() == [False, True, False, True]
    assert History.from_frame(frame).item_text.tolist() == ["new name", ""]
    # with a fitted vocabulary: items absent from the table get ""
    vocabulary = np.array(["x", "y", "z"], dtype=object)
    assert History.from_frame(frame, item_ids=vocabulary).item_text.tolist() == ["new name", "", ""]


def test_order_descriptions_become_the_interactions_text() -> None:
    orders = pd.DataFrame(
        {
            "customer_id": ["1", "2"],
            "stock_code": ["A", "POST"],
            "description": ["WHITE MUG", "POSTAGE"],
            "invoice_ts": [DAY, DAY],
            "quantity": [1, 1],
            "is_return": [False, False],
        }
    )
    interactions = purchases_to_interactions(orders, service_codes=["POST"])
    assert interactions["text"].tolist() == ["WHITE MUG"]
    assert "text" not in purchases_to_interactions(orders.drop(columns="description"))
