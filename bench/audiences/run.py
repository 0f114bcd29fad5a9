"""A campaign run's audience selection and rendering at 100,000 members, on SQLite and PostgreSQL,
next to a raw pandas + LightGBM + Jinja baseline of the same work in the same run.

The warehouse (a scratch SQLite file; a scratch PostgreSQL database with `--pg-url`) holds, as of
2011-10-01: the real profile snapshot of that day repeated to `--customers` (copy i's ids suffixed
-i, `bench/propensity/run.py`'s `scaled_snapshot`), scored by `score_shard` with a model trained on
the real history as `score_audiences` trains it; per customer (the copies of a real customer alike,
drawn with a fixed seed): an e-mail address, a consent event (3% opted out, 2% none on record), 1%
without an address, 1% on the suppression list; the real orders of the 30 days before the run
(one line per customer and day, so `bought_within_days` excludes the real recent buyers); three
recommendations per customer from their real purchases (their most bought products, "you buy this
often"; a popular product they never bought); a live run of another campaign 3 days before
that reached 2% of the customers (`in_other_campaign`, the frequency cap); and every real order line
of the 14 days after the run (its attribution window), copied like the customers.

The campaign is the shipped `winback.yaml` (template, variants, exclusions, frequency cap, control
share) with the rules "everyone, by propensity, at most `--members`", a 14-day attribution window
and the LLM off (its copy is measured by `bench/copy`). Timed in a fresh process against that
warehouse, as the DAG's tasks call them: `select_audience` (rules, exclusions, split, exact
TreeSHAP reasons of every selected member, members written) and `render_messages` (facts,
products, templates, one ledger row per treatment member). Peak memory: that process's
`ru_maxrss` (imports included).

Then what the run earned: `member_outcomes` (the Campaigns pages' and the stored report's one
definition), against pandas reading the run's members and the window's lines, summing per customer
and per arm; the two must agree (counts exactly, revenue within a millionth).

Baseline, same process, same rows: pandas reads the scores with the profiles and the exclusion
tables, flags and sorts them, keeps the top `--members`, and LightGBM's own `pred_contrib` gives the
selected customers' top 3 reasons (nothing written); then a plain (unsandboxed) Jinja environment
renders the same two templates for the same treatment members from contexts built in memory.

    .venv/bin/python bench/audiences/run.py [--data DIR] [--pg-url URL] [--members N] [--profile]

Prints the table and writes bench/results/audiences-<timestamp>.json.
"""

from __future__ import annotations

import argparse
import cProfile
import datetime as dt
import io
import json
import os
import platform
import pstats
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import lightgbm as lgb
import numpy as np
import pandas as pd
import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from bench.propensity.run import CUTOFF, bench_parser, scaled_snapshot  # noqa: E402
from bench.record import write_record  # noqa: E402
from tests.scratch_db import scratch_database  # noqa: E402

from marketflow.campaigns.config import CampaignConfig, campaigns_dir, templates_dir  # noqa: E402
from marketflow.campaigns.sqlutil import bulk_insert  # noqa: E402
from marketflow.warehouse import schema, upgrade_to_head, warehouse_engine  # noqa: E402

SEED = 20261201
#: Shares of the customers (the copies of a real customer alike) with each consent problem.
OPTED_OUT, NO_CONSENT, NO_EMAIL, SUPPRESSED, OTHER_CAMPAIGN = 0.03, 0.02, 0.01, 0.01, 0.02
RECENT_DAYS = 30
#: The bench campaign's attribution window, days D+1 .. D+14: 866,900 copied order lines. Winback's
#: own 30 days would copy about 1.9M (in proportion to the real lines of known customers: 38,817 in
#: D+1 .. D+30 against 17,594 in D+1 .. D+14).
ATTRIBUTION_DAYS = 14
#: The columns of the window's order lines as `bulk_insert` writes them (the line number last).
WINDOW_COLUMNS = ("order_date", "invoice_no", "stock_code", "description", "quantity", "invoice_ts", "unit_price",
                  "customer_id", "country", "is_return", "source_file", "source_line")
