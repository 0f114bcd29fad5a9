"""Audience composition on both backends: figures per country and segment, the four-fifths warning,
the profile snapshot the run used, the thresholds' validation, and the warning in the selection log."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import Engine, insert

from marketflow.audiences.composition import (
    THRESHOLDS_ENV,
    AudienceThresholds,
    composition_warnings,
    run_composition,
)
from marketflow.campaigns.pipeline import select_audience
from marketflow.campaigns.runs import plan_run
from marketflow.warehouse import schema, warehouse_engine
from tests.campaigns.seed import DAY, Customer, make_config, seed_catalogue, seed_customers, seeded_inputs

RUN_KEY = f"winback:{DAY.isoformat()}"
LATER = DAY + dt.timedelta(days=7)


def _profile(customer_id: str, day: dt.date, segment: str) -> dict[str, Any]:
    return {
        "as_of_date": day, "customer_id": customer_id, "recency_days": 100, "frequency": 3, "monetary": 300.0,
        "tenure_days": 300, "avg_basket_value": 100.0, "return_rate": 0.0, "purchases_30d": 0, "purchases_90d": 1,
        "purchases_365d": 3, "marketing_consent": True, "r_score": 2, "f_score": 3, "m_score": 3, "segment": segment,
    }


def seed_run(
    engine: Engine,
    members: list[tuple[str, str | None, str, str, str | None]],
    later_segment: str = "champions",
) -> None:
    """One run selecting from the profiles of DAY: (customer, country or None for no customers row,
    segment on DAY, arm, exclusion reason); a later snapshot puts everyone in `later_segment`."""
    with engine.begin() as conn:
        conn.execute(insert(schema.campaign_runs).values(
            run_key=RUN_KEY, campaign="winback", run_day=DAY, send_mode="live", status="selected",
            inputs={"orders": DAY.isoformat(), "profiles": DAY.isoformat()}))
        known = [(c, country) for c, country, *_ in members if country is not None]
        conn.execute(insert(schema.customers), [
            {"customer_id": c, "country": country, "first_order_date": dt.date(2011, 1, 5), "last_order_date": DAY}
            for c, country in known
        ])
        conn.execute(insert(schema.customer_profiles), [_profile(c, DAY, segment) for c, _, segment, *_ in members]
                     + [_profile(c, LATER, later_segment) for c, *_ in members])
        conn.execute(insert(schema.audience_members), [
            {"run_key": RUN_KEY, "customer_id": c, "arm": arm, "exclusion_reason": reason}
            for c, _, _, arm, reason in members
        ])


def _people(prefix: str, n: int, country: str, segment: str, arm: str, reason: str | None = None) -> list[Any]:
    return [(f"{prefix}{i:03d}", country, segment, arm, reason) for i in range(n)]


@pytest.fixture
def engine(warehouse_url: str) -> Engine:
    return warehouse_engine(warehouse_url)


def test_figures_per_country_and_segment_add_up(engine: Engine) -> None:
    seed_run(engine, [
        *_people("U", 3, "United Kingdom", "at_risk", "treatment"),
        *_people("V", 1, "United Kingdom", "loyal", "control"),
        *_people("W", 2, "United Kingdom", "loyal", "excluded", "no_consent"),
        *_people("G", 1, "Germany", "at_risk", "treatment"),
        *_people("H", 2, "Germany", "at_risk", "excluded", "over_max_size"),
        *_people("F", 1, "France", "loyal", "treatment"),
        ("X001", None, "loyal", "excluded", "no_email"),  # no customers row
    ])
    with engine.connect() as conn:
        composition = run_composition(conn, RUN_KEY)
    assert composition is not None
    assert (composition.eligible, composition.audience, composition.profiles_as_of) == (11, 6, DAY)
    assert composition.selection_rate == pytest.approx(6 / 11)
    countries = {g.name: (g.eligible, g.audience, g.exclusions) for g in composition.by_country}
    assert countries == {
        "United Kingdom": (6, 4, {"no_consent": 2}),
        "Germany": (3, 1, {"over_max_size": 2}),
        "France": (1, 1, {}),
        "unknown": (1, 0, {"no_email": 1}),
    }
    assert [g.name for g in composition.by_country] == ["United Kingdom", "Germany", "France", "unknown"]
    segments = {g.name: (g.eligible, g.audience) for g in composition.by_segment}
    assert segments == {"at_risk": (6, 4), "loyal": (5, 2)}
    for groups in (composition.by_country, composition.by_segment):
        assert sum(g.eligible_share for g in groups) == pytest.approx(1.0)
        assert sum(g.audience_share for g in groups) == pytest.approx(1.0)
    germany = composition.by_country[1]
    assert germany.selection_rate == pytest.approx(1 / 3)
    assert germany.selection_ratio == pytest.approx((1 / 3) / (6 / 11))
    assert (germany.top_exclusion, germany.excluded) == ("over_max_size", 2)
    assert germany.eligible_share == pytest.approx(3 / 11) and germany.audience_share == pytest.approx(1 / 6)


def test_an_unknown_run_has_no_composition(engine: Engine) -> None:
    with engine.connect() as conn:
        assert run_composition(conn, "winback:1999-01-01") is None


def _four_fifths_run(engine: Engine) -> None:
    """Overall 56 of 85 selected (65.9 %); Germany 20 of 40 (50 %, ratio 0.76), mostly for consent;
    France 0 of 5, a group too small to judge."""
    seed_run(engine, [
        *_people("U", 36, "United Kingdom", "loyal", "treatment"),
        *_people("V", 4, "United Kingdom", "loyal", "excluded", "frequency_cap"),
        *_people("G", 20, "Germany", "loyal", "treatment"),
        *_people("H", 15, "Germany", "loyal", "excluded", "no_consent"),
        *_people("I", 5, "Germany", "loyal", "excluded", "over_max_size"),
        *_people("F", 5, "France", "loyal", "excluded", "over_max_size"),
    ])


def test_the_four_fifths_warning_names_the_run_group_rates_and_main_exclusion(engine: Engine) -> None:
    _four_fifths_run(engine)
    with engine.connect() as conn:
        composition = run_composition(conn, RUN_KEY)
    assert composition is not None
    (warning,) = composition_warnings(composition, AudienceThresholds())
    assert warning.startswith(f"{RUN_KEY}: country Germany was selected at 50.0% of its 40 eligible customers "
                              "against 65.9% overall (ratio 0.76, below 0.80)")
    assert warning.endswith("no_consent, a consent reason, which always wins (15 of 20 left out)")
    # France (ratio 0) is too small to warn about with the default 30, and is warned about at 5
    small_groups = composition_warnings(composition, AudienceThresholds(min_group_customers=5))
    assert len(small_groups) == 2
    assert "country France was selected at 0.0%" in small_groups[1]
    assert small_groups[1].endswith("over_max_size, a campaign rule (5 of 5 left out)")
    assert composition_warnings(composition, AudienceThresholds(min_selection_ratio=0.75)) == []


def test_small_countries_are_summed_as_one_line(engine: Engine) -> None:
    _four_fifths_run(engine)
    with engine.connect() as conn:
        composition = run_composition(conn, RUN_KEY)
    assert composition is not None
    shown = composition.countries_shown(min_group_customers=30)
    assert [(g.name, g.eligible, g.audience) for g in shown] == [
        ("Germany", 40, 20), ("United Kingdom", 40, 36), ("other countries", 5, 0)
    ]
    assert shown[-1].eligible_share == pytest.approx(5 / 85) and shown[-1].selection_ratio == 0.0
    assert shown[-1].exclusions == {"over_max_size": 5}
    assert [g.name for g in composition.countries_shown(min_group_customers=1)] == ["Germany", "United Kingdom", "France"]


def test_the_segment_is_the_one_in_the_snapshot_the_run_used(engine: Engine) -> None:
    seed_run(engine, [
        *_people("A", 2, "United Kingdom", "at_risk", "treatment"),
        *_people("B", 1, "United Kingdom", "cant_lose", "excluded", "bought_recently"),
    ], later_segment="champions")
    with engine.connect() as conn:
        composition = run_composition(conn, RUN_KEY)
    assert composition is not None
    assert {g.name: (g.eligible, g.audience) for g in composition.by_segment} == {"at_risk": (2, 2), "cant_lose": (1, 0)}
    with engine.begin() as conn:  # a run whose inputs name no profile snapshot cannot say
        conn.execute(schema.campaign_runs.update().values(inputs={"orders": DAY.isoformat()}))
    with engine.connect() as conn:
        unknown = run_composition(conn, RUN_KEY)
    assert unknown is not None and [(g.name, g.eligible) for g in unknown.by_segment] == [("unknown", 3)]


def test_thresholds_come_from_the_env_and_errors_name_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    assert AudienceThresholds.from_env() == AudienceThresholds(min_selection_ratio=0.8, min_group_customers=30)
    monkeypatch.setenv(THRESHOLDS_ENV, '{"min_selection_ratio": 0.9, "min_group_customers": 50}')
    assert AudienceThresholds.from_env() == AudienceThresholds(min_selection_ratio=0.9, min_group_customers=50)
    monkeypatch.setenv(THRESHOLDS_ENV, '{"min_selection_ratio": 1.5}')
    with pytest.raises(ValidationError, match="min_selection_ratio"):
        AudienceThresholds.from_env()
    monkeypatch.setenv(THRESHOLDS_ENV, '{"min_group_size": 10}')
    with pytest.raises(ValidationError, match=r"min_group_size\n  Extra inputs are not permitted"):
        AudienceThresholds.from_env()


def test_selection_logs_the_warning_and_selects_as_before(
    warehouse_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    engine = warehouse_engine(warehouse_url)
    seed_catalogue(engine)
    people = [Customer(f"2{i:04d}", country="Germany", consent=i >= 20) for i in range(40)]
    people += [Customer(f"3{i:04d}") for i in range(40)]
    seed_customers(engine, people)
    with engine.begin() as conn:
        conn.execute(insert(schema.customers), [
            {"customer_id": c.customer_id, "country": c.country, "first_order_date": dt.date(2011, 1, 5),
             "last_order_date": DAY}
            for c in people
        ])
    config = make_config(audience={"segments": ["at_risk"]})
    plan = plan_run(config.name, DAY, today=DAY)
    with caplog.at_level(logging.WARNING, logger="marketflow.campaigns.pipeline"):
        summary = select_audience(engine, config, plan, seeded_inputs(plan.day))
    assert (summary["matched"], summary["excluded"]) == (80, {"opted_out": 20})
    assert summary["treatment"] + summary["control"] == 60
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name == "marketflow.campaigns.pipeline"]
    assert warnings == [
        f"{plan.run_key}: country Germany was selected at 50.0% of its 40 eligible customers against 75.0% overall "
        "(ratio 0.67, below 0.80); most common exclusion there: opted_out, a consent reason, which always wins "
        "(20 of 20 left out)"
    ]
