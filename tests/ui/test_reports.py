"""The report queries on SQLite and PostgreSQL: attribution window edges, arms, variants, masking."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import insert, select

from marketflow.ui.campaign_report import (
    campaign_results,
    exclusion_counts,
    sample_messages,
)
from marketflow.ui.model_report import champion, flatten_metrics, metric_names, model_history, served_group_quality
from marketflow.ui.quality_report import FailedExpectation, failed_expectations, quality_overview
from marketflow.warehouse import warehouse_engine
from marketflow.warehouse.schema import (
    audience_members,
    campaign_runs,
    customer_contacts,
    customer_profiles,
    customers,
    engagement_events,
    ingest_days,
    messages,
    model_registry,
    orders,
    quarantine,
)

RUN_DAY = dt.date(2011, 9, 1)
WINDOW = 21  # the live run records 21 days; the backfill records none (the schema's default, 14)
_line = iter(range(1, 10_000))


def _order(customer: str, days_after: int, quantity: int = 2, price: float = 5.0) -> dict:
    day = RUN_DAY + dt.timedelta(days=days_after)
    return {
        "order_date": day, "source_line": next(_line), "invoice_no": ("C" if quantity < 0 else "") + "5001",
        "stock_code": "85123A", "description": "WHITE HANGING HEART T-LIGHT HOLDER", "quantity": quantity,
        "invoice_ts": dt.datetime.combine(day, dt.time(10)), "unit_price": price, "customer_id": customer,
        "country": "United Kingdom", "is_return": quantity < 0, "source_file": f"{day}.csv",
    }


def _member(run_key: str, customer: str, arm: str, variant: str | None = None, reason: str | None = None) -> dict:
    return {"run_key": run_key, "customer_id": customer, "arm": arm, "variant": variant,
            "exclusion_reason": reason, "propensity_30d": 0.3}


@pytest.fixture
def campaign_warehouse(warehouse_url: str) -> str:
    """One live run with customers placed on each edge of the window, and one backfill run."""
    live, backfill = "winback:2011-09-01", "winback:2011-09-08"
    with warehouse_engine(warehouse_url).begin() as conn:
        conn.execute(insert(orders), [
            _order("A", 0),                  # on the run's own day: before the send, not attributed
            _order("B", 1, quantity=3),      # first day of the window
            _order("C", WINDOW),   # last day of the window
            _order("D", WINDOW + 1),  # one day late
            _order("E", 5, quantity=-1),     # a return is not a purchase
            _order("H", 3),                  # control member who buys
        ])
        conn.execute(insert(campaign_runs), [
            {"run_key": live, "campaign": "winback", "run_day": RUN_DAY, "send_mode": "live",
             "status": "reported", "audience_size": 6, "treatment_size": 4, "control_size": 3,
             "attribution_days": WINDOW, "report": None},
        ])
        conn.execute(insert(campaign_runs), [
            {"run_key": backfill, "campaign": "winback", "run_day": RUN_DAY + dt.timedelta(days=7),
             "send_mode": "backfill", "status": "rendered", "audience_size": 2, "treatment_size": 1, "control_size": 1,
             "report": None},
        ])
        conn.execute(insert(audience_members), [
            _member(live, "A", "treatment", "subject_a"), _member(live, "B", "treatment", "subject_a"),
            _member(live, "C", "treatment", "subject_b"), _member(live, "F", "treatment", "subject_b"),
            _member(live, "D", "control"), _member(live, "E", "control"), _member(live, "H", "control"),
            _member(live, "G", "excluded", reason="no_consent"), _member(live, "I", "excluded", reason="no_consent"),
            _member(live, "J", "excluded", reason="frequency_cap"),
            _member(backfill, "B", "treatment", "subject_a"), _member(backfill, "H", "control"),
        ])
        conn.execute(insert(messages), [
            {"run_key": live, "customer_id": c, "channel": "email", "status": status, "variant": v,
             "message_id": f"<{c}@t>", "recipient": None, "subject": f"Hello {c}",
             "body_text": f"Sent to {c.lower()}@example.com", "attempts": 1}
            for c, v, status in [("A", "subject_a", "sent"), ("B", "subject_a", "sent"), ("C", "subject_b", "sent"),
                                 ("F", "subject_b", "bounced")]
        ] + [
            {"run_key": backfill, "customer_id": "B", "channel": "email", "status": "rendered", "variant": "subject_a",
             "message_id": None, "recipient": "b.rendered@example.com", "subject": "Hello again", "body_text": None,
             "attempts": 0},
        ])
        conn.execute(insert(engagement_events), [
            {"event_id": f"{kind}-{c}-{n}", "message_id": f"<{c}@t>", "customer_id": c, "event_type": kind,
             "occurred_at": dt.datetime(2011, 9, 3, 9), "source": "test"}
            for c, kind, n in [("A", "open", 1), ("A", "open", 2), ("B", "open", 1), ("B", "click", 1)]
        ])
        conn.execute(insert(customer_contacts), [
            {"customer_id": c, "email": f"{c.lower()}@example.com", "updated_on": RUN_DAY} for c in "ABCF"
        ])
    return warehouse_url


def test_conversions_count_purchases_inside_the_window_only(campaign_warehouse: str) -> None:
    with warehouse_engine(campaign_warehouse).connect() as conn:
        result = campaign_results(conn)["winback"]
    live = result.runs[0]
    assert live.attribution_days == WINDOW and live.window_end == RUN_DAY + dt.timedelta(days=WINDOW)
    assert (live.sent, live.message_statuses) == (3, {"sent": 3, "bounced": 1})
    assert live.activity == [("bounced", 1), ("click", 1), ("open", 3)]
    assert (live.treatment.members, live.treatment.conversions) == (4, 2)  # B and C
    assert (live.control.members, live.control.conversions) == (3, 1)  # H; D is late, E returned
    assert live.treatment.revenue == pytest.approx(3 * 5.0 + 2 * 5.0)
    assert live.control.revenue == pytest.approx(2 * 5.0 - 5.0)  # H's purchase, E's return
    assert live.window_complete  # orders reach one day past the window's end


def test_the_stored_report_and_the_pages_give_the_same_outcomes(campaign_warehouse: str) -> None:
    """One definition: the run's stored report (computed when it ends) and the live pages agree,
    and both match the members' outcomes worked out by hand from the orders above."""
    from marketflow.campaigns.report import build_report
    from marketflow.campaigns.uplift import mean_difference

    with warehouse_engine(campaign_warehouse).connect() as conn:
        report = build_report(conn, "winback:2011-09-01")
        live = campaign_results(conn)["winback"].runs[0]
    assert report["window"] == {"attribution_days": WINDOW, "start": "2011-09-02", "end": "2011-09-22", "complete": True}
    for arm, outcome in (("treatment", live.treatment), ("control", live.control)):
        stored = report["arms"][arm]
        assert (stored["members"], stored["converted"]) == (outcome.members, outcome.conversions)
        assert stored["revenue"] == pytest.approx(outcome.revenue)
    # per member: treatment A 0 (bought on D), B 15, C 10, F 0; control D 0 (late), E -5, H 10
    expected = mean_difference([0.0, 15.0, 10.0, 0.0], [0.0, -5.0, 10.0])
    assert expected is not None and live.revenue_uplift is not None
    assert report["revenue_per_customer_uplift"] == pytest.approx(expected.to_dict())
    assert (live.revenue_uplift.low, live.revenue_uplift.high) == pytest.approx((expected.low, expected.high))
    assert report["variants"]["subject_a"]["members"] == live.variants["subject_a"].members == 2