RECOMMENDED = 3


def seconds_of(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def bench_campaign(members: int, control_share: float | None) -> CampaignConfig:
    """The shipped winback with everyone as its audience, ordered by propensity, at most `members`
    (and `control_share`, when given, instead of its own)."""
    data = yaml.safe_load((campaigns_dir() / "winback.yaml").read_text())
    data["audience"] = {"order_by": "propensity_desc", "max_size": members}
    if control_share is not None:
        data["control_share"] = control_share
    data["message"]["llm"]["enabled"] = False
    data["attribution_days"] = ATTRIBUTION_DAYS
    return CampaignConfig.model_validate(data)


def run_inputs() -> dict[str, str]:
    return {name: CUTOFF.isoformat() for name in ("orders", "profiles", "scores", "recommendations")}


# --- the warehouse ------------------------------------------------------------------------------


def _copies(frame: pd.DataFrame, copies: int) -> pd.DataFrame:
    """`frame` (a `customer_id` column of real ids) once per copy, ids suffixed as `scaled_snapshot` does."""
    parts = [frame.assign(customer_id=frame["customer_id"] + (f"-{i}" if i else "")) for i in range(copies)]
    return pd.concat(parts, ignore_index=True)


def _recommendations(orders: pd.DataFrame, customers: list[str]) -> pd.DataFrame:
    """Per real customer: their most bought products, then the most popular one they never bought."""
    bought = orders[~orders["is_return"] & (orders["quantity"] > 0) & orders["customer_id"].isin(customers)]
    counts = bought.groupby(["customer_id", "stock_code"]).size().rename("n").reset_index()
    counts = counts.sort_values(["customer_id", "n", "stock_code"], ascending=[True, False, True])
    own = counts.groupby("customer_id").head(RECOMMENDED - 1).assign(reason="you buy this often")
    popular = bought["stock_code"].value_counts().index[:50].tolist()
    mine = counts.groupby("customer_id")["stock_code"].agg(set)
    extra = [(c, next(code for code in popular if code not in mine.get(c, set()))) for c in customers]
    picks = pd.concat([own[["customer_id", "stock_code", "reason"]],
                       pd.DataFrame(extra, columns=["customer_id", "stock_code"]).assign(reason="popular this month")])
    picks["rank"] = picks.groupby("customer_id").cumcount() + 1
    return picks


def _catalogue(orders: pd.DataFrame) -> list[dict[str, Any]]:
    lines = orders.sort_values(["order_date", "source_line"])
    named = lines[lines["description"].notna()].groupby("stock_code")["description"].last()
    priced = lines[lines["unit_price"] > 0].groupby("stock_code")["unit_price"].last()
    seen = lines.groupby("stock_code")["order_date"].agg(["min", "max"])
    return [
        {"stock_code": code, "description": named.get(code),
         "unit_price": float(priced[code]) if code in priced.index else None,
         "first_seen": first, "last_seen": last}
        for code, first, last in seen.itertuples()
    ]


def _window_rows(window: pd.DataFrame) -> Iterator[tuple[Any, ...]]:
    """The window's order lines as plain values in `WINDOW_COLUMNS` order, numbered anew (the copies
    share their real line numbers)."""
    lines = window.assign(invoice_ts=window["invoice_ts"].dt.strftime("%Y-%m-%d %H:%M:%S.%f"))
    lines = lines[list(WINDOW_COLUMNS[:-1])].astype(object)
    lines = lines.where(lines.notna(), None)
    return ((*row, number) for number, row in enumerate(lines.itertuples(index=False, name=None), start=2))


def _insert(conn: Any, table: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), 20_000):
        conn.execute(table.insert(), rows[start : start + 20_000])


