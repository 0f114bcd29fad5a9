"""The tuning split is chosen from the data: a temporal window for a shop, a per-customer random
hold-out for a table without usable time order, and each split keeps the two parts apart."""

from __future__ import annotations

import pandas as pd
import pytest

from marketflow.recommend.blend import Recommender
from marketflow.recommend.evaluate import HoldoutTask
from marketflow.recommend.params import RecommenderParams, ValidationParams
from marketflow.recommend.validation import choose_split, random_holdout
from tests.recommend.conftest import FAST, planted_interactions

AS_OF = pd.Timestamp("2024-05-20")  # the planted shop's 20 weeks end on 2024-05-19


def _without_time_order(frame: pd.DataFrame) -> pd.DataFrame:
    """Every interaction at the same moment, as in a table of ratings without dates."""
    return frame.assign(timestamp=pd.Timestamp("2024-01-01"))


def test_auto_takes_the_last_weeks_when_returning_customers_buy_in_them() -> None:
    split = choose_split(planted_interactions(), ValidationParams(), AS_OF, seed=1)
    assert split.description["kind"] == "temporal"
    assert split.description["returning_customers_in_window"] >= 200
    assert split.fit_part["timestamp"].max() < pd.Timestamp("2024-04-22") <= split.validation["timestamp"].min()


def test_auto_holds_out_items_at_random_when_the_window_has_too_few_returning_customers() -> None:
    frame = _without_time_order(planted_interactions())
    split = choose_split(frame, ValidationParams(), AS_OF, seed=1)
    assert split.description["kind"] == "random"
    assert split.description["returning_customers_in_window"] == 0
    assert split.description["validated_customers"] == frame["user"].nunique()
    with pytest.raises(ValueError, match="temporal split before 2024-05-20"):
        Recommender.fit(frame, RecommenderParams.model_validate({**FAST, "validation": {"kind": "temporal"}}), as_of=AS_OF)


def test_the_random_holdout_keeps_each_customers_items_apart_and_repeats_with_its_seed() -> None:
    frame = planted_interactions()
    fit_part, holdout = random_holdout(frame, 0.25, seed=3)
    assert len(fit_part) + len(holdout) == len(frame)
    pairs = lambda part: set(zip(part["user"], part["item"], strict=True))  # noqa: E731
    assert not pairs(fit_part) & pairs(holdout), "an item is held out with every purchase of it"
    per_user = frame.groupby("user")["item"].nunique()
    held = holdout.groupby("user")["item"].nunique().reindex(per_user.index, fill_value=0)
    assert (held >= 1).all() and (held < per_user).all(), "each customer keeps and holds out at least one item"
    assert ((held - 0.25 * per_user).abs() <= 0.5).all()
    again, _ = random_holdout(frame, 0.25, seed=3)
    other, _ = random_holdout(frame, 0.25, seed=4)
    assert again.equals(fit_part) and not other.equals(fit_part)


def test_a_blend_tuned_without_time_order_still_learns_the_planted_groups() -> None:
    """On a per-customer random split the tuned blend beats popularity on items new to the customer,
    and, having seen that held-out items are never ones the customer has, ranks those last: in the
    "all" variant it then beats each of its components alone, which re-rank what the customer has."""
    frame = _without_time_order(planted_interactions())
    train, test = random_holdout(frame, 0.25, seed=9)
    model = Recommender.fit(train, RecommenderParams.model_validate(FAST), as_of=AS_OF)
    assert model.training["tuning"]["kind"] == "random"
    assert model.seen_items == "last"
    # the ranker finds no window to learn from: it scores nothing, gets no weight, is not trained
    assert model.weights["ranker"] == 0 and "ranker" not in model.components
    task = HoldoutTask(model.history(train, as_of=AS_OF), test)
    blend = task.evaluate(model.score)
    alone = {name: task.evaluate(component.score) for name, component in model.components.items()}
    assert blend["new"]["ndcg@10"] > 2 * alone["popularity"]["new"]["ndcg@10"]
    assert blend["all"]["ndcg@10"] > max(metrics["all"]["ndcg@10"] for metrics in alone.values())
    ranked = model.recommend(train, k=5)
    bought = set(zip(train["user"], train["item"], strict=True))
    assert not any((user, item) in bought for user, item in zip(ranked["user"], ranked["item"], strict=True))


def test_a_shop_whose_customers_buy_again_keeps_their_items_in_the_ranking() -> None:
    model = Recommender.fit(planted_interactions(), RecommenderParams.model_validate(FAST), as_of=AS_OF)
    assert model.training["tuning"]["kind"] == "temporal"
    assert model.seen_items == model.training["tuning"]["seen_items"] == "rank"


def test_the_weekly_job_serves_what_the_library_fits_reusing_the_evaluation_models_components() -> None:
    """train.fit_and_evaluate: the serving model is `Recommender.fit` as of the day (same weights as
    a fit from scratch), its tuning reuses the evaluation model fitted right before the hold-out."""
    from marketflow.recommend.train import fit_and_evaluate

    frame = planted_interactions()
    params = RecommenderParams.model_validate(FAST)
    trained = fit_and_evaluate(frame, params, AS_OF.date())
    tuning = trained.serving.training["tuning"]
    assert tuning["kind"] == "temporal" and tuning["window"] == ["2024-04-22", "2024-05-20"]
    assert tuning["reused"] == sorted(trained.evaluation.components)
    from_scratch = Recommender.fit(frame, params, as_of=AS_OF)
    assert trained.serving.weights == from_scratch.weights
    assert not from_scratch.training["tuning"]["reused"]