def test_the_latest_run_is_one_day_from_airflow_and_the_warehouse_alike(campaign_warehouse: str) -> None:
    from marketflow.ui.campaign_report import latest_run
    from marketflow.ui.schedules import DagSchedule

    with warehouse_engine(campaign_warehouse).connect() as conn:
        result = campaign_results(conn)["winback"]
    stored_day = result.runs[-1].day  # 2011-09-08

    def schedule(day: dt.date | None, state: str | None) -> DagSchedule:
        return DagSchedule("campaign__winback", False, None, day, state)

    same = latest_run(result, schedule(stored_day, "success"))
    assert (same.day, same.state, same.run) == (stored_day, "success", result.runs[-1])
    newer_in_airflow = latest_run(result, schedule(stored_day + dt.timedelta(days=1), "failed"))
    assert (newer_in_airflow.day, newer_in_airflow.state, newer_in_airflow.run) == (
        stored_day + dt.timedelta(days=1), "failed", None
    )  # that day stored nothing: no numbers of another run beside it
    older_in_airflow = latest_run(result, schedule(stored_day - dt.timedelta(days=7), "success"))
    assert (older_in_airflow.day, older_in_airflow.state) == (stored_day, "rendered")
    assert latest_run(result, None).run is result.runs[-1]


def test_variants_split_the_treatment_and_share_the_control(campaign_warehouse: str) -> None:
    with warehouse_engine(campaign_warehouse).connect() as conn:
        result = campaign_results(conn, campaign="winback")["winback"]
    assert {v: (o.members, o.conversions) for v, o in result.variants.items()} == {
        "subject_a": (2, 1),
        "subject_b": (2, 1),
    }