def build_warehouse(url: str, orders: pd.DataFrame, snapshot: Any, model: Any, folder: Path, customers: int) -> dict:
    """The scored day, CRM rows, recent orders, recommendations and another campaign's run (module doc)."""
    from marketflow.profiles.warehouse import write_snapshot
    from marketflow.propensity import registry
    from marketflow.propensity.settings import PropensitySettings
    from marketflow.propensity.warehouse import score_shard

    big = scaled_snapshot(snapshot, customers)
    copies = len(big.profiles) // len(snapshot.profiles)
    engine = warehouse_engine(url)
    upgrade_to_head(engine)
    write_snapshot(engine, big)
    artifact = model.to_json()
    model_id = registry.model_id_for(CUTOFF, artifact)
    with engine.begin() as conn:
        registry.register_and_promote(
            conn, model_id=model_id, trained_as_of=CUTOFF, data_start=CUTOFF, data_end=CUTOFF, params={}, metrics={},
            artifact_uri=registry.write_artifact(str(folder / "models"), model_id, artifact),
        )
        conn.execute(schema.model_registry.insert().values(
            model_id="bench-recommender", model_kind="recommender", trained_as_of=CUTOFF, status="champion",
            registered_at=dt.datetime(2011, 10, 1)))
    score_shard(engine, CUTOFF, model_id, 0, PropensitySettings(shards=1))

    real = pd.DataFrame({"customer_id": snapshot.profiles["customer_id"].astype(str)})
    draw = np.random.default_rng(SEED).random((len(real), 5))
    real["opted_out"], real["no_consent"] = draw[:, 0] < OPTED_OUT, draw[:, 1] < NO_CONSENT
    real["no_email"], real["suppressed"] = draw[:, 2] < NO_EMAIL, draw[:, 3] < SUPPRESSED
    real["other_campaign"] = draw[:, 4] < OTHER_CAMPAIGN
    people = _copies(real, copies)
    ids = people["customer_id"].tolist()
    dated = orders[pd.to_datetime(orders["order_date"]) <= pd.Timestamp(CUTOFF)]
    recent = dated[pd.to_datetime(dated["order_date"]) > pd.Timestamp(CUTOFF - dt.timedelta(days=RECENT_DAYS))]
    recent = recent[recent["customer_id"].notna()].drop_duplicates(["customer_id", "order_date"])
    recent = _copies(recent[recent["customer_id"].isin(real["customer_id"])], copies)
    picks = _copies(_recommendations(dated, real["customer_id"].tolist()), copies)
    after = pd.to_datetime(orders["order_date"])
    last = pd.Timestamp(CUTOFF + dt.timedelta(days=ATTRIBUTION_DAYS))
    window = orders[(after > pd.Timestamp(CUTOFF)) & (after <= last)]
    window = _copies(window[window["customer_id"].isin(real["customer_id"])], copies)
    other = run_key_of("cross_sell", CUTOFF - dt.timedelta(days=3))
    with engine.begin() as conn:
        _insert(conn, schema.products, _catalogue(dated))
        _insert(conn, schema.customer_contacts, [
            {"customer_id": c, "email": f"customer.{c}@example.com", "updated_on": dt.date(2011, 1, 1)}
            for c in people.loc[~people["no_email"], "customer_id"]])
        _insert(conn, schema.consent_events, [
            {"customer_id": c, "effective_date": dt.date(2011, 1, 1), "marketing_consent": not out,
             "source_file": "customers-2011-01-01.csv"}
            for c, out in people.loc[~people["no_consent"], ["customer_id", "opted_out"]].itertuples(index=False)])
        _insert(conn, schema.suppressions, [
            {"customer_id": c, "reason": ("unsubscribe", "bounce", "complaint")[i % 3], "since": dt.datetime(2011, 6, 1),
             "source": "bench"} for i, c in enumerate(people.loc[people["suppressed"], "customer_id"])])
        _insert(conn, schema.orders, [
            {**row, "source_line": i + 2, "is_return": False, "source_file": "bench"}
            for i, row in enumerate(recent[["order_date", "invoice_no", "stock_code", "description", "quantity",
                                            "invoice_ts", "unit_price", "customer_id", "country"]].to_dict("records"))])
        bulk_insert(conn, schema.orders, WINDOW_COLUMNS, _window_rows(window))
        _insert(conn, schema.recommendations, [
            {"as_of_date": CUTOFF, "customer_id": c, "rank": int(rank), "model_id": "bench-recommender",
             "stock_code": code, "score": 1.0 / int(rank), "reason": reason}
            for c, code, reason, rank in picks[["customer_id", "stock_code", "reason", "rank"]].itertuples(index=False)])
        conn.execute(schema.campaign_runs.insert().values(
            run_key=other, campaign="cross_sell", run_day=CUTOFF - dt.timedelta(days=3), send_mode="live",
            status="sent", attribution_days=14, audience_size=0, treatment_size=0, control_size=0))
        reached = people.loc[people["other_campaign"], "customer_id"].tolist()
        _insert(conn, schema.audience_members, [
            {"run_key": other, "customer_id": c, "arm": "treatment", "variant": "a"} for c in reached])
        _insert(conn, schema.messages, [
            {"run_key": other, "customer_id": c, "channel": "email", "status": "sent", "attempts": 1} for c in reached])
    engine.dispose()
    return {"customers": len(ids), "copies": copies, "recent_order_lines": len(recent), "window_order_lines": len(window),
            "recommendations": len(picks)}


