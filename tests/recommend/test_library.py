"""The library on any (user, item, timestamp) table: planted patterns, cold start, reproducibility,
artifacts and settings. No warehouse, no Airflow."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from pydantic import ValidationError

from marketflow.recommend import artifacts, models
from marketflow.recommend.blend import Recommender
from marketflow.recommend.evaluate import HoldoutTask
from marketflow.recommend.interactions import History, purchases_to_interactions, split_at
from marketflow.recommend.params import DEFAULT_COMPONENTS, RecommenderParams
from marketflow.recommend.reasons import explain
from marketflow.recommend.runtime import cpu_threads, resolve_device
from tests.recommend.conftest import FAST, FAST_FIXED, planted_interactions

CUTOFF = pd.Timestamp("2024-04-22")  # day 112 of 140: the last four weeks are the hold-out


@pytest.fixture(scope="module")
def planted() -> tuple[pd.DataFrame, pd.DataFrame]:
    return split_at(planted_interactions(), CUTOFF)


@pytest.fixture(scope="module")
def fitted(planted: tuple[pd.DataFrame, pd.DataFrame]) -> Recommender:
    return Recommender.fit(planted[0], RecommenderParams.model_validate(FAST), as_of=CUTOFF)


def test_the_tuned_blend_learns_a_planted_co_purchase_pattern(
    planted: tuple[pd.DataFrame, pd.DataFrame], fitted: Recommender
) -> None:
    train, holdout = planted
    task = HoldoutTask(fitted.history(train, as_of=CUTOFF), holdout)
    blend = task.evaluate(fitted.score)
    popularity = task.evaluate(lambda h, rows: fitted.components["popularity"].score(h, rows))
    assert blend["new"]["ndcg@10"] > 2 * popularity["new"]["ndcg@10"]
    assert blend["all"]["ndcg@10"] > popularity["all"]["ndcg@10"]
    assert fitted.training["tuning"]["kind"] == "temporal"
    assert fitted.training["tuning"]["window"] == ["2024-03-25", "2024-04-22"]
    # the items of the customer's own group they have not bought yet lead their new-item list
    group_items = {f"sku-{item:03d}" for item in range(8, 16)}  # customer-7 is in group 7 % 6 = 1
    unseen = group_items - set(train.loc[train["user"] == "customer-7", "item"])
    recs = fitted.recommend(train, k=len(unseen), users=["customer-7"], exclude_seen=True)
    assert unseen and set(recs["item"]) == unseen


def _integer_ids(frame: pd.DataFrame) -> pd.DataFrame:
    """`frame` with integer ids (another shop's): customer-N as N, each item as its position in the sorted catalogue."""
    items = {item: number for number, item in enumerate(sorted(frame["item"].unique()))}
    return frame.assign(
        user=frame["user"].str.removeprefix("customer-").astype("int64"), item=frame["item"].map(items).astype("int64")
    )


def test_integer_ids_come_back_as_integers_and_ids_of_the_other_type_raise(
    planted: tuple[pd.DataFrame, pd.DataFrame], fitted: Recommender
) -> None:
    train = _integer_ids(planted[0])
    model = Recommender.fit(train, RecommenderParams.model_validate(FAST_FIXED), as_of=CUTOFF)
    assert model.id_kinds == {"user": "integer", "item": "integer"}
    recs = model.recommend(train, k=5, users=[7, np.int64(8)])
    assert recs["user"].dtype == "int64" and recs["item"].dtype == "int64"
    assert set(recs["user"]) == {7, 8} and set(recs["source"]) != {"popularity"}, "known customers, not cold"
    with pytest.raises(TypeError, match="users \\['7'\\] are not integer ids"):
        model.recommend(train, k=5, users=["7"])
    with pytest.raises(TypeError, match="'user' ids are text, the model was fitted on integer ids"):
        model.recommend(planted[0], k=5)
    with pytest.raises(TypeError, match="users \\[7\\] are not text ids"):
        fitted.recommend(planted[0], k=5, users=[7])


def test_customers_without_history_get_the_popularity_ranking(
    planted: tuple[pd.DataFrame, pd.DataFrame], fitted: Recommender
) -> None:
    recs = fitted.recommend(planted[0], k=3, users=["customer-7", "a-new-customer"])
    newcomer = recs[recs["user"] == "a-new-customer"]
    assert newcomer["rank"].tolist() == [1, 2, 3]
    assert set(newcomer["source"]) == {"popularity"}
    counts = fitted.components["popularity"].counts
    assert newcomer["item"].tolist() == fitted.item_ids[np.argsort(-counts, kind="stable")[:3]].tolist()


def test_sasrec_learns_what_comes_next_in_a_sequence() -> None:
    """Each customer walks a cycle of 12 items from a random start: only order tells the next one."""
    rng = np.random.default_rng(1)
    start = pd.Timestamp("2024-01-01")
    rows = []
    for user in range(150):
        first = rng.integers(12)
        for step in range(int(rng.integers(8, 16))):
            rows.append((f"u{user}", f"i{(first + step) % 12}", start + pd.Timedelta(days=step)))
    frame = pd.DataFrame(rows, columns=["user", "item", "timestamp"])
    history = History.from_frame(frame)
    params = RecommenderParams.model_validate({"sasrec": {"epochs": 15, "dim": 32, "max_len": 12, "dropout": 0.0, "lr": 0.005, "targets": "next", "distinct": False}})
    sasrec = models.build("sasrec", params, torch.device("cpu"))
    with cpu_threads(params.cpu_threads):
        sasrec.fit(history)
    rows_ = np.arange(history.n_users)
    best = sasrec.score(history, rows_).argmax(axis=1)
    last = history.item[history.offsets[1:] - 1]
    successor = np.array([history.item_ids.tolist().index(f"i{(int(history.item_ids[i][1:]) + 1) % 12}") for i in last])
    assert (best == successor).mean() >= 0.9
    assert sasrec.throughput.samples > 0 and sasrec.throughput.per_second > 0


def test_two_fits_with_the_same_seed_give_identical_top_k(planted: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    params = RecommenderParams.model_validate(
        {**FAST, "blend": {"weights": dict.fromkeys(DEFAULT_COMPONENTS, 1.0)}}
    )
    first, second = (Recommender.fit(planted[0], params, as_of=CUTOFF).recommend(planted[0], k=10) for _ in range(2))
    pd.testing.assert_frame_equal(first, second)
    reseeded = Recommender.fit(planted[0], params.model_copy(update={"seed": 7}), as_of=CUTOFF)
    assert not np.array_equal(
        reseeded.components["bpr"].item_factors, Recommender.fit(planted[0], params, as_of=CUTOFF).components["bpr"].item_factors
    )


@pytest.mark.parametrize("where", ["folder", "memory"])
def test_a_saved_model_scores_exactly_like_the_fitted_one(
    where: str, tmp_path: Path, planted: tuple[pd.DataFrame, pd.DataFrame], fitted: Recommender
) -> None:
    url = f"{tmp_path}/store/m/serving.pt" if where == "folder" else "memory://store/m/serving.pt"
    fitted = dataclasses.replace(fitted, seen_items="last")  # the setting a ratings table tunes to
    artifacts.save(fitted, url)
    loaded = artifacts.load(url)
    history = fitted.history(planted[0], as_of=CUTOFF)
    rows = np.arange(history.n_users)
    assert np.array_equal(loaded.score(history, rows), fitted.score(history, rows))
    assert loaded.weights == fitted.weights and loaded.fitted_as_of == fitted.fitted_as_of
    assert loaded.seen_items == "last"


def test_the_model_store_defaults_under_airflow_home_and_follows_the_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(artifacts.MODEL_STORE_ENV, raising=False)
    monkeypatch.setenv("AIRFLOW_HOME", "/srv/airflow")
    assert artifacts.model_store() == "/srv/airflow/models"
    monkeypatch.setenv(artifacts.MODEL_STORE_ENV, "s3://shop-models/")
    assert artifacts.model_store() == "s3://shop-models"


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"ease": {"lambda": 3}}, "ease.lambda"),
        ({"sasrec": {"dim": 30, "heads": 4}}, "sasrec"),
        ({"components": ["repeat", "ease"]}, "popularity"),
        ({"blend": {"weights": {"popularity": 1.0}}}, "blend.weights"),
        ({"bpr": {"epochs": 0}}, "bpr.epochs"),
    ],
)
def test_invalid_settings_fail_naming_the_field(settings: dict, field: str) -> None:
    with pytest.raises(ValidationError, match=field.replace(".", r"\.")):
        RecommenderParams.model_validate(settings)


