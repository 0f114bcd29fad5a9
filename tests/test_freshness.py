"""How fresh a day's inputs are: each input's newest usable day, and the message that blocks work."""

from __future__ import annotations

import datetime as dt

import pytest

from marketflow.freshness import StaleInputs, check, day_is_ingested, orders_as_of, require
from marketflow.warehouse import schema, warehouse_engine

DAY = dt.date(2011, 10, 2)


def _ingested(conn, day: dt.date, kinds=("orders", "customers"), status: str = "loaded") -> None:
    conn.execute(
        schema.ingest_days.insert(),
        [{"file_date": day, "file_kind": k, "status": status, "rows_read": 1, "rows_loaded": 1, "rows_quarantined": 0}
         for k in kinds],
    )


def _model(conn, model_id: str, kind: str) -> None:
    conn.execute(
        schema.model_registry.insert(),
        [{"model_id": model_id, "model_kind": kind, "trained_as_of": DAY, "status": "champion",
          "registered_at": dt.datetime(2011, 10, 1)}],
    )


def _profile(conn, day: dt.date) -> None:
    conn.execute(
        schema.customer_profiles.insert(),
        [{"as_of_date": day, "customer_id": "1", "recency_days": 1, "frequency": 1, "monetary": 1.0, "tenure_days": 1,
          "avg_basket_value": 1.0, "return_rate": 0.0, "purchases_30d": 1, "purchases_90d": 1, "purchases_365d": 1,
          "marketing_consent": True, "r_score": 1, "f_score": 1, "m_score": 1, "segment": "new"}],
    )


def test_each_input_is_as_of_its_newest_day_on_or_before_the_day(warehouse_url: str) -> None:
    engine = warehouse_engine(warehouse_url)
    with engine.begin() as conn:
        _ingested(conn, DAY - dt.timedelta(days=2))
        _ingested(conn, DAY - dt.timedelta(days=1), status="no_trading")  # a closed day counts as ingested
        _ingested(conn, DAY, kinds=("orders",))  # the CRM export of DAY is missing: DAY is not complete
        _ingested(conn, DAY + dt.timedelta(days=1))  # later days never count for DAY
        _model(conn, "rec-1", "recommender")
        _model(conn, "prop-1", "propensity")
        _profile(conn, DAY)
        _profile(conn, DAY + dt.timedelta(days=1))
        conn.execute(
            schema.audience_scores.insert(),
            [{"as_of_date": DAY - dt.timedelta(days=3), "customer_id": "1", "model_id": "prop-1", "propensity_30d": 0.5}],
        )
        conn.execute(
            schema.recommendations.insert(),
            [{"as_of_date": DAY - dt.timedelta(days=6), "customer_id": "1", "rank": 1, "model_id": "rec-1",
              "stock_code": "22423", "score": 1.0}],
        )
        assert orders_as_of(conn, DAY) == DAY - dt.timedelta(days=1)
        assert not day_is_ingested(conn, DAY) and day_is_ingested(conn, DAY - dt.timedelta(days=1))
        freshness = check(conn, DAY, {"orders": 1, "profiles": 0, "scores": 0, "recommendations": 7})
    assert freshness.as_of_dates() == {
        "orders": "2011-10-01", "profiles": "2011-10-02", "scores": "2011-09-29", "recommendations": "2011-09-26"
    }
    assert freshness.problems == ["scores as of 2011-09-29 is 3 day(s) older than 2011-10-02 (the same day allowed)"]
    assert not freshness.fresh
    assert freshness.reason().startswith("stale or missing inputs for 2011-10-02: scores as of 2011-09-29")


def test_a_missing_input_names_its_producer_and_require_raises_with_every_problem(warehouse_url: str) -> None:
    with warehouse_engine(warehouse_url).connect() as conn:
        with pytest.raises(StaleInputs) as raised:
            require(conn, DAY, {"orders": 0, "recommendations": 7})
        assert check(conn, DAY, {}).fresh
        with pytest.raises(ValueError, match="unknown input"):
            check(conn, DAY, {"weather": 0})
    message = str(raised.value)
    assert "orders: none on or before 2011-10-02 (run ingest_orders)" in message
    assert "recommendations: none on or before 2011-10-02 (run train_recommender)" in message


def test_fresh_inputs_say_so_with_their_dates(warehouse_url: str) -> None:
    with warehouse_engine(warehouse_url).begin() as conn:
        _ingested(conn, DAY)
        _profile(conn, DAY - dt.timedelta(days=1))
        freshness = require(conn, DAY, {"orders": 0, "profiles": 1})
    assert freshness.reason() == "inputs fresh for 2011-10-02: orders as of 2011-10-02, profiles as of 2011-10-01"