def run_key_of(campaign: str, day: dt.date) -> str:
    from marketflow.campaigns.runs import run_key

    return run_key(campaign, day)


# --- the timed process --------------------------------------------------------------------------


def _maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(url: str, members: int, control_share: float | None, profile: Path | None) -> dict:
    """In this (fresh) process: `select_audience` and `render_messages` as the DAG calls them, then
    the baseline on the same rows."""
    from marketflow.campaigns.pipeline import copywriter_for, render_messages, select_audience
    from marketflow.campaigns.runs import plan_run

    config = bench_campaign(members, control_share)
    plan = plan_run(config.name, CUTOFF, today=CUTOFF)
    engine = warehouse_engine(url)
    inputs = run_inputs()
    profiler = cProfile.Profile() if profile else None
    if profiler:
        profiler.enable()
    started, cpu = time.perf_counter(), time.process_time()
    selected = select_audience(engine, config, plan, inputs)
    select_s, select_cpu_s = time.perf_counter() - started, time.process_time() - cpu
    rendered = render_messages(engine, config, plan, inputs, copywriter=copywriter_for(config))
    render_s, render_cpu_s = time.perf_counter() - started - select_s, time.process_time() - cpu - select_cpu_s
    if profiler:
        profiler.disable()
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(60)
        profile.write_text(text.getvalue())
    peak = _maxrss_mb()
    check_stored(engine, plan.run_key, selected, rendered)
    base = baseline(engine, config, plan.run_key, members)
    return {
        **measure_outcomes(engine, plan.run_key),
        "select_s": select_s, "render_s": render_s, "total_s": select_s + render_s, "peak_mb": peak,
        "select_cpu_s": select_cpu_s, "render_cpu_s": render_cpu_s, "total_cpu_s": select_cpu_s + render_cpu_s,
        "matched": selected["matched"], "members": selected["treatment"] + selected["control"],
        "treatment": selected["treatment"], "control": selected["control"], "excluded": selected["excluded"],
        "rendered": rendered["rendered"], **base,
    }


def check_stored(engine: Any, run_key: str, selected: dict, rendered: dict) -> None:
    """Every selected member has its reasons and every treatment member an e-mail (or the bench lies)."""
    from sqlalchemy import func, select

    a, m = schema.audience_members.c, schema.messages.c
    with engine.connect() as conn:
        unexplained = conn.execute(select(func.count()).where(
            a.run_key == run_key, a.arm != "excluded", a.top_reasons.is_(None))).scalar_one()
        stored = conn.execute(select(func.count()).where(m.run_key == run_key, m.status == "rendered")).scalar_one()
    if unexplained or stored != selected["treatment"] or rendered["rendered"] != stored:
        raise AssertionError(f"{unexplained} selected members without reasons; {stored} e-mails stored for "
                             f"{selected['treatment']} treatment members")


