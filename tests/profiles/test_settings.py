"""Profile settings: environment overrides, and errors that name the field and its variable."""

from __future__ import annotations

import pytest

from marketflow.profiles.settings import ProfileSettings


def test_environment_overrides_scalars_and_lists() -> None:
    settings = ProfileSettings.from_env(
        {"MARKETFLOW_PROFILES_BUDGET_BELOW": "1.25", "MARKETFLOW_PROFILES_SERVICE_CODES": "POST, DOT,M"}
    )
    assert settings.budget_below == 1.25
    assert settings.service_codes == ("POST", "DOT", "M")
    assert settings.premium_from == ProfileSettings().premium_from


def test_an_invalid_value_names_the_field_and_the_variable() -> None:
    with pytest.raises(ValueError, match=r"favourite_products \(from \$MARKETFLOW_PROFILES_FAVOURITE_PRODUCTS\)"):
        ProfileSettings.from_env({"MARKETFLOW_PROFILES_FAVOURITE_PRODUCTS": "0"})


def test_price_bands_must_be_ordered() -> None:
    with pytest.raises(ValueError, match="premium_from must be greater than budget_below"):
        ProfileSettings.from_env({}, budget_below=5.0, premium_from=4.0)
