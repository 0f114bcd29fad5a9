"""Typed settings of the e-mail sender, validated when loaded (errors name the field and its env var).

Environment overrides (optional): `MARKETFLOW_SEND_<FIELD>`, e.g. `MARKETFLOW_SEND_CLAIM_TIMEOUT_S=120`
or `MARKETFLOW_SEND_BATCH_SIZE=1`.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field

from marketflow.env_settings import settings_from_env

ENV_PREFIX = "MARKETFLOW_SEND_"
#: Messages claimed in one commit: the most a SIGKILL can leave in doubt (see `marketflow.channels.ledger`).
DEFAULT_BATCH_SIZE = 10
MAX_BATCH_SIZE = 100


class SendSettings(BaseModel):
    """How long a claim by a worker that cannot be checked counts as live, and how many messages
    one commit claims (throughput against the number of messages a crash can leave in doubt)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    claim_timeout_s: float = Field(
        default=300.0,
        gt=0,
        description="a message claimed (status `sending`) longer ago than this by a worker on another "
        "machine is in doubt; a claim by a dead process on this machine is in doubt at once",
    )
    batch_size: int = Field(
        default=DEFAULT_BATCH_SIZE,
        ge=1,
        le=MAX_BATCH_SIZE,
        description="messages claimed in one commit and confirmed in the next: fewer commits per message, "
        "but a worker killed mid-batch leaves up to this many messages in doubt (1: one at a time)",
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> SendSettings:
        return settings_from_env(cls, ENV_PREFIX, "send", environ, overrides)