def baseline(engine: Any, config: CampaignConfig, run_key: str, members: int) -> dict[str, float]:
    """The same selection and rendering the raw way (module doc): seconds of each."""
    from jinja2 import Environment, FileSystemLoader

    from marketflow.audiences.split import assign_variant, is_control
    from marketflow.copy.facts import display_name, format_money
    from marketflow.propensity.features import feature_matrix, home_market
    from marketflow.propensity.model import PropensityModel
    from marketflow.propensity.registry import read_artifact, registered
    from marketflow.propensity.scoring import top_reasons
    from marketflow.propensity.warehouse import FEATURE_INPUTS

    day = CUTOFF.isoformat()
    started = time.perf_counter()
    with engine.connect() as conn:
        columns = ", ".join(f"p.{name}" for name in FEATURE_INPUTS)
        frame = pd.read_sql(
            f"SELECT {columns}, s.propensity_30d, s.model_id FROM customer_profiles p JOIN audience_scores s "
            f"ON s.customer_id = p.customer_id AND s.as_of_date = p.as_of_date WHERE p.as_of_date = '{day}'", conn)
        consent = pd.read_sql(f"SELECT customer_id, marketing_consent FROM consent_events WHERE effective_date <= '{day}'", conn)
        emails = pd.read_sql("SELECT customer_id FROM customer_contacts WHERE email <> ''", conn)["customer_id"]
        suppressed = pd.read_sql("SELECT customer_id FROM suppressions", conn)["customer_id"]
        recent = pd.read_sql(
            f"SELECT DISTINCT customer_id FROM orders WHERE order_date > '{CUTOFF - dt.timedelta(days=RECENT_DAYS)}'", conn
        )["customer_id"]
        busy = pd.read_sql(
            f"SELECT customer_id FROM audience_members WHERE arm <> 'excluded' AND run_key <> '{run_key}'", conn
        )["customer_id"]
        model = PropensityModel.from_json(read_artifact(registered(conn, frame["model_id"].iloc[0]).artifact_uri))
    given = set(consent.loc[consent["marketing_consent"].astype(bool), "customer_id"])
    ok = (frame["customer_id"].isin(given) & frame["customer_id"].isin(emails) & ~frame["customer_id"].isin(suppressed)
          & ~frame["customer_id"].isin(recent) & ~frame["customer_id"].isin(busy))
    chosen = frame[ok.to_numpy()].sort_values(["propensity_30d", "customer_id"], ascending=[False, True]).head(members)
    matrix = feature_matrix(chosen, home_market(frame))[list(model.features)].to_numpy(dtype=np.float64)
    contributions = np.mean([b.predict(matrix, pred_contrib=True) for b in model.boosters], axis=0)
    top_reasons(contributions, model.features, 3)
    select_s = time.perf_counter() - started

    with engine.connect() as conn:
        recs = pd.read_sql(
            f"SELECT r.customer_id, r.stock_code, r.reason, p.description, p.unit_price FROM recommendations r "
            f"JOIN products p ON p.stock_code = r.stock_code WHERE r.as_of_date = '{day}' ORDER BY r.customer_id, r.rank",
            conn)
    variants = [v.name for v in config.message.variants]
    treated = [c for c in chosen["customer_id"] if not is_control(config.name, c, config.control_share)]
    products = {c: [{"name": display_name(d), "price": p, "reason": r} for _, _, r, d, p in group.itertuples(index=False)]
                for c, group in recs.groupby("customer_id", sort=False)}
    env = Environment(loader=FileSystemLoader(str(templates_dir())), autoescape=False, trim_blocks=True, lstrip_blocks=True)
    html_env = Environment(loader=FileSystemLoader(str(templates_dir())), autoescape=True, trim_blocks=True,
                           lstrip_blocks=True)
    for e in (env, html_env):
        e.filters["money"] = format_money
    text, html = env.get_template("winback.txt.j2"), html_env.get_template("winback.html.j2")
    rows = chosen.set_index("customer_id")
    render_started = time.perf_counter()
    for c in treated:
        variant = assign_variant(config.name, c, variants)
        context = {"customer": {"recency_days": int(rows.at[c, "recency_days"]), "favourite_group": None},
                   "products": products.get(c, []), "product_basis": "mixed", "shop": "The Gift Shop",
                   "campaign": {"name": config.name}, "language": "en", "subject": f"We miss you ({variant})",
                   "preheader": "A few picks", "intro": "It has been a while.", "unsubscribe_url": f"https://x/?u={c}"}
        text.render(context)
        html.render(context)
    render_s = time.perf_counter() - render_started
    return {"baseline_select_s": select_s, "baseline_render_s": render_s, "baseline_total_s": select_s + render_s}


