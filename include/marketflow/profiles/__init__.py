"""Customer profiles, segments, lifetime value and product groups, correct as of every date.

Pure pandas functions build a day's snapshot from order history (`build`, `customers`, `segments`,
`clv`, `groups`, `products`); `warehouse` reads the orders and writes the snapshot tables; the DAG
`build_profiles` and `marketflow profiles ...` call `warehouse.build_days`. Column meanings and the
segment rules for users: README.md in this folder.
"""

from marketflow.profiles.build import DaySnapshot, SnapshotBuilder
from marketflow.profiles.history import OrderHistory, prepare_history
from marketflow.profiles.settings import ProfileSettings
from marketflow.profiles.warehouse import build_days

__all__ = ["DaySnapshot", "OrderHistory", "ProfileSettings", "SnapshotBuilder", "build_days", "prepare_history"]
