"""Interactions (user, item, timestamp, optional weight and text) encoded for the models, and temporal splits.

The library takes any such table: shop purchases, MovieLens ratings, clicks. `History` fixes an item
vocabulary (the one a model was fitted on) so the same model can score newer histories later. The
optional `text` is the item's description at that interaction, for content models.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Literal

import numpy as np
import pandas as pd
from scipy import sparse

USER, ITEM, TIME, WEIGHT, TEXT = "user", "item", "timestamp", "weight", "text"
SECONDS_PER_DAY = 86_400.0


def as_timestamp(day: dt.date | dt.datetime | str | pd.Timestamp) -> pd.Timestamp:
    """A naive timestamp (midnight for a date): interactions carry naive times."""
    stamp = pd.Timestamp(day)
    return stamp.tz_localize(None) if stamp.tzinfo else stamp


def normalise_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Check the columns and types of an interactions table; add weight 1 where none is given; keep
    `text` when present (missing stays missing)."""
    missing = {USER, ITEM, TIME} - set(frame.columns)
    if missing:
        raise ValueError(f"interactions need columns {USER!r}, {ITEM!r}, {TIME!r}; missing {sorted(missing)}")
    columns = {
        USER: frame[USER].astype(str),
        ITEM: frame[ITEM].astype(str),
        TIME: pd.to_datetime(frame[TIME]).astype("datetime64[s]"),
        WEIGHT: frame[WEIGHT].astype("float32") if WEIGHT in frame else np.float32(1.0),
    }
    if TEXT in frame:
        columns[TEXT] = frame[TEXT].astype(str).where(frame[TEXT].notna())
    return pd.DataFrame(columns).reset_index(drop=True)


def purchases_to_interactions(
    orders: pd.DataFrame,
    weight: Literal["binary", "log1p_quantity"] = "binary",
    *,
    service_codes: Iterable[str] = (),
    service_prefixes: Iterable[str] = (),
) -> pd.DataFrame:
    """Shop order lines -> interactions: what known customers bought (no returns, no guests), less
    the shop's services (postage, fees, vouchers): stock codes in `service_codes` or starting with
    one of `service_prefixes`, case-insensitive. The warehouse passes `ProfileSettings`' lists. An
    orders `description` column becomes the interactions' `text`."""
    keep = orders["customer_id"].notna() & (orders["quantity"] > 0) & ~orders["is_return"].astype(bool)
    codes = orders["stock_code"].astype(str).str.upper()
    keep &= ~codes.isin({code.upper() for code in service_codes})
    for prefix in service_prefixes:
        keep &= ~codes.str.startswith(prefix.upper())
    lines = orders.loc[keep]
    values = np.log1p(lines["quantity"].to_numpy(dtype="float32")) if weight == "log1p_quantity" else 1.0
    columns = {
        USER: lines["customer_id"].to_numpy(),
        ITEM: lines["stock_code"].to_numpy(),
        TIME: lines["invoice_ts"].to_numpy(),
        WEIGHT: values,
    }
    if "description" in orders:
        columns[TEXT] = lines["description"].to_numpy()
    return normalise_frame(pd.DataFrame(columns))


def _latest_text(frame: pd.DataFrame, n_items: int) -> np.ndarray:
    """Each item's text at its latest interaction that has one: products get renamed, the newest name wins."""
    texts = np.full(n_items, "", dtype=object)
    named = frame[frame[TEXT].fillna("").str.strip() != ""]
    latest = named.sort_values(TIME, kind="stable").drop_duplicates("_item", keep="last")
    texts[latest["_item"].to_numpy()] = latest[TEXT].to_numpy(dtype=object)
    return texts


