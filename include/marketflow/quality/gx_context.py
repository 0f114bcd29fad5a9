"""One ephemeral Great Expectations context per process.

Importing GX takes seconds and building a context is slow, so both happen once, on first use, never
at DAG parse time. Analytics, progress bars and GX's own INFO logging (hundreds of lines at import)
are switched off: this runs unattended on order data, and our logs say what was validated.
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from typing import Any

DATASOURCE = "marketflow_exports"


def _quiet_gx_logging() -> None:
    """WARNING and above only, for GX's loggers (it sets some of its own to INFO when imported)."""
    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("great_expectations."):
            logging.getLogger(name).setLevel(logging.WARNING)


@lru_cache(maxsize=1)
def gx_context() -> Any:
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    logging.disable(logging.INFO)  # GX logs hundreds of INFO lines while it imports
    try:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig
    finally:
        logging.disable(logging.NOTSET)
    _quiet_gx_logging()
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
