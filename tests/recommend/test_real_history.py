"""Metric floors on the real shop: fit on purchases up to 2011-09-30, evaluate on October 2011.

Small models (FAST_FIXED) keep this under a minute; the full-size comparison with the peers is
bench/recommender. The floors sit a little under what this configuration reaches, so a regression
in encoding, a model or the blend fails here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from marketflow.recommend.blend import Recommender
from marketflow.recommend.evaluate import HoldoutTask
from marketflow.recommend.interactions import split_at
from marketflow.recommend.params import RecommenderParams
from tests.recommend.conftest import FAST_FIXED

pytestmark = pytest.mark.real_data

AS_OF, TEST_END = "2011-10-01", "2011-11-01"


@pytest.fixture(scope="module")
def october(real_purchases: pd.DataFrame) -> tuple[Recommender, HoldoutTask]:
    train, test = split_at(real_purchases, AS_OF, TEST_END)
    model = Recommender.fit(train, RecommenderParams.model_validate(FAST_FIXED), as_of=AS_OF)
    return model, HoldoutTask(model.history(train, as_of=AS_OF), test)


def test_the_blend_clears_its_floors_and_beats_the_simple_baselines(october: tuple[Recommender, HoldoutTask]) -> None:
    model, task = october
    blend = task.evaluate(model.score)
    own_most_bought = task.evaluate(lambda h, rows: h.matrix(np.ones_like(h.weight))[rows].toarray())
    popularity = task.evaluate(model.components["popularity"].score)
    ease = task.evaluate(model.components["ease"].score)
    assert blend["all"]["ndcg@10"] >= 0.30 and blend["new"]["ndcg@10"] >= 0.09
    for baseline in (own_most_bought, popularity, ease):
        assert blend["all"]["ndcg@10"] > baseline["all"]["ndcg@10"]
        assert blend["new"]["ndcg@10"] > baseline["new"]["ndcg@10"]
    assert blend["all"]["customers"] > 900 and task.cold_start_customers > 0


def test_no_purchase_on_or_after_the_as_of_date_reaches_the_model(
    october: tuple[Recommender, HoldoutTask], real_purchases: pd.DataFrame
) -> None:
    model, _ = october
    assert model.fitted_as_of == pd.Timestamp(AS_OF)
    october_only = set(real_purchases.loc[real_purchases["timestamp"] >= AS_OF, "item"]) - set(
        real_purchases.loc[real_purchases["timestamp"] < AS_OF, "item"]
    )
    assert october_only and not october_only & set(model.item_ids)
