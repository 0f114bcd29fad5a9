"""Array helpers for the per-day hot path (a day's snapshot is built hundreds of times in a backfill)."""

from __future__ import annotations

import numpy as np


def sort_order(*keys: np.ndarray) -> np.ndarray:
    """Stable row order by `keys`, the first key most significant (like `np.lexsort(keys[::-1])`).

    The keys' dense ranks are packed into one int64 when they fit in 63 bits: one integer argsort is
    about ten times faster than a four-key lexsort on a day's ~200k (customer, product) pairs.
    """
    packed: list[tuple[np.ndarray, int]] = []
    for key in keys:
        if key.dtype.kind in "iu" and (len(key) == 0 or key.min() >= 0):
            rank = key.astype(np.int64)
        else:
            rank = np.unique(key, return_inverse=True)[1].astype(np.int64)
        packed.append((rank, max(int(rank.max()).bit_length(), 1) if len(rank) else 1))
    if sum(width for _, width in packed) > 63:
        return np.lexsort(keys[::-1])
    combined = np.zeros(len(keys[0]), dtype=np.int64)
    for rank, width in packed:
        combined = (combined << width) | rank
    return np.argsort(combined, kind="stable")


def run_starts(*keys: np.ndarray) -> np.ndarray:
    """Where each run of equal rows begins in rows sorted by `keys` (a row whose keys differ from
    the row before's): the offsets `np.add.reduceat` sums over; empty for no rows."""
    if not len(keys[0]):
        return np.array([], dtype=np.intp)
    changed = np.zeros(len(keys[0]), dtype=bool)
    changed[0] = True
    for key in keys:
        changed[1:] |= key[1:] != key[:-1]
    return np.flatnonzero(changed)
