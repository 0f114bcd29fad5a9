"""Typed stage settings from environment variables, with errors that name the field and its variable.

Every stage reads `MARKETFLOW_<STAGE>_<FIELD>` for the top-level fields of its pydantic settings
model; comma-separated values fill tuple fields, a nested model (such as the ingest calendar) or a
mapping is given as JSON, and an empty value counts as unset (compose files pass empty strings). A bad value
fails at load with `field (from $VARIABLE): what is wrong`.
"""

from __future__ import annotations

import json
import os
import typing
from collections.abc import Mapping
from typing import ClassVar, Self, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

Settings = TypeVar("Settings", bound=BaseModel)


def _is_model(annotation: object) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _is_tuple(annotation: object) -> bool:
    return typing.get_origin(annotation) is tuple


def _is_mapping(annotation: object) -> bool:
    return typing.get_origin(annotation) in (dict, Mapping)


def settings_from_env(
    model: type[Settings],
    prefix: str,
    what: str,
    environ: Mapping[str, str] | None,
    overrides: Mapping[str, object],
    variables: Mapping[str, str] | None = None,
) -> Settings:
    """`model` from `prefix + FIELD` variables (or the names in `variables`, field -> variable),
    then `overrides`; raises `ValueError("invalid <what> settings: ...")` naming fields and variables."""
    environ = os.environ if environ is None else environ
    variables = variables or {}
    values: dict[str, object] = {}
    sources: dict[str, str] = {}
    for name, field in model.model_fields.items():
        variable = variables.get(name, prefix + name.upper())
        raw = environ.get(variable, "")
        if not raw:
            continue
        sources[name] = variable
        if _is_model(field.annotation) or _is_mapping(field.annotation):
            try:
                values[name] = json.loads(raw)
            except json.JSONDecodeError as error:
                raise ValueError(f"invalid {what} settings: {name} (from ${variable}): not JSON: {error}") from None
        elif _is_tuple(field.annotation):
            values[name] = tuple(p.strip() for p in raw.split(",") if p.strip())
        else:
            values[name] = raw
    values.update(overrides)
    try:
        return model(**values)
    except ValidationError as error:
        problems = []
        for item in error.errors():
            location = ".".join(map(str, item["loc"])) or "settings"
            field_name = str(item["loc"][0]) if item["loc"] else ""
            where = f" (from ${sources[field_name]})" if field_name in sources and field_name not in overrides else ""
            problems.append(f"{location}{where}: {item['msg']}")
        raise ValueError(f"invalid {what} settings: " + "; ".join(problems)) from None


class JsonEnvLimits(BaseModel):
    """Limits given as one JSON document in the environment variable `ENV` (unset or empty: the
    defaults); an unknown or invalid field fails, naming it."""

    model_config = ConfigDict(extra="forbid")
    ENV: ClassVar[str]

    @classmethod
    def from_env(cls) -> Self:
        raw = os.environ.get(cls.ENV)
        return cls.model_validate_json(raw) if raw else cls()
