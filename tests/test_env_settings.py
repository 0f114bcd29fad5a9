"""The shared loader of stage settings: names, lists, empty values, nested models and errors."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field

from marketflow.env_settings import settings_from_env


class Inner(BaseModel):
    size: int = 1


class Example(BaseModel):
    rate: float = Field(default=0.5, ge=0, le=1)
    codes: tuple[str, ...] = ("A",)
    where: str = "here"
    inner: Inner = Inner()


def test_variables_fill_fields_lists_split_on_commas_and_empty_means_unset() -> None:
    environ = {"X_RATE": "0.25", "X_CODES": " POST, DOT ,", "X_WHERE": "", "X_INNER": ""}
    settings = settings_from_env(Example, "X_", "example", environ, {})
    assert (settings.rate, settings.codes, settings.where, settings.inner) == (0.25, ("POST", "DOT"), "here", Inner())


def test_a_nested_model_is_read_from_json_and_its_errors_name_the_variable() -> None:
    assert settings_from_env(Example, "X_", "example", {"X_INNER": '{"size": 3}'}, {}).inner == Inner(size=3)
    with pytest.raises(ValueError, match=r"inner \(from \$X_INNER\): not JSON"):
        settings_from_env(Example, "X_", "example", {"X_INNER": "size=3"}, {})
    with pytest.raises(ValueError, match=r"inner.size \(from \$X_INNER\): "):
        settings_from_env(Example, "X_", "example", {"X_INNER": '{"size": "big"}'}, {})


def test_a_renamed_variable_and_overrides_win_in_that_order() -> None:
    environ = {"WHERE_TO": "there", "X_WHERE": "not read"}
    assert settings_from_env(Example, "X_", "example", environ, {}, {"where": "WHERE_TO"}).where == "there"
    assert settings_from_env(Example, "X_", "example", environ, {"where": "code"}, {"where": "WHERE_TO"}).where == "code"


def test_a_bad_value_names_the_field_and_its_variable_but_not_for_overrides() -> None:
    with pytest.raises(ValueError, match=r"invalid example settings: rate \(from \$X_RATE\): "):
        settings_from_env(Example, "X_", "example", {"X_RATE": "2"}, {})
    with pytest.raises(ValueError, match=r"invalid example settings: rate: "):
        settings_from_env(Example, "X_", "example", {"X_RATE": "2"}, {"rate": 3})