def test_runs_that_sent_nothing_are_not_measured_or_pooled(campaign_warehouse: str) -> None:
    with warehouse_engine(campaign_warehouse).connect() as conn:
        result = campaign_results(conn)["winback"]
    backfill = result.runs[1]
    assert backfill.send_mode == "backfill" and not backfill.measured and backfill.uplift is None
    assert backfill.attribution_days == 14  # none recorded: the schema's default
    assert backfill.window_end == dt.date(2011, 9, 22) and backfill.window_complete  # orders reach 09-23
    # measured in its own window (09-09..09-22) in the same call as the live run: B's and H's
    # purchases of 09-02 and 09-04 count for the live run only
    assert (backfill.treatment.conversions, backfill.control.conversions) == (0, 0)
    assert (backfill.treatment.members, backfill.control.members) == (1, 1)
    assert [run.run_key for run in result.measured_runs] == ["winback:2011-09-01"]
    assert (result.treatment.members, result.control.members) == (4, 3)
    assert result.uplift is not None
    assert result.uplift.estimate == pytest.approx(2 / 4 - 1 / 3)
    assert result.last_run is backfill


def test_exclusions_are_counted_by_reason(campaign_warehouse: str) -> None:
    with warehouse_engine(campaign_warehouse).connect() as conn:
        assert exclusion_counts(conn, "winback:2011-09-01") == {"no_consent": 2, "frequency_cap": 1}


def _composition_row(html: str, dimension: str, group: str) -> list[str]:
    """The cells of one group's row in the page's composition table, as text."""
    table = re.search(rf'data-testid="audience-composition" data-dimension="{dimension}">(.*?)</table>', html, re.S)
    assert table is not None, f"no {dimension} composition table"
    row = re.search(rf'<tr data-group="{re.escape(group)}">(.*?)</tr>', table.group(1), re.S)
    assert row is not None, f"no row for {group}"
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row.group(1), re.S)]


