"""Quality by customer group: the group metrics agree with the overall ones, segments are read as of
the day before the hold-out (both warehouses), and the warnings and their thresholds."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import insert

from marketflow.recommend.evaluate import VARIANTS, HoldoutTask
from marketflow.recommend.fairness import (
    CustomerGroups,
    ModelGroupQuality,
    QualityThresholds,
    load_customer_groups,
    quality_by_group,
    quality_warnings,
)
from marketflow.recommend.interactions import History, split_at
from marketflow.warehouse import schema, warehouse_engine
from tests.recommend.conftest import planted_interactions

HOLDOUT_START = pd.Timestamp("2024-04-22")  # the planted shop's last four weeks


@pytest.fixture(scope="module")
def task_and_scores() -> tuple[HoldoutTask, np.ndarray]:
    """The planted shop's hold-out, scored at random (any scores will do to compare metrics)."""
    before, holdout = split_at(planted_interactions(), HOLDOUT_START)
    task = HoldoutTask(History.from_frame(before, as_of=HOLDOUT_START), holdout)
    return task, np.random.default_rng(3).random((len(task.rows), task.history.n_items))


def _customers(task: HoldoutTask) -> list[str]:
    return [str(customer) for customer in task.history.user_ids[task.rows]]


def test_one_group_of_everyone_has_the_overall_figures(task_and_scores: tuple[HoldoutTask, np.ndarray]) -> None:
    task, scores = task_and_scores
    by_group = task.evaluate_groups(scores, dict.fromkeys(_customers(task), "everyone"))
    assert by_group == {"everyone": task.evaluate_scores(scores)}