def test_purchases_exclude_returns_guests_non_positive_quantities_and_services() -> None:
    orders = pd.DataFrame(
        {
            "customer_id": ["1", "1", None, "2", "2", "2", "1"],
            "stock_code": ["A", "B", "C", "D", "E", "POST", "gift_0001_20"],
            "invoice_ts": pd.to_datetime(["2011-01-01"] * 7),
            "quantity": [3, -3, 5, 0, 12, 1, 1],
            "is_return": [False, True, False, False, False, False, False],
        }
    )
    interactions = purchases_to_interactions(
        orders, weight="log1p_quantity", service_codes=("post",), service_prefixes=("GIFT_",)
    )
    assert interactions["item"].tolist() == ["A", "E"]
    assert interactions["weight"].to_numpy() == pytest.approx(np.log1p([3, 12]))
    # the library knows no shop's services: without the lists, postage and vouchers are products
    assert purchases_to_interactions(orders)["item"].tolist() == ["A", "E", "POST", "gift_0001_20"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the behaviour without a GPU")
def test_asking_for_cuda_without_a_gpu_is_an_error_and_auto_means_cpu() -> None:
    assert resolve_device("auto").type == "cpu"
    with pytest.raises(RuntimeError, match="no GPU"):
        resolve_device("cuda")


def test_a_reason_names_the_anchor_by_its_latest_description_in_the_history_given(
    planted: tuple[pd.DataFrame, pd.DataFrame], fitted: Recommender
) -> None:
    train = planted[0].assign(text="OLD " + planted[0]["item"])
    renamed = train.copy()
    latest = renamed["timestamp"] == renamed.groupby("item")["timestamp"].transform("max")
    renamed.loc[latest, "text"] = "NEW " + renamed.loc[latest, "item"]
    recs = fitted.recommend(train, k=10, users=["customer-7", "customer-8"], exclude_seen=True)
    before = explain(fitted, fitted.history(train, as_of=CUTOFF), recs)
    after = explain(fitted, fitted.history(renamed, as_of=CUTOFF), recs)
    named = before.str.startswith("bought with ")
    assert named.any()
    assert before[named].str.startswith("bought with OLD sku-").all()
    assert after[named].tolist() == before[named].str.replace("with OLD", "with NEW").tolist()
    # without any text the stock code names it
    bare = explain(fitted, fitted.history(planted[0], as_of=CUTOFF), recs)
    assert bare[named].tolist() == before[named].str.replace("with OLD ", "with ").tolist()
