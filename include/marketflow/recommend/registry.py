"""The `model_registry` table: every trained model, its metrics, and which one serves.

Statuses: challenger (registered, not yet decided) -> champion (serving; at most one per kind) or
rejected (lost to the champion); a champion that is replaced becomes retired. Shared with the
propensity model through `model_kind`.
"""

from __future__ import annotations

import datetime as dt
import logging
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, and_, select, update

import marketflow
from marketflow.warehouse import schema

log = logging.getLogger(__name__)

KIND = "recommender"
CHALLENGER, CHAMPION, RETIRED, REJECTED = "challenger", "champion", "retired", "rejected"


@dataclass(frozen=True)
class ModelRecord:
    model_id: str
    model_kind: str
    trained_as_of: dt.date
    data_start: dt.date | None
    data_end: dt.date | None
    params: dict[str, Any]
    metrics: dict[str, Any]
    code_version: str
    artifact_uri: str
    status: str
    decision: str | None = None

    def ndcg(self, variant: str = "all") -> float:
        return float(self.metrics[variant]["ndcg@10"])


def code_version() -> str:
    """Package version plus `git describe` of the checkout when there is one, e.g. 0.1.0+g1a2b3c4."""
    try:
        described = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--tags"],
            cwd=Path(marketflow.__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        described = "unknown"
    return f"{marketflow.__version__}+{described or 'unknown'}"[:64]


def _record(row: Any) -> ModelRecord:
    return ModelRecord(
        model_id=row.model_id,
        model_kind=row.model_kind,
        trained_as_of=_as_date(row.trained_as_of),
        data_start=_as_date(row.data_start),
        data_end=_as_date(row.data_end),
        params=row.params or {},
        metrics=row.metrics or {},
        code_version=row.code_version or "unknown",
        artifact_uri=row.artifact_uri,
        status=row.status,
        decision=row.decision,
    )


def _as_date(value: Any) -> Any:
    return dt.date.fromisoformat(str(value)[:10]) if value is not None else None


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)


def register(engine: Engine, record: ModelRecord) -> None:
    """Insert `record` (a re-run of the same model id replaces its undecided row)."""
    table = schema.model_registry
    with engine.begin() as conn:
        conn.execute(table.delete().where(table.c.model_id == record.model_id))
        conn.execute(
            table.insert().values(
                model_id=record.model_id,
                model_kind=record.model_kind,
                trained_as_of=record.trained_as_of,
                data_start=record.data_start,
                data_end=record.data_end,
                params=record.params,
                metrics=record.metrics,
                code_version=record.code_version,
                artifact_uri=record.artifact_uri,
                status=record.status,
                decision=record.decision,
                registered_at=_now(),
            )
        )


def get(engine: Engine, model_id: str) -> ModelRecord | None:
    with engine.connect() as conn:
        row = conn.execute(select(schema.model_registry).where(schema.model_registry.c.model_id == model_id)).first()
    return _record(row) if row else None


def champion(engine: Engine, kind: str = KIND) -> ModelRecord | None:
    t = schema.model_registry.c
    with engine.connect() as conn:
        row = conn.execute(
            select(schema.model_registry).where(and_(t.model_kind == kind, t.status == CHAMPION))
        ).first()
    return _record(row) if row else None


def history(engine: Engine, kind: str = KIND) -> list[ModelRecord]:
    """Every model of `kind`, newest registration first."""
    t = schema.model_registry.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(schema.model_registry).where(t.model_kind == kind).order_by(t.registered_at.desc())
        ).all()
    return [_record(r) for r in rows]


def set_metrics(engine: Engine, model_id: str, metrics: dict[str, Any]) -> None:
    t = schema.model_registry
    with engine.begin() as conn:
        conn.execute(update(t).where(t.c.model_id == model_id).values(metrics=metrics))


def promote(engine: Engine, model_id: str, decision: str, kind: str = KIND) -> None:
    """Make `model_id` the one champion of its kind (the previous one retires), in one transaction."""
    t = schema.model_registry
    with engine.begin() as conn:
        target = conn.execute(select(t.c.model_kind).where(t.c.model_id == model_id)).scalar_one_or_none()
        if target != kind:
            raise LookupError(f"no {kind} model {model_id!r} in model_registry")
        conn.execute(
            update(t).where(and_(t.c.model_kind == kind, t.c.status == CHAMPION, t.c.model_id != model_id))
            .values(status=RETIRED)
        )
        conn.execute(
            update(t).where(t.c.model_id == model_id).values(status=CHAMPION, decision=decision, promoted_at=_now())
        )
    log.info("promoted %s: %s", model_id, decision)


def reject(engine: Engine, model_id: str, decision: str) -> None:
    t = schema.model_registry
    with engine.begin() as conn:
        conn.execute(update(t).where(t.c.model_id == model_id).values(status=REJECTED, decision=decision))
    log.warning("kept the champion, rejected %s: %s", model_id, decision)
