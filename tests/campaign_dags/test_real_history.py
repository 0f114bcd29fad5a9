"""Scoring and audience selection through real Airflow on the whole real history (2010-12-01..2011-10-31),
on the PostgreSQL warehouse (the demo test runs them on SQLite), each DAG run twice: `score_audiences` for 2011-10-31 (on the profile
snapshot the profile stage built), then `campaign__cross_sell` for the same day (daily, so its run
works on 2011-10-31 and orders its audience by the scores just written), sending to a real SMTP sink.

The history has orders but no CRM, so every ordering customer gets a contact address and a consent
event; customers whose id ends in 0 or 5 opted out. The campaign files are the shipped ones with the
cross-sell's send rate raised (so the test does not wait on the pacer), its max_size lowered to 300
(below the ~520 eligible buyers, so the day's scores decide who is cut) and no product block (no
recommender runs here, and a campaign that shows recommendations waits for them). The campaign runs twice as a
backfill (re-selects, sends nothing), then twice with `force_send` (sends once, then keeps the audience).
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, select

from marketflow.profiles.settings import ProfileSettings
from marketflow.profiles.warehouse import build_days
from marketflow.shards import shard_of
from marketflow.warehouse import schema, warehouse_engine
from tests.airflow_runner import run_dag, task_states
from tests.campaign_dags.seeded import TASKS as CAMPAIGN_TASKS
from tests.campaign_dags.seeded import conf, ledger, run_row
from tests.campaigns.smtp_server import SmtpSink
from tests.conftest import REPO, postgres_only
from tests.profiles.real_orders import insert_orders, read_history

pytestmark = [pytest.mark.real_data, pytest.mark.slow]

AS_OF = dt.date(2011, 10, 31)
SHARDS = 4
SCORING_TASKS = {"resolve_days", "ensure_models", "shard_numbers", "publish_scores"} | {
    f"score_shard[{shard}]" for shard in range(SHARDS)
}
RUN_KEY = f"cross_sell:{AS_OF}"


@pytest.fixture(scope="module")
def whole_history(real_data_dir: Path) -> pd.DataFrame:
    orders = read_history(real_data_dir)
    assert (orders["order_date"].min(), orders["order_date"].max()) == (dt.date(2010, 12, 1), AS_OF)
    return orders


@pytest.fixture
def campaigns_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "campaigns"
    shutil.copytree(REPO / "include" / "campaigns", folder)
    cross_sell = folder / "cross_sell.yaml"
    text = cross_sell.read_text()
    assert "rate_per_second: 20\n" in text
    assert "max_size: 800\n" in text and "  products: 4\n" in text
    text = text.replace("rate_per_second: 20\n", "rate_per_second: 2000\n").replace("  products: 4\n", "  products: 0\n")
    cross_sell.write_text(text.replace("max_size: 800\n", "max_size: 300\n"))
    monkeypatch.setenv("MARKETFLOW_CAMPAIGNS_DIR", str(folder))
    return folder


def seed_crm(engine: Engine, customer_ids: list[str]) -> set[str]:
    """A contact and a consent event (2010-12-01) per customer; returns those who opted out."""
    opted_out = {c for c in customer_ids if c[-1] in "05"}
    with engine.begin() as conn:
        conn.execute(
            schema.customer_contacts.insert(),
            [
                {"customer_id": c, "email": f"customer{c}@example.com", "updated_on": dt.date(2010, 12, 1)}
                for c in customer_ids
            ],
        )
        conn.execute(
            schema.consent_events.insert(),
            [
                {"customer_id": c, "effective_date": dt.date(2010, 12, 1), "marketing_consent": c not in opted_out,
                 "email": f"customer{c}@example.com", "source_file": "crm-2010-12-01.csv"}
                for c in customer_ids
            ],
        )
    return opted_out


def stored(engine: Engine, table, *where) -> list:
    with engine.connect() as conn:
        return list(conn.execute(select(table).where(*where).order_by(*table.primary_key.columns)).all())


@postgres_only
def test_scoring_and_a_campaign_on_the_real_history_rerun_identically_and_send_once(
    warehouse_connection_env: str,
    airflow_db: Path,
    whole_history: pd.DataFrame,
    campaigns_dir: Path,
    sink: SmtpSink,
    export_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MARKETFLOW_PROPENSITY_SHARDS", str(SHARDS))
    monkeypatch.setenv("MARKETFLOW_PROPENSITY_MODEL_STORE", str(tmp_path / "models"))
    engine = warehouse_engine(warehouse_connection_env)
    insert_orders(engine, whole_history)
    opted_out = seed_crm(engine, sorted(set(whole_history["customer_id"].dropna())))
    build_days(engine, [AS_OF], ProfileSettings())

    for attempt in range(2):
        scoring = run_dag("score_audiences", AS_OF + dt.timedelta(days=2), conf={"score_from": str(AS_OF), "score_to": str(AS_OF)})
        assert task_states(scoring) == {task: "success" for task in SCORING_TASKS}
        profiles = stored(engine, schema.customer_profiles, schema.customer_profiles.c.as_of_date == AS_OF)
        scores = stored(engine, schema.audience_scores)
        models = stored(engine, schema.model_registry)
        if attempt == 0:
            first_scores, first_models = scores, models
    assert scores == first_scores, "a re-run leaves identical score rows"
    assert models == first_models and len(models) == 1, "the model is registered once and reused"
    assert (models[0].model_kind, models[0].trained_as_of, models[0].status) == ("propensity", AS_OF, "champion")
    scored = [row.customer_id for row in scores]
    profiled = {row.customer_id for row in profiles}
    customers = set(whole_history["customer_id"].dropna())
    assert len(scored) == len(set(scored)) and set(scored) == customers, "every known customer once, none left out"
    assert profiled <= set(scored) and 0 < len(customers - profiled) < 0.01 * len(customers)
    without = [row for row in scores if row.customer_id not in profiled]
    assert len({row.propensity_30d for row in without}) == 1, "scored, at the model's no-purchase rate"
    assert {row.as_of_date for row in scores} == {AS_OF} and {row.model_id for row in scores} == {models[0].model_id}
    assert {shard_of(c, SHARDS) for c in scored} == set(range(SHARDS))
    assert all(0.0 < row.propensity_30d < 1.0 for row in scores)

    members = schema.audience_members
    selections = []
    for run_conf in (conf(), conf(), conf(force_send=True), conf(force_send=True)):
        campaign = run_dag("campaign__cross_sell", AS_OF + dt.timedelta(days=2), conf=run_conf)
        skipped = set() if run_conf["force_send"] else {"send_emails"}
        assert task_states(campaign) == {task: "skipped" if task in skipped else "success" for task in CAMPAIGN_TASKS}
        selections.append(stored(engine, members, members.c.run_key == RUN_KEY))
        sent_ids = sorted(sink.message_ids())
        if not run_conf["force_send"]:
            assert sent_ids == [], "a past date without force_send contacts nobody"
        elif len(selections) == 3:
            first_sent = sent_ids
    audience = selections[0]
    assert all(selection == audience for selection in selections), "every run selects the same audience and arms"
    assert sent_ids == first_sent, "a re-run sends nothing a second time"

    run = run_row(RUN_KEY)
    assert (run["send_mode"], run["status"]) == ("live", "reported")
    treatment = {row.customer_id for row in audience if row.arm == "treatment"}
    control = {row.customer_id for row in audience if row.arm == "control"}
    assert len(treatment) == run["treatment_size"] > 100 and len(control) == run["control_size"] > 0
    reasons_of_opted_out = {row.exclusion_reason for row in audience if row.customer_id in opted_out}
    assert reasons_of_opted_out == {"opted_out"}, "consent comes first, on the real audience too"
    kept = [row for row in audience if row.arm != "excluded"]
    cut = [row.propensity_30d for row in audience if row.exclusion_reason == "over_max_size"]
    assert len(kept) == 300 and cut, "more buyers are eligible than max_size"
    assert min(row.propensity_30d for row in kept) >= max(cut), "the audience is cut by the day's scores"
    score_of = {row.customer_id: row.propensity_30d for row in scores}
    assert all(row.propensity_30d == pytest.approx(score_of[row.customer_id]) for row in kept)
    statuses = ledger(RUN_KEY)
    assert set(statuses.values()) == {"sent"} and len(statuses) == len(sent_ids) == len(treatment)
    assert {m["To"] for m in sink.messages()} == {f"customer{c}@example.com" for c in treatment}
