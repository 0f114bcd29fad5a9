"""Propensity rows of the shared `model_registry` table, and their artifacts.

The recommender has no registry helpers to reuse yet (`marketflow.recommend` has no registry
module), so these are the propensity stage's own. A model's id is derived from its artifact, so
training twice on the same data and seed registers one model, not two.

Which model scores day D: the newest registered propensity model trained on or before D and less
than `retrain_after_days` old on D; when there is none, `score_audiences` trains one as of D. A new
model becomes champion unless a newer one already is (a backfill never demotes today's model).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

import fsspec
from sqlalchemy import Connection, insert, select, update

from marketflow.propensity.model import ARTIFACT_FORMAT
from marketflow.warehouse.schema import model_registry

MODEL_KIND = "propensity"


@dataclass(frozen=True)
class RegisteredModel:
    model_id: str
    trained_as_of: dt.date
    artifact_uri: str


def model_id_for(trained_as_of: dt.date, artifact: str) -> str:
    digest = hashlib.sha256(artifact.encode("utf-8")).hexdigest()[:12]
    return f"{MODEL_KIND}-{trained_as_of:%Y%m%d}-{digest}"


def write_artifact(store: str, model_id: str, artifact: str) -> str:
    """Write the artifact under `store` (a folder or fsspec URL); returns its URI."""
    uri = f"{store.rstrip('/')}/{MODEL_KIND}/{model_id}.json"
    fs, path = fsspec.core.url_to_fs(uri)
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    with fs.open(path, "w") as handle:
        handle.write(artifact)
    return uri


def read_artifact(uri: str) -> str:
    with fsspec.open(uri, "r") as handle:
        return handle.read()


def _as_date(value: object) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))


def usable_model(conn: Connection, as_of: dt.date, max_age_days: int) -> RegisteredModel | None:
    """The newest propensity model trained in (as_of - max_age_days, as_of], if any."""
    r = model_registry.c
    stmt = (
        select(r.model_id, r.trained_as_of, r.artifact_uri)
        .where(
            r.model_kind == MODEL_KIND,
            r.status.in_(("champion", "retired")),
            r.trained_as_of <= as_of,
            r.trained_as_of > as_of - dt.timedelta(days=max_age_days),
        )
        .order_by(r.trained_as_of.desc(), r.registered_at.desc())
        .limit(1)
    )
    row = conn.execute(stmt).first()
    return None if row is None else RegisteredModel(row.model_id, _as_date(row.trained_as_of), row.artifact_uri)


def registered(conn: Connection, model_id: str) -> RegisteredModel:
    r = model_registry.c
    row = conn.execute(select(r.model_id, r.trained_as_of, r.artifact_uri).where(r.model_id == model_id)).one()
    return RegisteredModel(row.model_id, _as_date(row.trained_as_of), row.artifact_uri)


def register_and_promote(
    conn: Connection,
    *,
    model_id: str,
    trained_as_of: dt.date,
    data_start: dt.date,
    data_end: dt.date,
    params: dict,
    metrics: dict,
    artifact_uri: str,
) -> str:
    """Insert the model (once per id) and make it champion unless a newer champion exists; returns
    its status. The old champion is retired with the reason in `decision`."""
    r = model_registry.c
    existing = conn.execute(select(r.status).where(r.model_id == model_id)).scalar_one_or_none()
    if existing is not None:
        return existing
    newer = conn.execute(
        select(r.model_id).where(r.model_kind == MODEL_KIND, r.status == "champion", r.trained_as_of > trained_as_of)
    ).first()
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    status = "retired" if newer else "champion"
    decision = (
        f"trained for a backfill; champion {newer.model_id} is newer"
        if newer
        else "scheduled retrain: the previous champion was missing or older than the retrain interval"
    )
    if not newer:
        conn.execute(
            update(model_registry)
            .where(r.model_kind == MODEL_KIND, r.status == "champion")
            .values(status="retired", decision=f"replaced by {model_id}")
        )
    conn.execute(
        insert(model_registry).values(
            model_id=model_id,
            model_kind=MODEL_KIND,
            trained_as_of=trained_as_of,
            data_start=data_start,
            data_end=data_end,
            params=params,
            metrics=metrics,
            code_version=ARTIFACT_FORMAT,
            artifact_uri=artifact_uri,
            status=status,
            decision=decision,
            registered_at=now,
            promoted_at=None if newer else now,
        )
    )
    return status
