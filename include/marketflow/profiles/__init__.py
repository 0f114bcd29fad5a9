"""Customer profiles, segments, lifetime value and product groups, correct as of every date.

Pure pandas functions build a day's snapshot from order history (`build`, `customers`, `segments`,
`clv`, `groups`, `products`); `warehouse` builds the stored snapshots in three steps over customer
shards (`prepare_days`, `build_shard`, `finish_days`; `queries` and `tables` talk to the warehouse):
the DAG `build_profiles` maps the shards, `marketflow profiles ...` calls `warehouse.build_days`.
Column meanings, segment rules and the sharding for users: README.md in this folder.
"""

from marketflow.profiles.build import DaySnapshot, SnapshotBuilder
from marketflow.profiles.history import OrderHistory, prepare_history
from marketflow.profiles.settings import ProfileSettings
from marketflow.profiles.warehouse import build_days

__all__ = ["DaySnapshot", "OrderHistory", "ProfileSettings", "SnapshotBuilder", "build_days", "prepare_history"]
