"""`treeshap.booster_contributions` gives LightGBM's own `pred_contrib`, for every kind of missing-value
split (none, zero, NaN), tiny values, small trees (pattern table) and large ones
(more splits than the table takes), and boosters it cannot evaluate itself (categorical splits)."""

from __future__ import annotations

import lightgbm as lgb
import numpy as np
import pytest

from marketflow.propensity.treeshap import booster_contributions

ROWS = 3000


def _data(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    matrix = rng.normal(size=(ROWS, 6))
    matrix[rng.random(ROWS) < 0.3, 1] = np.nan  # missing values, routed by each split's default
    matrix[rng.random(ROWS) < 0.3, 2] = 0.0  # exact zeros: "missing" when zero_as_missing
    matrix[rng.random(ROWS) < 0.2, 3] = 1e-40  # below LightGBM's zero threshold: zero for a Zero split
    matrix[:, 4] = rng.integers(0, 5, ROWS)  # small integers (a categorical column in one case)
    signal = np.nan_to_num(matrix[:, 1]) + matrix[:, 2] - matrix[:, 0] + (matrix[:, 4] == 2) + 1e39 * matrix[:, 3]
    labels = (signal + rng.normal(scale=0.5, size=ROWS) > 0).astype(int)
    return matrix, labels


def _booster(params: dict[str, object], seed: int = 1) -> tuple[lgb.Booster, np.ndarray]:
    matrix, labels = _data(seed)
    categorical = [4] if params.pop("categorical", False) else []
    dataset = lgb.Dataset(matrix, labels, categorical_feature=categorical, free_raw_data=False)
    base = {"objective": "binary", "verbose": -1, "num_threads": 1, "seed": seed, "min_data_in_leaf": 20}
    return lgb.train({**base, **params}, dataset, num_boost_round=30), _data(seed + 1)[0]


@pytest.mark.parametrize(
    "params",
    [
        {"num_leaves": 7},  # NaN-aware splits (missing_type NaN and None)
        {"num_leaves": 7, "zero_as_missing": True},  # missing_type Zero
        {"num_leaves": 7, "use_missing": False},  # missing values read as 0
        {"num_leaves": 40},  # up to 39 splits a tree: patterns numbered without the table
        {"num_leaves": 7, "categorical": True},  # categorical splits: LightGBM on every row
    ],
    ids=["nan", "zero-as-missing", "no-missing", "large-trees", "categorical"],
)
def test_contributions_are_lightgbms_pred_contrib(params: dict[str, object]) -> None:
    booster, rows = _booster(dict(params))
    dumped = booster.dump_model()["tree_info"]
    assert len(dumped) == 30 and max(tree["num_leaves"] for tree in dumped) > 1
    expected = booster.predict(rows, pred_contrib=True)
    ours = booster_contributions(booster, rows)
    assert ours.shape == expected.shape == (len(rows), rows.shape[1] + 1)
    np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(ours.sum(axis=1), booster.predict(rows, raw_score=True), rtol=1e-12, atol=1e-12)


def test_every_split_kind_the_cases_claim_is_present() -> None:
    """The cases above exercise what they say: each missing type, and trees past the table's size."""

    def splits(params: dict[str, object]) -> list[dict[str, object]]:
        found: list[dict[str, object]] = []

        def walk(node: dict[str, object]) -> None:
            if "split_index" in node:
                found.append(node)
                walk(node["left_child"])  # type: ignore[arg-type]
                walk(node["right_child"])  # type: ignore[arg-type]

        for tree in _booster(params)[0].dump_model()["tree_info"]:
            walk(tree["tree_structure"])
        return found

    assert {s["missing_type"] for s in splits({"num_leaves": 7})} >= {"NaN", "None"}
    assert "Zero" in {s["missing_type"] for s in splits({"num_leaves": 7, "zero_as_missing": True})}
    assert {s["missing_type"] for s in splits({"num_leaves": 7, "use_missing": False})} == {"None"}
    assert len(splits({"num_leaves": 40})) > 30 * 16  # more than 16 splits a tree on average
    assert "==" in {s["decision_type"] for s in splits({"num_leaves": 7, "categorical": True})}
