"""One ephemeral Great Expectations context per process.

Importing GX takes seconds and building a context is slow, so both happen once, on first use, never
at DAG parse time. Analytics and progress bars are switched off: this runs unattended on order data.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any

DATASOURCE = "marketflow_exports"


@lru_cache(maxsize=1)
def gx_context() -> Any:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    context.enable_analytics(False)
    context.data_sources.add_pandas(DATASOURCE)
    return context


@lru_cache(maxsize=None)
def batch_definition(asset_name: str) -> Any:
    """The whole-dataframe batch definition of `asset_name` (one asset per suite)."""
    datasource = gx_context().data_sources.get(DATASOURCE)
    asset = datasource.add_dataframe_asset(asset_name)
    return asset.add_batch_definition_whole_dataframe("whole_day")