def measure_outcomes(engine: Any, run_key: str) -> dict[str, Any]:
    """What the run earned, as the Campaigns pages and the stored report read it (`member_outcomes`),
    and the raw way: pandas reads the run's measured members and the window's order lines, sums
    them per customer, joins and sums per arm and variant. The two must agree, or the bench lies."""
    from marketflow.campaigns.outcomes import MEASURED_ARMS, attribution_window, member_outcomes

    with engine.connect() as conn:
        started = time.perf_counter()
        ours = member_outcomes(conn, [run_key])[run_key]
        ours_s = time.perf_counter() - started
        first, last = attribution_window(CUTOFF, ATTRIBUTION_DAYS)
        started = time.perf_counter()
        members = pd.read_sql(
            f"SELECT customer_id, arm, variant FROM audience_members WHERE run_key = '{run_key}' "
            f"AND arm IN {MEASURED_ARMS}", conn)
        lines = pd.read_sql(
            f"SELECT customer_id, quantity, unit_price, is_return FROM orders "
            f"WHERE order_date BETWEEN '{first}' AND '{last}'", conn)
    lines = lines[lines["customer_id"].isin(members["customer_id"])]
    lines = lines.assign(bought=(~lines["is_return"].astype(bool) & (lines["quantity"] > 0)).astype(int),
                         revenue=lines["quantity"] * lines["unit_price"])
    per_customer = lines.groupby("customer_id").agg(converted=("bought", "max"), revenue=("revenue", "sum"))
    joined = members.join(per_customer, on="customer_id").fillna({"converted": 0, "revenue": 0.0})
    raw = joined.groupby(["arm", "variant"], dropna=False).agg(
        members=("customer_id", "size"), conversions=("converted", "sum"), revenue=("revenue", "sum"))
    baseline_s = time.perf_counter() - started
    raw_by_key = {(arm, None if pd.isna(variant) else variant): row for (arm, variant), row in raw.iterrows()}
    if set(raw_by_key) != set(ours) or any(
        (ours[key].members, ours[key].conversions) != (row.members, row.conversions)
        or abs(ours[key].revenue - row.revenue) > 1e-6 * max(1.0, abs(row.revenue))
        for key, row in raw_by_key.items()
    ):
        raise AssertionError(f"member_outcomes {ours} disagrees with pandas {raw_by_key}")
    return {"outcomes_s": ours_s, "baseline_outcomes_s": baseline_s,
            "converted": sum(outcome.conversions for outcome in ours.values()), "window_lines": len(lines)}