def test_the_campaign_page_shows_the_audience_composition_of_the_newest_run_with_members(
    warehouse_connection_env: str, token_for: Any
) -> None:
    """Counts only, so a viewer sees them too; a newer blocked run (no members) is passed over."""
    from fastapi.testclient import TestClient

    from marketflow.ui.app import create_app

    selected, blocked, day = "crosssell:2011-10-02", "crosssell:2011-10-09", dt.date(2011, 10, 2)
    groups = [  # prefix, customers, country, segment on the run's profile day, arm, exclusion reason
        ("U", 35, "United Kingdom", "at_risk", "treatment", None),
        ("V", 5, "United Kingdom", "at_risk", "excluded", "frequency_cap"),
        ("G", 14, "Germany", "loyal", "treatment", None),
        ("H", 21, "Germany", "loyal", "excluded", "no_consent"),
        ("F", 3, "France", "loyal", "control", None),
    ]
    people = [(f"{prefix}{i:03d}", *rest) for prefix, n, *rest in groups for i in range(n)]
    with warehouse_engine(warehouse_connection_env).begin() as conn:
        conn.execute(insert(campaign_runs).values(
            run_key=selected, campaign="crosssell", run_day=day, send_mode="live", status="selected",
            audience_size=52, treatment_size=49, control_size=3, inputs={"profiles": day.isoformat()}))
        conn.execute(insert(campaign_runs).values(
            run_key=blocked, campaign="crosssell", run_day=day + dt.timedelta(days=7), send_mode="live",
            status="blocked", blocked_reason="profiles are stale"))
        conn.execute(insert(customers), [
            {"customer_id": c, "country": country, "first_order_date": RUN_DAY, "last_order_date": day}
            for c, country, *_ in people
        ])
        conn.execute(insert(customer_profiles), [
            {"as_of_date": day, "customer_id": c, "recency_days": 30, "frequency": 2, "monetary": 80.0,
             "tenure_days": 90, "avg_basket_value": 40.0, "return_rate": 0.0, "purchases_30d": 1,
             "purchases_90d": 2, "purchases_365d": 2, "marketing_consent": True, "r_score": 3, "f_score": 2,
             "m_score": 2, "segment": segment}
            for c, _, segment, *_ in people
        ])
        conn.execute(insert(audience_members), [
            {"run_key": selected, "customer_id": c, "arm": arm, "exclusion_reason": reason}
            for c, _, _, arm, reason in people
        ])
    response = TestClient(create_app()).get("/campaigns/crosssell", headers={"Authorization": f"Bearer {token_for('viewer')}"})
    assert response.status_code == 200, response.text[:500]
    html = response.text
    assert "(run of 2011-10-02)</h2>" in html
    # 78 matched, 52 selected (66.7 %); France's 3 are below the 30 a country needs to be named
    assert _composition_row(html, "country", "United Kingdom") == ["United Kingdom", "40", "35", "51.3 %", "67.3 %", "87.5 %", "1.31"]
    assert _composition_row(html, "country", "Germany") == ["Germany", "35", "14", "44.9 %", "26.9 %", "40.0 %", "0.60"]
    assert _composition_row(html, "country", "other countries") == ["other countries", "3", "3", "3.8 %", "5.8 %", "100.0 %", "1.50"]
    assert 'data-group="France"' not in html
    assert _composition_row(html, "segment", "loyal") == ["Loyal", "38", "17", "48.7 %", "32.7 %", "44.7 %", "0.67"]
    assert _composition_row(html, "segment", "at_risk")[1:3] == ["40", "35"]
    warnings = re.findall(r'<p class="warning" data-testid="audience-warning">(.*?)</p>', html, re.S)
    assert [w.split(" was selected")[0] for w in warnings] == [f"{selected}: country Germany", f"{selected}: segment loyal"]
    assert "no_consent, a consent reason, which always wins (21 of 21 left out)" in warnings[0]
    assert not any(c in html for c, *_ in people), "counts only: no customer id on the page"


def test_sample_messages_come_from_the_newest_run_with_messages_and_read_emails_only_when_allowed(
    campaign_warehouse: str,
) -> None:
    with warehouse_engine(campaign_warehouse).connect() as conn:
        hidden = sample_messages(conn, "winback", limit=10, with_contacts=False)
        shown = sample_messages(conn, "winback", limit=10, with_contacts=True)
        first_two = sample_messages(conn, "winback", limit=2, with_contacts=False)
    assert [m.run_key for m in hidden] == ["winback:2011-09-08"]
    assert all(m.email is None for m in hidden)
    # The address the message was rendered for wins over the customer's current one.
    assert [(m.customer_id, m.email) for m in shown] == [("B", "b.rendered@example.com")]
    assert len(first_two) == 1


def test_sample_messages_take_turns_across_variants(warehouse_url: str) -> None:
    run_key = "crosssell:2011-10-01"
    with warehouse_engine(warehouse_url).begin() as conn:
        conn.execute(insert(campaign_runs).values(
            run_key=run_key, campaign="crosssell", run_day=dt.date(2011, 10, 1), send_mode="live",
            status="sent", audience_size=6, treatment_size=6, control_size=0, report=None))
        conn.execute(insert(messages), [
            {"run_key": run_key, "customer_id": f"{variant}{i}", "channel": "email", "status": "sent",
             "variant": variant, "subject": "s", "attempts": 1}
            for variant in ("a", "b") for i in range(3)
        ])
    with warehouse_engine(warehouse_url).connect() as conn:
        samples = sample_messages(conn, "crosssell", limit=2, with_contacts=False)
    assert sorted(m.variant for m in samples) == ["a", "b"]


