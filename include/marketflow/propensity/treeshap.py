"""LightGBM's own TreeSHAP (`pred_contrib`) for many rows at the cost of a few: one call per tree on
one row per decision pattern.

Path-dependent TreeSHAP of a tree depends on a row only through the way it goes at each of the
tree's splits (both branches are walked, weighted by the training counts). Rows that go the same
way at every split of a tree get bit-identical contributions from it, so LightGBM explains one
representative row per pattern (a 7-leaf tree has at most 64 patterns, usually ~20), and every row
takes its pattern's values. The sum over the trees is LightGBM's, added tree by tree (within
1e-12 of `pred_contrib` on all rows, which adds leaf by leaf). The splits are evaluated as
LightGBM's `NumericalDecision` does (missing values and zeros); a booster with another kind
of split (categorical) is explained by `pred_contrib` on every row.
"""

from __future__ import annotations

from typing import Any

import lightgbm as lgb
import numpy as np

#: LightGBM's kZeroThreshold (1e-35f): a split whose missing type is Zero sends smaller magnitudes
#: its default way.
_ZERO = float(np.float32(1e-35))
#: Trees with at most this many splits number their patterns through a table of 2**splits entries.
_LOOKUP_BITS = 16


def _splits(node: dict[str, Any]) -> list[dict[str, Any]]:
    """The internal nodes of a dumped tree (any order: only the pattern matters)."""
    if "split_index" not in node:
        return []
    return [node, *_splits(node["left_child"]), *_splits(node["right_child"])]


def _goes_left(matrix: np.ndarray, split: dict[str, Any]) -> np.ndarray:
    """LightGBM's `NumericalDecision` of `split` for every row of `matrix`."""
    values = matrix[:, split["split_feature"]]
    missing_type = split["missing_type"]
    missing = np.isnan(values)
    if missing_type != "NaN":
        values = np.where(missing, 0.0, values)
    if missing_type == "Zero":
        default = (values >= -_ZERO) & (values <= _ZERO)
    elif missing_type == "NaN":
        default = missing
    else:
        return values <= split["threshold"]
    return np.where(default, bool(split["default_left"]), values <= split["threshold"])


def _patterns(decisions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(one row index per distinct row of `decisions`, each row's pattern number)."""
    rows, width = decisions.shape
    if width <= _LOOKUP_BITS:  # the usual case: a lookup table over every possible pattern
        codes = decisions.astype(np.int64) @ (np.int64(1) << np.arange(width, dtype=np.int64))
        representative = np.full(1 << width, -1)
        representative[codes] = np.arange(rows)  # any row of a pattern will do: they are explained alike
        present = np.flatnonzero(representative >= 0)
        number = np.zeros(1 << width, dtype=np.int64)
        number[present] = np.arange(len(present))
        return representative[present], number[codes]
    packed = np.ascontiguousarray(np.packbits(decisions, axis=1))
    keys = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
    _, first, number = np.unique(keys, return_index=True, return_inverse=True)
    return first, number.ravel()


def booster_contributions(booster: lgb.Booster, matrix: np.ndarray) -> np.ndarray:
    """`booster.predict(matrix, pred_contrib=True)` (binary objective): rows x (features + bias)."""
    trees = [_splits(tree["tree_structure"]) for tree in booster.dump_model()["tree_info"]]
    if any(split["decision_type"] != "<=" for tree in trees for split in tree):
        return booster.predict(matrix, pred_contrib=True)
    columns = np.zeros((matrix.shape[1] + 1, len(matrix)))  # per column: adding one up is contiguous
    for index, splits in enumerate(trees):
        decisions = np.zeros((len(matrix), len(splits)), dtype=bool)
        for position, split in enumerate(splits):
            decisions[:, position] = _goes_left(matrix, split)
        representatives, pattern = _patterns(decisions)
        table = booster.predict(  # one thread: on a few rows, waking OpenMP's threads costs 20x the work
            matrix[representatives], pred_contrib=True, start_iteration=index, num_iteration=1, num_threads=1
        )
        for column in np.flatnonzero(table.any(axis=0)):
            columns[column] += table[:, column][pattern]
    return np.ascontiguousarray(columns.T)
