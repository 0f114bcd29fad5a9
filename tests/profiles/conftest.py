"""Fixtures of the profile stage's tests: the real order history, read once per session."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tests.profiles.real_orders import read_history


@pytest.fixture(scope="session")
def real_orders(real_data_dir: Path) -> pd.DataFrame:
    """Every line of the real history as `orders` rows (2010-12-01..2011-10-31)."""
    return read_history(real_data_dir)