def test_flatten_metrics_keeps_numeric_leaves_under_dotted_names() -> None:
    flat = flatten_metrics({"all": {"ndcg@10": 0.3, "k": 10}, "passed": True, "note": "x", "coverage": 0.5})
    assert flat == {"all.ndcg@10": 0.3, "all.k": 10.0, "coverage": 0.5}


def test_model_history_orders_versions_and_finds_the_champion(warehouse_url: str) -> None:
    rows = [
        ("rec-3", "recommender", dt.date(2011, 9, 18), "rejected", {"all": {"ndcg@10": 0.2}}),
        ("rec-1", "recommender", dt.date(2011, 9, 4), "retired", {"all": {"ndcg@10": 0.25}}),
        ("rec-2", "recommender", dt.date(2011, 9, 11), "champion", {"all": {"ndcg@10": 0.3}, "coverage": 0.2}),
        ("prop-1", "propensity", dt.date(2011, 9, 4), "challenger", {"roc_auc": 0.8}),
    ]
    with warehouse_engine(warehouse_url).begin() as conn:
        conn.execute(insert(model_registry), [
            {"model_id": m, "model_kind": k, "trained_as_of": d, "status": s, "metrics": metrics,
             "registered_at": dt.datetime.combine(d, dt.time(3))}
            for m, k, d, s, metrics in rows
        ])
    with warehouse_engine(warehouse_url).connect() as conn:
        history = model_history(conn)
    assert list(history) == ["recommender", "propensity"]
    assert [v.model_id for v in history["recommender"]] == ["rec-1", "rec-2", "rec-3"]
    assert champion(history["recommender"]).model_id == "rec-2"
    assert champion(history["propensity"]) is None
    assert metric_names(history["recommender"], limit=5) == ["all.ndcg@10", "coverage"]
    assert metric_names(history["recommender"], limit=1) == ["all.ndcg@10"]


def _by_group(segments: dict[str, tuple[int, float]], countries: dict[str, tuple[int, float]]) -> dict:
    """Figures by group as `train_challenger` stores them, from group -> (customers, NDCG@10)."""
    def compact(groups: dict[str, tuple[int, float]]) -> dict:
        return {name: {"customers": n, "ndcg@10": ndcg, "recall@10": ndcg + 0.1} for name, (n, ndcg) in groups.items()}

    return {"segments_as_of": "2011-09-04", "segment": compact(segments), "country": compact(countries)}


#: rec-2 serves after rec-1 and rescored it on its own hold-out (`champion`); rec-3 came later
GROUP_VERSIONS = [
    ("rec-1", dt.date(2011, 9, 4), "retired", {
        "all": {"ndcg@10": 0.25},
        "by_group": _by_group({"loyal": (100, 0.5)}, {"United Kingdom": (1700, 0.5)}),
    }),
    ("rec-2", dt.date(2011, 9, 11), "champion", {
        "all": {"ndcg@10": 0.3}, "holdout": ["2011-08-15", "2011-09-12"],
        "by_group": _by_group(
            {"loyal": (120, 0.2), "lost": (12, 0.05), "champions": (300, 0.34)},
            {"United Kingdom": (1800, 0.31), "France": (25, 0.2), "Germany": (60, 0.3), "Iceland": (4, 0.1)},
        ),
        "champion": {"model_id": "rec-1", "all": {"ndcg@10": 0.28}, "by_group": _by_group(
            {"loyal": (120, 0.3), "lost": (12, 0.3), "champions": (300, 0.4)},
            {"United Kingdom": (1800, 0.32), "France": (35, 0.3), "Germany": (60, 0.45), "Iceland": (4, 0.5)},
        )},
    }),
    ("rec-3", dt.date(2011, 9, 18), "rejected", {"all": {"ndcg@10": 0.2}, "by_group": _by_group({"loyal": (1, 0.0)}, {})}),
]


