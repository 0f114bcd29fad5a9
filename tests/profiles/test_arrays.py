"""The packed-key sort used on the hot path orders rows exactly like numpy's lexsort."""

from __future__ import annotations

import numpy as np

from marketflow.profiles.arrays import run_starts, sort_order


def test_sort_order_matches_lexsort_on_mixed_keys_with_ties() -> None:
    rng = np.random.default_rng(0)
    customer = rng.integers(0, 50, 5000)
    purchases = -rng.integers(1, 6, 5000)
    units = -rng.integers(1, 40, 5000).astype(float)
    product = rng.integers(0, 30, 5000)
    expected = np.lexsort((product, units, purchases, customer))
    assert np.array_equal(sort_order(customer, purchases, units, product), expected)


def test_sort_order_falls_back_to_lexsort_when_ranks_need_more_than_63_bits() -> None:
    big = np.array([2**40, 3, 2**40, 7], dtype=np.int64)
    other = np.array([2**30, 2**30, 1, 0], dtype=np.int64)
    assert np.array_equal(sort_order(big, other), np.lexsort((other, big)))


def test_run_starts_begins_a_run_where_any_key_changes_and_gives_none_for_no_rows() -> None:
    first = np.array([1, 1, 1, 2, 2])
    second = np.array([5, 5, 6, 6, 6])
    assert run_starts(first, second).tolist() == [0, 2, 3]
    assert run_starts(first).tolist() == [0, 3]
    assert run_starts(first[:0], second[:0]).tolist() == []
