"""A campaign run's selection stores, with each treatment and control member, the exact reasons of
the score it selected them by (TreeSHAP of the model that scored them on the same snapshot row:
the contributions plus the bias give back the stored score), and none with the excluded; on both
backends, from a day scored by a model trained on real orders. Selecting again leaves the members
identical; a score nothing can explain is stored without reasons, and the run's log says so."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, func, select, update

from marketflow.campaigns.pipeline import select_audience
from marketflow.campaigns.runs import plan_run
from marketflow.propensity.features import feature_matrix
from marketflow.propensity.model import PropensityModel
from marketflow.propensity.scoring import top_reasons
from marketflow.propensity.warehouse import read_profiles, snapshot_home_market
from marketflow.warehouse import schema, warehouse_engine
from tests.campaigns.seed import make_config
from tests.propensity.scored_day import AS_OF, SETTINGS, sample_orders, scored_day, trained

AUDIENCE = 60
INPUTS = {name: AS_OF.isoformat() for name in ("orders", "profiles", "scores")}


@pytest.fixture(scope="module")
def orders(tmp_path_factory: pytest.TempPathFactory) -> pd.DataFrame:
    return sample_orders(tmp_path_factory.mktemp("sample"))


@pytest.fixture(scope="module")
def model(orders: pd.DataFrame) -> PropensityModel:
    return trained(orders)


@pytest.fixture
def engine(warehouse_url: str, orders: pd.DataFrame, model: PropensityModel, tmp_path: Path) -> Engine:
    """A scored day whose profiled customers all have an address and gave consent."""
    engine = warehouse_engine(warehouse_url)
    scored_day(engine, orders, model, tmp_path / "models")
    with engine.connect() as conn:
        customers = read_profiles(conn, AS_OF)["customer_id"].tolist()
    with engine.begin() as conn:
        conn.execute(schema.customer_contacts.insert(), [
            {"customer_id": c, "email": f"customer{c}@example.com", "updated_on": AS_OF} for c in customers
        ])
        conn.execute(schema.consent_events.insert(), [
            {"customer_id": c, "effective_date": dt.date(2011, 1, 1), "marketing_consent": True,
             "source_file": "crm-2011-01-01.csv"} for c in customers
        ])
    return engine


def members(engine: Engine, run_key: str) -> list[tuple]:
    a = schema.audience_members
    with engine.connect() as conn:
        return [tuple(row) for row in conn.execute(select(a).where(a.c.run_key == run_key).order_by(a.c.customer_id))]


def test_the_selected_members_keep_the_exact_reasons_of_the_score_that_selected_them(
    engine: Engine, model: PropensityModel
) -> None:
    config = make_config(audience={"order_by": "propensity_desc", "max_size": AUDIENCE}, control_share=0.25)
    plan = plan_run(config.name, AS_OF, today=AS_OF)
    select_audience(engine, config, plan, INPUTS)
    rows = members(engine, plan.run_key)
    a = schema.audience_members.c
    selected = [row for row in rows if row[2] in ("treatment", "control")]
    assert len(selected) == AUDIENCE and {row[2] for row in selected} == {"treatment", "control"}
    with engine.connect() as conn:
        unexplained = conn.execute(
            select(a.arm, func.count()).where(a.run_key == plan.run_key, a.top_reasons.is_(None)).group_by(a.arm)
        ).all()
        features = feature_matrix(read_profiles(conn, AS_OF, [row[1] for row in selected]), snapshot_home_market(conn, AS_OF))
    assert dict(unexplained) == {"excluded": len(rows) - AUDIENCE}, "SQL NULL for the excluded, reasons for the rest"

    features = features.loc[[row[1] for row in selected]]
    contributions = model.contributions(features)
    raw = contributions.sum(axis=1)  # the features' contributions plus the bias
    np.testing.assert_allclose(raw, model.raw_log_odds(features), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(model.platt.apply(raw), [row[5] for row in selected], rtol=1e-12)
    expected = top_reasons(contributions, model.features, SETTINGS.top_reasons)
    assert [row[6] for row in selected] == expected

    select_audience(engine, config, plan, INPUTS)
    assert members(engine, plan.run_key) == rows, "selecting the day again leaves the members identical"


def test_a_score_that_cannot_be_explained_is_stored_without_reasons_and_logged(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    scores, registry = schema.audience_scores, schema.model_registry
    with engine.begin() as conn:  # a model registered without its artifact scored everyone
        conn.execute(registry.insert().values(model_id="no-artifact", model_kind="propensity", trained_as_of=AS_OF,
                                              status="retired", registered_at=dt.datetime(2011, 10, 21)))
        conn.execute(update(scores).where(scores.c.as_of_date == AS_OF).values(model_id="no-artifact"))
    config = make_config(audience={"order_by": "propensity_desc", "max_size": 5}, control_share=0.0)
    plan = plan_run(config.name, AS_OF, today=AS_OF)
    with caplog.at_level(logging.WARNING, logger="marketflow.audiences.selection"):
        select_audience(engine, config, plan, INPUTS)
    selected = [row for row in members(engine, plan.run_key) if row[2] == "treatment"]
    assert len(selected) == 5 and all(row[6] is None and row[5] is not None for row in selected)
    assert "5 of 5 selected customers' scores of 2011-10-21 cannot be explained exactly" in caplog.text