def measured(url: str, members: int, control_share: float | None, profile: Path | None) -> dict:
    """`measure` in a fresh Python process (its peak memory is the run's alone)."""
    command = [sys.executable, __file__, "--measure", url, "--members", str(members)]
    if control_share is not None:
        command += ["--control-share", str(control_share)]
    if profile:
        command += ["--profile-to", str(profile)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- the whole bench ----------------------------------------------------------------------------


def run(
    data_dir: Path, pg_url: str | None, members: int, customers: int, control_share: float | None, profile: bool
) -> dict:
    from marketflow.ingest.sources.online_retail import read_history
    from marketflow.profiles.history import prepare_history
    from marketflow.profiles.settings import ProfileSettings
    from marketflow.propensity import library
    from marketflow.propensity.dataset import snapshot_builder
    from marketflow.propensity.settings import PropensitySettings

    profile_settings = ProfileSettings()
    orders = read_history(data_dir)
    model, _ = library.train(orders, CUTOFF, PropensitySettings(), profile_settings)
    snapshot = snapshot_builder(prepare_history(orders, profile_settings), profile_settings).build(CUTOFF)
    results: dict[str, dict] = {}
    backends = {"SQLite": None, **({"PostgreSQL": pg_url} if pg_url else {})}
    for backend, server in backends.items():
        with tempfile.TemporaryDirectory() as folder:
            where = REPO / "bench" / "results" / f"audiences-profile-{backend}.txt" if profile else None
            if server is None:
                url = f"sqlite:///{Path(folder) / 'warehouse.db'}"
                data = build_warehouse(url, orders, snapshot, model, Path(folder), customers)
                results[backend] = {**data, **measured(url, members, control_share, where), "load": os.getloadavg()}
            else:
                with scratch_database(server, "bench_audiences") as url:
                    data = build_warehouse(url, orders, snapshot, model, Path(folder), customers)
                    results[backend] = {
                        **data, **measured(url, members, control_share, where), "load": os.getloadavg()
                    }
            print_row(backend, results[backend], header=len(results) == 1)
    print("\n| backend | measured members | converted | their window's order lines | member_outcomes s "
          "| baseline s | ours / baseline |\n|---|---|---|---|---|---|---|")
    for backend, r in results.items():
        print(f"| {backend} | {r['members']:,} | {r['converted']:,} | {r['window_lines']:,} | {r['outcomes_s']:.2f} "
              f"| {r['baseline_outcomes_s']:.2f} | {r['outcomes_s'] / r['baseline_outcomes_s']:.2f}x |")
    return {
        "results": results,
        "campaign": bench_campaign(members, control_share).model_dump(mode="json"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "lightgbm": lgb.__version__,
                    "pandas": pd.__version__},
    }


def print_row(backend: str, r: dict, header: bool) -> None:
    if header:
        print("| backend | matched | members (e-mails) | selection s (CPU) | render s (CPU) | total s (CPU) | peak MB "
              "| baseline s: select + render | ours / baseline | load 1/5/15 min |")
        print("|---|---|---|---|---|---|---|---|---|---|")
    load = "/".join(f"{x:.1f}" for x in r["load"])
    print(f"| {backend} | {r['matched']:,} | {r['members']:,} ({r['rendered']:,}) | {r['select_s']:.1f} "
          f"({r['select_cpu_s']:.1f}) | {r['render_s']:.1f} ({r['render_cpu_s']:.1f}) | {r['total_s']:.1f} "
          f"({r['total_cpu_s']:.1f}) | {r['peak_mb']:,.0f} | {r['baseline_select_s']:.1f} + "
          f"{r['baseline_render_s']:.1f} = {r['baseline_total_s']:.1f} | {r['total_s'] / r['baseline_total_s']:.2f}x "
          f"| {load} |", flush=True)


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--pg-url", default=os.environ.get("MARKETFLOW_TEST_PG_URL"),
                        help="PostgreSQL server for the same run there too (a scratch database is created)")
    parser.add_argument("--members", type=int, default=100_000, help="the campaign's max_size (treatment + control)")
    parser.add_argument("--customers", type=int, default=180_000,
                        help="profiles in the scaled snapshot (about 60%% pass the exclusions)")
    parser.add_argument("--control-share", type=float, help="instead of winback's 0.2 (0: every member gets an e-mail)")
    parser.add_argument("--profile", action="store_true", help="cProfile the timed steps to bench/results/")
    parser.add_argument("--measure", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--profile-to", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.members, args.control_share, args.profile_to)))
        return
    started = time.perf_counter()
    result = run(args.data, args.pg_url, args.members, args.customers, args.control_share, args.profile)
    result["run_seconds"] = round(time.perf_counter() - started, 1)
    print(f"\nwhole run: {result['run_seconds']} s")
    write_record("audiences", result)


if __name__ == "__main__":
    main()
