"""Typed settings of the e-mail sender, validated when loaded (errors name the field and its env var).

Environment overrides (optional): `MARKETFLOW_SEND_<FIELD>`, e.g. `MARKETFLOW_SEND_CLAIM_TIMEOUT_S=120`.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from marketflow.env_settings import settings_from_env

ENV_PREFIX = "MARKETFLOW_SEND_"


class SendSettings(BaseModel):
    """How long a claim on a message by a worker that cannot be checked counts as live."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    claim_timeout_s: float = Field(
        default=300.0,
        gt=0,
        description="a message claimed (status `sending`) longer ago than this by a worker on another "
        "machine is in doubt; a claim by a dead process on this machine is in doubt at once",
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> SendSettings:
        return settings_from_env(cls, ENV_PREFIX, "send", environ, overrides)
