"""The tuning split, chosen from the data: a temporal window where the recent past predicts, a
per-user random hold-out where it cannot.

Blend weights are tuned on interactions the components did not see. A shop's purchases have time
order: the last `days` before the as-of date, with the components fitted on everything before, is
the honest rehearsal of next month. A table without usable time order (ratings split at random per
user, the usual public-benchmark protocol, or a table whose timestamps are all alike) leaves that
window with few customers who also have earlier history: EASE, repeat and the sequence models have
nothing to score there and the tuning hands the blend to popularity. `auto` therefore takes the
temporal window only when it holds at least `min_customers` customers with earlier history and at
least `min_share` of all customers with history before it; otherwise it holds out `holdout_share`
of each customer's distinct items at random (seeded; customers with a single item keep it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from marketflow.recommend.interactions import ITEM, TIME, USER, as_timestamp, split_at
from marketflow.recommend.params import ValidationParams


@dataclass(frozen=True)
class TuningSplit:
    """What the components are fitted on, what they are scored on, and why this split was taken."""

    fit_part: pd.DataFrame
    validation: pd.DataFrame
    fit_as_of: pd.Timestamp
    description: dict[str, Any]


def returning_customers(frame: pd.DataFrame, cutoff: pd.Timestamp, end: pd.Timestamp) -> tuple[int, int]:
    """(customers in [cutoff, end) who also bought before cutoff, customers who bought before cutoff)."""
    before = frame.loc[frame[TIME] < cutoff, USER].unique()
    window = frame.loc[(frame[TIME] >= cutoff) & (frame[TIME] < end), USER].unique()
    return int(np.isin(window, before).sum()), len(before)


def choose_split(frame: pd.DataFrame, params: ValidationParams, as_of: Any, seed: int) -> TuningSplit:
    """The split `params.kind` asks for ("auto": temporal when the window holds enough returning
    customers, else random), on `frame` (normalised interactions before `as_of`)."""
    end = as_timestamp(as_of)
    cutoff = end - pd.Timedelta(days=params.days)
    returning, before = returning_customers(frame, cutoff, end)
    enough = returning >= params.min_customers and returning >= params.min_share * max(before, 1)
    kind = params.kind if params.kind != "auto" else ("temporal" if enough else "random")
    evidence = {"returning_customers_in_window": returning, "customers_before_window": before}
    if kind == "temporal":
        fit_part, validation = split_at(frame, cutoff, end)
        description = {"kind": "temporal", "window": [str(cutoff.date()), str(end.date())], **evidence}
        return TuningSplit(fit_part, validation, cutoff, description)
    fit_part, validation = random_holdout(frame, params.holdout_share, seed)
    description = {
        "kind": "random",
        "holdout_share": params.holdout_share,
        "validated_customers": int(validation[USER].nunique()),
        **evidence,
    }
    return TuningSplit(fit_part, validation, end, description)


def random_holdout(frame: pd.DataFrame, share: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per customer, `share` of their distinct items (rounded, at least one, never all) with every
    interaction on them go to the hold-out; the rest, in time order, is what the models see."""
    pairs = frame[[USER, ITEM]].drop_duplicates()
    rng = np.random.default_rng(seed)
    pairs = pairs.assign(_draw=rng.random(len(pairs)))
    pairs["_rank"] = pairs.groupby(USER)["_draw"].rank(method="first")
    sizes = pairs.groupby(USER)[ITEM].transform("size")
    held = np.where(sizes > 1, np.clip(np.round(sizes * share), 1, sizes - 1), 0)
    chosen = pairs.loc[pairs["_rank"] <= held, [USER, ITEM]]
    marker = frame.merge(chosen.assign(_held=True), on=[USER, ITEM], how="left")["_held"].fillna(False).to_numpy(bool)
    return frame.loc[~marker].reset_index(drop=True), frame.loc[marker].reset_index(drop=True)
