"""Which registered model scores a day, when one is retrained, and who is champion, on both backends."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import select

from marketflow.propensity import registry
from marketflow.warehouse import schema, warehouse_engine


def register(url: str, trained_as_of: dt.date, store: Path) -> tuple[str, str]:
    artifact = f'{{"trained_as_of": "{trained_as_of}"}}'
    model_id = registry.model_id_for(trained_as_of, artifact)
    with warehouse_engine(url).begin() as conn:
        status = registry.register_and_promote(
            conn, model_id=model_id, trained_as_of=trained_as_of, data_start=dt.date(2010, 12, 1),
            data_end=trained_as_of, params={}, metrics={},
            artifact_uri=registry.write_artifact(str(store), model_id, artifact),
        )
    return model_id, status


def statuses(url: str) -> dict[str, str]:
    r = schema.model_registry.c
    with warehouse_engine(url).connect() as conn:
        return dict(conn.execute(select(r.model_id, r.status)).all())


def usable(url: str, day: dt.date) -> str | None:
    with warehouse_engine(url).connect() as conn:
        found = registry.usable_model(conn, day, max_age_days=7)
    return None if found is None else found.model_id


def test_a_model_serves_for_seven_days_then_a_newer_one_takes_over(warehouse_url: str, tmp_path: Path) -> None:
    march, status = register(warehouse_url, dt.date(2011, 3, 1), tmp_path)
    assert status == "champion"
    assert usable(warehouse_url, dt.date(2011, 2, 28)) is None, "never a model trained after the day"
    assert usable(warehouse_url, dt.date(2011, 3, 7)) == march
    assert usable(warehouse_url, dt.date(2011, 3, 8)) is None, "7 days old: retrain"

    later, status = register(warehouse_url, dt.date(2011, 3, 8), tmp_path)
    assert status == "champion"
    assert statuses(warehouse_url) == {march: "retired", later: "champion"}
    assert usable(warehouse_url, dt.date(2011, 3, 5)) == march, "a backfilled day keeps its own model"


def test_a_backfill_model_never_demotes_a_newer_champion_and_registers_once(warehouse_url: str, tmp_path: Path) -> None:
    june, _ = register(warehouse_url, dt.date(2011, 6, 1), tmp_path)
    backfill, status = register(warehouse_url, dt.date(2011, 2, 1), tmp_path)
    assert status == "retired"
    assert register(warehouse_url, dt.date(2011, 2, 1), tmp_path) == (backfill, "retired")
    assert statuses(warehouse_url) == {june: "champion", backfill: "retired"}
    with warehouse_engine(warehouse_url).connect() as conn:
        uri = registry.registered(conn, backfill).artifact_uri
    assert registry.read_artifact(uri) == '{"trained_as_of": "2011-02-01"}'
