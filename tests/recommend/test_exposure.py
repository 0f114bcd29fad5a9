"""Exposure of served lists, on both warehouses: figures worked out by hand, and the warnings."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from sqlalchemy import insert

from marketflow.recommend.exposure import Exposure, ExposureThresholds, exposure_warnings, gini, served_exposure
from marketflow.warehouse import schema, warehouse_engine

DAY = dt.date(2011, 10, 2)
CATALOGUE = [f"P{i:02d}" for i in range(10)]  # P00 is the most purchased, P09 the least


def test_gini_of_even_and_concentrated_counts() -> None:
    assert gini(np.array([3, 3, 3, 3])) == 0.0
    assert gini(np.array([0, 0, 0, 4])) == pytest.approx(0.75)  # (n - 1) / n: all slots on one of four items
    assert gini(np.array([])) == 0.0


def _seed(url: str) -> None:
    engine = warehouse_engine(url)
    with engine.begin() as conn:
        conn.execute(insert(schema.products), [
            {"stock_code": code, "description": code, "unit_price": 1.0, "first_seen": DAY - dt.timedelta(days=30), "last_seen": DAY}
            for code in CATALOGUE
        ] + [{"stock_code": "LATER", "description": "new", "unit_price": 1.0, "first_seen": DAY + dt.timedelta(days=1),
              "last_seen": DAY + dt.timedelta(days=1)}])
        conn.execute(insert(schema.product_stats), [
            {"as_of_date": DAY, "stock_code": code, "purchases_30d": 10 - i, "purchases_prev_30d": 0, "customers_30d": 1,
             "units_30d": 1, "revenue_30d": 1.0, "trend_ratio": 1.0, "trend": "steady"}
            for i, code in enumerate(CATALOGUE)
        ])
        conn.execute(insert(schema.model_registry), [
            {"model_id": model_id, "model_kind": "recommender", "trained_as_of": day, "status": status,
             "registered_at": dt.datetime(2011, 10, 1)}
            for model_id, day, status in (("old", DAY - dt.timedelta(days=7), "retired"), ("new", DAY, "champion"))
        ])
        # old: 3 customers x 2 slots over P00..P05, evenly; new: every slot on P00 and P01
        lists = {"old": [["P00", "P01"], ["P02", "P03"], ["P04", "P05"]], "new": [["P00", "P01"]] * 3}
        conn.execute(insert(schema.recommendations), [
            {"as_of_date": DAY - dt.timedelta(days=7) if model_id == "old" else DAY, "customer_id": f"C{c}",
             "rank": rank, "model_id": model_id, "stock_code": code, "score": 1.0}
            for model_id, per_customer in lists.items()
            for c, codes in enumerate(per_customer)
            for rank, code in enumerate(codes, start=1)
        ])


def test_served_exposure_by_hand_and_a_warning_when_the_new_model_narrows(warehouse_url: str) -> None:
    _seed(warehouse_url)
    with warehouse_engine(warehouse_url).connect() as conn:
        new, old = served_exposure(conn, "new"), served_exposure(conn, "old")
        assert served_exposure(conn, "never-served") is None
    assert isinstance(new, Exposure) and isinstance(old, Exposure)
    assert (new.served_on, new.customers, new.slots, new.catalogue) == (DAY, 3, 6, 10)  # LATER is not in it yet
    assert new.coverage == pytest.approx(0.2) and old.coverage == pytest.approx(0.6)
    assert new.gini == pytest.approx(gini(np.array([3, 3] + [0] * 8))) == pytest.approx(0.8)
    assert old.gini == pytest.approx(gini(np.array([1] * 6 + [0] * 4))) == pytest.approx(0.4)
    assert new.popular_share == pytest.approx(0.5)  # the top tenth is P00: 3 of 6 slots
    assert old.popular_share == pytest.approx(1 / 6)
    assert new.popular_purchase_share == pytest.approx(10 / 55)
    warnings = exposure_warnings(new, old, ExposureThresholds())
    assert len(warnings) == 2 and "concentrates exposure: Gini 0.800 against 0.400 for old" in warnings[0]
    assert "shows less of the catalogue: 20.0% against 60.0% for old" in warnings[1]
    assert exposure_warnings(new, old, ExposureThresholds(max_gini_increase=0.5, max_coverage_drop=0.7)) == []


def test_thresholds_come_from_the_environment_and_name_a_bad_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARKETFLOW_EXPOSURE_THRESHOLDS", '{"max_gini_increase": 0.1}')
    assert ExposureThresholds.from_env() == ExposureThresholds(max_gini_increase=0.1)
    monkeypatch.setenv("MARKETFLOW_EXPOSURE_THRESHOLDS", '{"max_gini_increse": 0.1}')
    with pytest.raises(ValueError, match="max_gini_increse"):
        ExposureThresholds.from_env()


def test_the_models_page_compares_the_serving_lists_with_its_predecessors(warehouse_url: str) -> None:
    from marketflow.ui.model_report import model_history, served_exposures

    _seed(warehouse_url)
    with warehouse_engine(warehouse_url).connect() as conn:
        figures, warnings = served_exposures(conn, model_history(conn)["recommender"])
    assert [f.model_id for f in figures] == ["new", "old"] and len(warnings) == 2