def split_at(
    frame: pd.DataFrame, cutoff: dt.date | pd.Timestamp | str, end: dt.date | pd.Timestamp | str | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(before cutoff, [cutoff, end)): the temporal hold-out split every evaluation uses."""
    cut = as_timestamp(cutoff)
    before = frame[frame[TIME] < cut]
    after = frame[frame[TIME] >= cut]
    if end is not None:
        after = after[after[TIME] < as_timestamp(end)]
    return before.reset_index(drop=True), after.reset_index(drop=True)


@dataclass(frozen=True, eq=False)
class History:
    """Interactions encoded against a fixed item vocabulary, sorted by user then time.

    `as_of` is the moment the history is scored for: recency is measured from it. `item_text` is each
    item's latest non-empty text ("" for items without one), None when the table has no text.
    """

    user_ids: np.ndarray
    item_ids: np.ndarray
    user: np.ndarray
    item: np.ndarray
    seconds: np.ndarray
    weight: np.ndarray
    as_of: pd.Timestamp
    item_text: np.ndarray | None = None

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        *,
        item_ids: np.ndarray | None = None,
        as_of: dt.date | pd.Timestamp | None = None,
    ) -> History:
        """Encode `frame`; with `item_ids` (a fitted vocabulary) interactions with other items are dropped."""
        frame = normalise_frame(frame)
        if item_ids is None:
            item_ids = np.array(sorted(frame[ITEM].unique()), dtype=object)
        position = pd.Index(item_ids).get_indexer(frame[ITEM])
        frame = frame[position >= 0].assign(_item=position[position >= 0])
        user_ids, user = np.unique(frame[USER].to_numpy(dtype=object), return_inverse=True)
        seconds = frame[TIME].to_numpy().astype("int64")
        order = np.lexsort((np.arange(len(frame)), seconds, user))
        if as_of is None:
            last = frame[TIME].max() if len(frame) else pd.Timestamp("1970-01-01")
            as_of = last.normalize() + pd.Timedelta(days=1)
        return cls(
            user_ids=user_ids.astype(object),
            item_ids=np.asarray(item_ids, dtype=object),
            user=user[order].astype(np.int64),
            item=frame["_item"].to_numpy()[order].astype(np.int64),
            seconds=seconds[order],
            weight=frame[WEIGHT].to_numpy()[order].astype(np.float32),
            as_of=as_timestamp(as_of),
            item_text=_latest_text(frame, len(item_ids)) if TEXT in frame else None,
        )

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_events(self) -> int:
        return len(self.item)

    def before(self, seconds: float) -> History:
        """The history as it stood at `seconds`: its earlier events, scored as of that moment, over
        the same customers and items (so rows and item indices mean the same in both)."""
        keep = self.seconds < seconds
        return replace(
            self,
            user=self.user[keep],
            item=self.item[keep],
            seconds=self.seconds[keep],
            weight=self.weight[keep],
            as_of=pd.Timestamp(int(seconds), unit="s"),
        )

    def is_first_purchase(self) -> np.ndarray:
        """True for each customer's first purchase of each item."""
        first = np.zeros(self.n_events, dtype=bool)
        first[np.unique(self.user * self.n_items + self.item, return_index=True)[1]] = True
        return first

    def first_purchases(self) -> History:
        """Only each customer's first purchase of each item: their sequence of distinct items, oldest first."""
        keep = self.is_first_purchase()
        return replace(self, user=self.user[keep], item=self.item[keep], seconds=self.seconds[keep], weight=self.weight[keep])

    def age_days(self) -> np.ndarray:
        """Age of each interaction at `as_of`, in days."""
        return (self.as_of.value // 10**9 - self.seconds) / SECONDS_PER_DAY

    def matrix(self, values: np.ndarray | None = None, binary: bool = False) -> sparse.csr_matrix:
        """users x items, summing `values` (default: the weights); `binary` clips every cell to 1."""
        data = self.weight if values is None else values
        m = sparse.csr_matrix(
            (data.astype(np.float32), (self.user, self.item)), shape=(self.n_users, self.n_items)
        )
        m.sum_duplicates()
        if binary:
            m.data[:] = 1.0
        return m

    @cached_property
    def offsets(self) -> np.ndarray:
        """Start of each user's events (events are sorted by user): user u owns [offsets[u], offsets[u+1])."""
        return np.concatenate([[0], np.cumsum(np.bincount(self.user, minlength=self.n_users))])

    def positions_of(self, user_ids: np.ndarray) -> np.ndarray:
        """Row of each external user id in this history, -1 when the user has none."""
        return pd.Index(self.user_ids).get_indexer(np.asarray(user_ids, dtype=object))
