"""Propensity settings from the environment: typed, validated, errors name the field and variable."""

from __future__ import annotations

import pytest

from marketflow.propensity.settings import PropensitySettings


def test_environment_overrides_are_typed() -> None:
    environ = {"MARKETFLOW_PROPENSITY_SHARDS": "8", "MARKETFLOW_PROPENSITY_MODEL_STORE": "s3://b/m"}
    settings = PropensitySettings.from_env(environ)
    assert settings.shards == 8 and settings.model_store == "s3://b/m"
    assert PropensitySettings.from_env({}).shards == PropensitySettings().shards


def test_a_bad_value_names_the_field_and_its_variable() -> None:
    with pytest.raises(ValueError, match=r"shards \(from \$MARKETFLOW_PROPENSITY_SHARDS\)"):
        PropensitySettings.from_env({"MARKETFLOW_PROPENSITY_SHARDS": "0"})
    with pytest.raises(ValueError, match="invalid propensity settings: horizon_days"):
        PropensitySettings.from_env({}, horizon_days="soon")