def test_groups_split_the_customers_and_unlisted_ones_are_unknown(task_and_scores: tuple[HoldoutTask, np.ndarray]) -> None:
    task, scores = task_and_scores
    customers = _customers(task)
    groups = {c: "even" if int(c.split("-")[1]) % 2 == 0 else "odd" for c in customers[: len(customers) * 2 // 3]}
    by_group = task.evaluate_groups(scores, groups)
    overall = task.evaluate_scores(scores)
    assert set(by_group) == {"even", "odd", "unknown"}
    for variant in VARIANTS:
        sizes = {name: figures[variant]["customers"] for name, figures in by_group.items()}
        assert sum(sizes.values()) == overall[variant]["customers"] > 0
        # NDCG@10 and recall@10 are means over customers: the groups' weighted by size is the overall one
        for metric in ("ndcg@10", "recall@10"):
            pooled = sum(figures[variant][metric] * sizes[name] for name, figures in by_group.items())
            assert pooled / overall[variant]["customers"] == pytest.approx(overall[variant][metric])
    assert by_group["unknown"]["all"]["customers"] == len(customers) - len(groups)


def test_a_groups_figures_are_those_of_a_hold_out_of_its_customers_only(
    task_and_scores: tuple[HoldoutTask, np.ndarray],
) -> None:
    task, scores = task_and_scores
    members = {c for c in _customers(task) if c.endswith("7")}
    _, holdout = split_at(planted_interactions(), HOLDOUT_START)
    alone = HoldoutTask(task.history, holdout[holdout["user"].isin(members)])
    in_group = np.isin(task.rows, alone.rows)
    expected = alone.evaluate_scores(scores[in_group])
    got = task.evaluate_groups(scores, dict.fromkeys(members, "sevens"))["sevens"]
    for variant in VARIANTS:
        assert got[variant] == pytest.approx(expected[variant])


def test_compact_figures_keep_customers_and_round(task_and_scores: tuple[HoldoutTask, np.ndarray]) -> None:
    task, scores = task_and_scores
    figures = quality_by_group(task, scores, CustomerGroups(segment={}, country={}, segments_as_of=None))
    overall = task.evaluate_scores(scores)["all"]
    assert figures["segments_as_of"] is None
    assert figures["segment"] == figures["country"] == {
        "unknown": {"customers": overall["customers"], "ndcg@10": round(overall["ndcg@10"], 4),
                    "recall@10": round(overall["recall@10"], 4)}
    }


def _profile(day: dt.date, customer_id: str, segment: str) -> dict:
    return {
        "as_of_date": day, "customer_id": customer_id, "country": None, "recency_days": 1, "frequency": 1,
        "monetary": 1.0, "tenure_days": 1, "avg_basket_value": 1.0, "return_rate": 0.0, "purchases_30d": 1,
        "purchases_90d": 1, "purchases_365d": 1, "marketing_consent": False, "r_score": 3, "f_score": 3,
        "m_score": 3, "segment": segment,
    }


def test_segments_are_read_as_of_the_day_before_the_hold_out(warehouse_url: str) -> None:
    start = dt.date(2011, 9, 5)
    engine = warehouse_engine(warehouse_url)
    with engine.begin() as conn:
        conn.execute(insert(schema.customer_profiles), [
            _profile(start - dt.timedelta(days=8), "A", "new"),
            _profile(start - dt.timedelta(days=1), "A", "loyal"),
            _profile(start - dt.timedelta(days=1), "B", "at_risk"),
            _profile(start, "A", "champions"),  # made with the hold-out's first day: not to be used
            _profile(start, "C", "new"),
            _profile(start + dt.timedelta(days=7), "A", "champions"),
        ])
        conn.execute(insert(schema.customers), [
            {"customer_id": c, "country": country, "first_order_date": start, "last_order_date": start}
            for c, country in (("A", "France"), ("B", "United Kingdom"))
        ])
    groups = load_customer_groups(engine, start)
    assert groups.segments_as_of == start - dt.timedelta(days=1)
    assert groups.segment == {"A": "loyal", "B": "at_risk"}
    assert groups.country == {"A": "France", "B": "United Kingdom"}
    no_orders_yet = load_customer_groups(engine, start - dt.timedelta(days=3))
    assert (no_orders_yet.segments_as_of, no_orders_yet.segment) == (None, {}), "no snapshot that day, no orders"


def test_without_a_stored_snapshot_segments_are_built_as_the_profile_stage_would_store_them(warehouse_url: str) -> None:
    from marketflow.profiles.settings import ProfileSettings
    from marketflow.profiles.warehouse import build_days
    from tests.profiles.factories import line

    engine = warehouse_engine(warehouse_url)
    lines = [line(f"2011-08-{day:02d}", f"5{day}{n}", "22423", 2, 12.75, f"1{n:04d}") for n in range(40)
             for day in range(1, 2 + n % 9)]
    lines += [line("2011-09-05", "59999", "22423", 1, 12.75, "10001")]  # the hold-out's first day: not seen
    with engine.begin() as conn:
        conn.execute(insert(schema.orders), lines)
    start = dt.date(2011, 9, 5)
    built = load_customer_groups(engine, start)
    assert built.segments_as_of == start - dt.timedelta(days=1)
    assert len(built.segment) == 40 and len(set(built.segment.values())) > 1, built.segment
    build_days(engine, [start - dt.timedelta(days=1)], ProfileSettings())
    assert load_customer_groups(engine, start).segment == built.segment


def _figures(**segments: tuple[int, float]) -> dict:
    return {"segment": {name: {"customers": n, "ndcg@10": ndcg, "recall@10": 0.1} for name, (n, ndcg) in segments.items()},
            "country": {}}


def test_a_drop_beyond_the_threshold_in_a_big_group_is_warned_about_and_a_small_group_never() -> None:
    new = ModelGroupQuality("rec-new", _figures(loyal=(120, 0.20), lost=(12, 0.05), champions=(300, 0.34), fresh=(50, 0.3)))
    old = ModelGroupQuality("rec-old", _figures(loyal=(118, 0.30), lost=(12, 0.30), champions=(290, 0.40)))
    warnings = quality_warnings(new, old, QualityThresholds())
    # loyal: -33 %; champions: -15 % (within 20 %); lost: -83 % but 12 customers; fresh: nothing to compare
    assert warnings == [
        "rec-new recommends worse to segment loyal (120 customers): NDCG@10 0.200 against 0.300 for rec-old "
        "(a drop of more than 20%)"
    ]
    assert quality_warnings(new, old, QualityThresholds(max_group_ndcg_drop=0.5)) == []
    assert len(quality_warnings(new, old, QualityThresholds(max_group_ndcg_drop=0.1, min_group_customers=10))) == 3


def test_thresholds_come_from_the_environment_and_name_a_bad_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARKETFLOW_QUALITY_THRESHOLDS", '{"min_group_customers": 100}')
    assert QualityThresholds.from_env() == QualityThresholds(min_group_customers=100)
    monkeypatch.setenv("MARKETFLOW_QUALITY_THRESHOLDS", '{"max_group_ndcg_dorp": 0.1}')
    with pytest.raises(ValueError, match="max_group_ndcg_dorp"):
        QualityThresholds.from_env()
    monkeypatch.setenv("MARKETFLOW_QUALITY_THRESHOLDS", '{"max_group_ndcg_drop": 1.5}')
    with pytest.raises(ValueError, match="max_group_ndcg_drop"):
        QualityThresholds.from_env()