def test_the_models_page_shows_quality_by_group_for_the_champion_and_its_predecessor(
    warehouse_connection_env: str, token_for: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    from marketflow.ui.app import create_app

    with warehouse_engine(warehouse_connection_env).begin() as conn:
        conn.execute(insert(model_registry), [
            {"model_id": m, "model_kind": "recommender", "trained_as_of": d, "status": s, "metrics": metrics,
             "registered_at": dt.datetime.combine(d, dt.time(3))}
            for m, d, s, metrics in GROUP_VERSIONS
        ])
    with warehouse_engine(warehouse_connection_env).connect() as conn:
        versions = model_history(conn)["recommender"]
    assert not any("by_group" in name for name in metric_names(versions, limit=50))  # no column per group
    quality = served_group_quality(versions)
    assert (quality.current.model_id, quality.previous.model_id, quality.same_holdout) == ("rec-2", "rec-1", True)
    assert "both scored on the serving version's hold-out (2011-08-15..2011-09-12)" in quality.caption
    # every segment; the countries with 30 customers in either version (France: 35 before); most customers first
    assert [(r.dimension, r.group) for r in quality.rows] == [
        ("segment", "champions"), ("segment", "loyal"), ("segment", "lost"),
        ("country", "United Kingdom"), ("country", "Germany"), ("country", "France"),
    ]
    # loyal and Germany lose a third: warned about; lost (12 customers) and France (25 now) never are
    assert quality.warnings == [
        "rec-2 recommends worse to segment loyal (120 customers): NDCG@10 0.200 against 0.300 for rec-1 "
        "(a drop of more than 20%)",
        "rec-2 recommends worse to country Germany (60 customers): NDCG@10 0.300 against 0.450 for rec-1 "
        "(a drop of more than 20%)",
    ]
    # without rec-1's scores on rec-2's hold-out, each version's own figures are compared, and the caption says so
    own = [replace(v, stored_metrics={k: m for k, m in v.stored_metrics.items() if k != "champion"}) for v in versions]
    by_own = served_group_quality(own)
    assert (by_own.previous.model_id, by_own.same_holdout) == ("rec-1", False)
    assert "each on its own hold-out weeks" in by_own.caption
    assert by_own.warnings == [
        "rec-2 recommends worse to segment loyal (120 customers): NDCG@10 0.200 against 0.500 for rec-1 "
        "(a drop of more than 20%)",
        "rec-2 recommends worse to country United Kingdom (1800 customers): NDCG@10 0.310 against 0.500 for rec-1 "
        "(a drop of more than 20%)",
    ]

    monkeypatch.setenv("MARKETFLOW_QUALITY_THRESHOLDS", '{"max_group_ndcg_drop": 0.3, "min_group_customers": 100}')
    response = TestClient(create_app()).get("/models", headers={"Authorization": f"Bearer {token_for('viewer')}"})
    assert response.status_code == 200, response.text[:500]
    html = response.text
    table = re.search(r'<table class="grid" data-testid="quality-by-group">(.*?)</table>', html, re.S).group(1)
    assert "Serving: <code>rec-2</code>" in table and "Before it: <code>rec-1</code>" in table and "rec-3" not in table
    assert "segments as of 2011-09-04" in table
    row = re.search(r'<tr data-dimension="segment" data-group="loyal">(.*?)</tr>', table, re.S).group(1)
    assert re.findall(r'<td class="num">([^<]+)</td>', row) == ["0.200", "120", "0.300", "120"]
    # the page reads the thresholds from the environment: countries need 100 customers, Germany has 60
    assert 'data-group="lost" class="muted" title="fewer than 100 customers' in table
    assert re.findall(r'data-dimension="country" data-group="([^"]+)"', table) == ["United Kingdom"]
    assert re.findall(r'data-testid="quality-warning">([^<]+)<', html) == [quality.warnings[0].replace("20%", "30%")]
    assert "by_group" not in re.search(r'data-testid="versions-recommender">(.*?)</table>', html, re.S).group(1)


def test_failed_expectations_are_read_from_what_ingest_stores(warehouse_url: str, tmp_path: Path) -> None:
    """The real shape: a corpus day with a duplicate line, loaded by the ingest stage."""
    from marketflow.ingest import IngestSettings, ingest_orders_day

    corpus = Path(__file__).parents[1] / "ingest" / "corpus"
    day = dt.date(2011, 3, 1)
    (tmp_path / f"{day}.csv").write_bytes((corpus / "duplicate_line.csv").read_bytes())
    engine = warehouse_engine(warehouse_url)
    ingest_orders_day(engine, str(tmp_path), day, IngestSettings.from_env(landing_url=str(tmp_path)))
    with engine.connect() as conn:
        stored = conn.execute(select(ingest_days.c.validation_result)).scalar_one()
    assert failed_expectations(stored) == [FailedExpectation("line_is_unique", 1)]
    assert failed_expectations(None) == []


def test_quality_overview_counts_days_and_quarantine(warehouse_url: str) -> None:
    days = [dt.date(2011, 10, 1), dt.date(2011, 10, 2), dt.date(2011, 10, 3)]
    crm = [  # the CRM's customers files: one clean beside the quarantined orders, one refused
        {"file_date": days[1], "file_kind": "customers", "status": "loaded", "rows_read": 10, "rows_loaded": 10,
         "rows_quarantined": 0, "validation_success": True, "validation_result": None, "detail": None},
        {"file_date": days[2], "file_kind": "customers", "status": "failed", "rows_read": 0, "rows_loaded": 0,
         "rows_quarantined": 0, "validation_success": None, "validation_result": None, "detail": "no header"},
    ]
    with warehouse_engine(warehouse_url).begin() as conn:
        conn.execute(insert(ingest_days), crm)
        conn.execute(insert(ingest_days), [
            {"file_date": days[0], "file_kind": "orders", "status": "no_trading", "rows_read": 0, "rows_loaded": 0,
             "rows_quarantined": 0, "validation_success": None, "validation_result": None, "detail": "Saturday"},
            {"file_date": days[1], "file_kind": "orders", "status": "loaded", "rows_read": 100, "rows_loaded": 98,
             "rows_quarantined": 2, "validation_success": False,
             "validation_result": {"expectations": {"unit_price_not_negative": {"success": False, "unexpected_count": 2}},
                                   "parameters": {}}, "detail": None},
            {"file_date": days[2], "file_kind": "orders", "status": "loaded", "rows_read": 50, "rows_loaded": 50,
             "rows_quarantined": 0, "validation_success": True,
             "validation_result": {"expectations": {"unit_price_not_negative": {"success": True, "unexpected_count": 0}}},
             "detail": None},
        ])
        conn.execute(insert(quarantine), [
            {"file_date": days[1], "file_kind": "orders", "source_line": n, "source_file": "2011-10-02.csv",
             "reason": "unit_price is negative", "raw_line": "x"}
            for n in (7, 9)
        ])
    with warehouse_engine(warehouse_url).connect() as conn:
        overview = quality_overview(conn)
    orders_files = [d for d in overview.days if d.file_kind == "orders"]
    assert [d.file_date for d in orders_files] == days[::-1]
    assert (overview.rows_read, overview.rows_quarantined) == (160, 2)
    assert orders_files[1].quarantine_rows == 2 and orders_files[1].failed == [FailedExpectation("unit_price_not_negative", 2)]
    assert overview.reasons == [("unit_price is negative", 2)]
    assert orders_files[2].detail == "Saturday"
    # one row per calendar day, judged by its worst file: the refused CRM file outweighs clean orders
    calendar = overview.calendar_days
    assert [(d.day, d.outcome, len(d.files)) for d in calendar] == [
        (days[2], "refused", 2), (days[1], "quarantined", 2), (days[0], "no_trading", 1)
    ]
    assert overview.outcome_counts == {"refused": 1, "quarantined": 1, "clean": 0, "no_trading": 1}
    assert [d.has_problem for d in calendar] == [True, True, False]
    assert (calendar[1].rows_read, calendar[1].rows_loaded, calendar[1].file("customers").rows_loaded) == (110, 108, 10)
