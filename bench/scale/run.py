"""Every daily stage of a shop k times our sample's size, on PostgreSQL: time and peak memory per
task at x1, x10, x100 and x250 (about a million customers), and how each grows against x1.

The shop at scale k (`build_scaled`): the real history up to 2011-10-30 is loaded once through
the ingest path (orders and the synthetic CRM exports of `marketflow.ingest.synthetic_crm`, into
a template database, with the propensity model trained on it as `score_audiences` trains it and
three recommendations per customer from their real purchases); a copy of that template then gets
k - 1 more copies of every customer in SQL: copy c of customer 17850 is customer c*100000+17850
(the id scheme of `bench/ingest/scaled_day.py`) with the real customer's order lines (invoices
suffixed), CRM rows (address `name+c@...`), recommendations and derived rows; guests' lines once.
The orders are rewritten day by day, all copies of a day together, so a day's lines lie together
in the table as in a warehouse that loads one day at a time.
The catalogue grows with the square root of k (`product_variants`: 3 times at x10, 10 at x100, 16 at
x250; `--same-catalogue` keeps the real one): copy c buys variant c mod that count of each product
(`V3_85123A`, `bench/ingest/scaled_day.variant_code`; service codes stay), its recommendations name
the same variants, and each variant's `product_days`, `product_day_descriptions` and `products` rows
are derived from its lines (the real customers' lines) by ingest's own code. The days are the real
shop's, and with `--years` more of them (`add_earlier_years`): history year y >= 1 is the real 11
months again, 48 weeks earlier per year (weekdays kept, years not overlapping), bought by the same
customers (invoices suffixed `Yy`), loaded into the template before the model is trained, so every
scale and stage reads the longer history.

Then, as the DAGs run them for 2011-10-31, each task in a fresh process (a Celery worker's task):

- ingest: the day's orders export at k times its size (`scaled_day`), `ingest_orders_day`;
- profiles: `prepare_days`, `build_shard` for each of `--shards` shards, `finish_days`;
- scores: `score_shard` for each shard, with the registered model;
- selection and render: `select_audience` and `render_messages` of the shipped `winback` campaign
  with its `max_size` times k (the same campaign for a k times larger shop), LLM off;
- send: `send_emails` to an SMTP server in another process that accepts and counts, no rate limit
  (the ledger's batches as configured).

Selection, render and send run twice each (`REPEATS`; before the second send its e-mails are put
back to `rendered`) and count with their faster run; both runs' seconds are in `repeated_s`.

Peak memory is the task process's VmHWM (imports included); CPU seconds are the task process's
own (not PostgreSQL's); disk reads are the whole machine's while the task ran (`disk_read_mb`), so
they show when the warehouse a task reads is not in memory. Shards are what a deployment's
`prepare_days` sizes with the default settings (`ProfileSettings.shards_for` of the history's lines:
at least 4, one per 5M lines), for the score shards too; the bench passes the count itself, since its
scaled copies are not in `ingest_days`, where a deployment counts the lines. Each scale's database is dropped after it is measured unless `--keep`.

    .venv/bin/python bench/scale/run.py [--pg-url URL] [--data DIR] [--scales 1,10,100,250] [--keep]
        [--same-catalogue] [--years 1[,2,...]]

With several `--years`, every scale runs at each (a template per years value) and every row's growth
is against the first row (the first scale at the first years value).

Prints the table (markdown) and writes bench/results/scale-<timestamp>.json. x250 needs about
30 GB of disk while it runs; all four scales took 36 minutes on 2 cores (2026-12-07).
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import multiprocessing
import os
import platform
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import column, create_engine, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "online-retail" / "by-day"
sys.path.insert(0, str(REPO))

from bench.ingest.scaled_day import variant_code, write_scaled_day  # noqa: E402
from bench.record import write_record  # noqa: E402
from marketflow.profiles.settings import ProfileSettings  # noqa: E402
from marketflow.shards import ORDER_PARTITIONS  # noqa: E402

DAY = dt.date(2011, 10, 31)
HISTORY_END = DAY - dt.timedelta(days=1)
CUSTOMER_STRIDE = 100_000  # copy c of customer n is c * CUSTOMER_STRIDE + n, as in scaled_day
LINE_STRIDE = 100_000  # copy c of line l of a day is line c * LINE_STRIDE + l (a day has < 100,000 lines)
#: Selection, render and send run this many times (send after its e-mails are put back to `rendered`);
#: the stage's figures are its fastest run: a minute-long task on a shared VM varies by 20% or more.
REPEATS = 2
#: A task process fails with MemoryError rather than push a shared machine into swap/OOM.
MEMORY_LIMIT_BYTES = int(os.environ.get("MARKETFLOW_BENCH_MEMORY_LIMIT_GB", "14")) * 1024**3
CAMPAIGN = "winback"
#: History year y (`--years`) is the real one moved this many days earlier per year: 48 weeks keep
#: the weekdays, and the real history (2010-12-01..2011-10-30, 334 days) fits inside it.
YEAR_SHIFT_DAYS = 336


def product_variants(scale: int) -> int:
    """How many times the scaled shop's catalogue holds the real one: a shop k times larger sells
    more products, but fewer than k times as many (a modelling choice: the square root, rounded)."""
    return max(1, round(math.sqrt(scale)))


# --- the scaled shop ----------------------------------------------------------------------------


def database_url(server_url: str, name: str) -> str:
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def admin_execute(server_url: str, *statements: str) -> None:
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for statement in statements:
            conn.execute(text(statement))
    admin.dispose()


def build_template(server_url: str, name: str, data_dir: Path, work: Path, years: int = 1) -> dict[str, Any]:
    """The real shop up to HISTORY_END through the ingest path (with `years` - 1 earlier years of
    history), its model and recommendations."""
    from bench.audiences.run import _recommendations
    from marketflow.ingest.days import ingest_files
    from marketflow.ingest.landing import FileKind
    from marketflow.ingest.settings import IngestSettings
    from marketflow.ingest.sources.online_retail import read_history
    from marketflow.ingest.synthetic_crm import write_crm_exports
    from marketflow.profiles.settings import ProfileSettings
    from marketflow.propensity.settings import PropensitySettings
    from marketflow.propensity.warehouse import ensure_model
    from marketflow.warehouse import schema, upgrade_to_head, warehouse_engine

    admin_execute(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
    engine = warehouse_engine(database_url(server_url, name))
    upgrade_to_head(engine)
    landing = work / "landing"
    landing.mkdir()
    days = sorted(dt.date.fromisoformat(p.stem) for p in data_dir.glob("????-??-??.csv"))
    days = [day for day in days if day <= HISTORY_END]
    for day in days:
        (landing / f"{day}.csv").symlink_to(data_dir / f"{day}.csv")
    write_crm_exports(str(landing))
    settings = IngestSettings.from_env()
    started = time.perf_counter()
    ingest_files(engine, str(landing), FileKind.ORDERS, days, settings)
    ingest_files(engine, str(landing), FileKind.CUSTOMERS, days, settings)
    ingest_s = time.perf_counter() - started
    add_earlier_years(engine, years)
    model = ensure_model(engine, HISTORY_END, PropensitySettings(model_store=str(work / "models")), ProfileSettings())
    orders = read_history(data_dir, end=HISTORY_END)
    customers = sorted(orders["customer_id"].dropna().unique())
    picks = _recommendations(orders, customers)
    with engine.begin() as conn:
        conn.execute(schema.model_registry.insert().values(
            model_id="bench-recommender", model_kind="recommender", trained_as_of=HISTORY_END, status="champion",
            registered_at=dt.datetime(2011, 10, 30)))
        rows = [{"as_of_date": DAY, "customer_id": c, "rank": int(rank), "model_id": "bench-recommender",
                 "stock_code": code, "score": 1.0 / int(rank), "reason": reason}
                for c, code, reason, rank in picks[["customer_id", "stock_code", "reason", "rank"]].itertuples(index=False)]
        for start in range(0, len(rows), 20_000):
            conn.execute(schema.recommendations.insert(), rows[start : start + 20_000])
    with engine.connect() as conn:
        history_days = conn.execute(text("SELECT count(DISTINCT order_date) FROM orders")).scalar_one()
    engine.dispose()
    return {"years": years, "history_days": history_days, "template_ingest_s": ingest_s, "model_id": model.model_id}


#: Year `:year` of the history: the real lines moved `:days` earlier (file name, date, invoice time).
EARLIER_ORDERS = """INSERT INTO orders (order_date, source_line, invoice_no, stock_code, description, quantity,
    invoice_ts, unit_price, customer_id, country, is_return, source_file)
    SELECT order_date - CAST(:days AS int), source_line, invoice_no || 'Y' || CAST(:year AS int), stock_code,
    description, quantity, invoice_ts - make_interval(days => CAST(:days AS int)), unit_price, customer_id, country,
    is_return, replace(source_file, to_char(order_date, 'YYYY-MM-DD'),
                       to_char(order_date - CAST(:days AS int), 'YYYY-MM-DD'))
    FROM real_orders"""
EARLIER_INGEST_DAYS = """INSERT INTO ingest_days (file_date, file_kind, status, source_file, rows_read, rows_loaded,
    rows_quarantined, validation_success, validation_result, detail)
    SELECT file_date - CAST(:days AS int), file_kind, status,
    replace(source_file, to_char(file_date, 'YYYY-MM-DD'), to_char(file_date - CAST(:days AS int), 'YYYY-MM-DD')),
    rows_read, rows_loaded, rows_quarantined, validation_success, validation_result, detail
    FROM ingest_days WHERE file_kind = 'orders' AND file_date >= :real_start"""


def add_earlier_years(engine: Any, years: int) -> None:
    """Years 1..`years` - 1 of history before the real one (module doc): their order lines and
    `ingest_days` rows, and every table ingest derives from order lines
    (`derived.refresh_order_tables`, as a load of those days would)."""
    import pandas as pd

    from marketflow.ingest import derived

    if years == 1:
        return
    with engine.begin() as conn:
        real_start = conn.execute(text("SELECT min(order_date) FROM orders")).scalar_one()
        conn.execute(text("CREATE UNLOGGED TABLE real_orders AS SELECT * FROM orders"))
        for year in range(1, years):
            days = year * YEAR_SHIFT_DAYS
            conn.execute(text(EARLIER_ORDERS), {"days": days, "year": year})
            conn.execute(text(EARLIER_INGEST_DAYS), {"days": days, "real_start": real_start})
        conn.execute(text("DROP TABLE real_orders"))
        lines = pd.read_sql(text(f"SELECT {', '.join(PRODUCT_LINE_COLUMNS)} FROM orders "
                                 "WHERE order_date < :real_start"), conn, params={"real_start": real_start})
        derived.refresh_order_tables(
            conn, [], derived.day_rows(lines), (set(), set(lines["stock_code"])), (set(), set(lines["customer_id"].dropna()))
        )


#: Per table: the real customers' rows, and the SQL that inserts copies :first..:last of them (customer
#: ids and e-mails made unique per copy) from that snapshot, so no copy reads another.
_NEW_ID = "CAST(CAST(customer_id AS bigint) + g.c * %d AS varchar)" % CUSTOMER_STRIDE
#: `scaled_day.variant_code` in SQL: copy g.c buys variant g.c mod :variants; services
#: (`ProfileSettings.service_clause`, rendered for a text statement) keep their code.
_SERVICE = "(%s)" % ProfileSettings().service_clause(column("stock_code")).compile(
    dialect=postgresql.dialect(paramstyle="named"), compile_kwargs={"literal_binds": True})
_VARIANT_CODE = (f"CASE WHEN g.c % CAST(:variants AS int) = 0 OR {_SERVICE} THEN stock_code "
                 "ELSE 'V' || (g.c % CAST(:variants AS int)) || '_' || stock_code END")
_COPIES = "CROSS JOIN generate_series(CAST(:first AS int), CAST(:last AS int)) AS g(c)"
REPLICATE = {
    "customers": (
        "SELECT * FROM customers",
        f"""INSERT INTO customers (customer_id, country, first_order_date, last_order_date)
            SELECT {_NEW_ID}, country, first_order_date, last_order_date FROM base_customers {_COPIES}""",
    ),
    "customer_contacts": (
        "SELECT * FROM customer_contacts",
        f"""INSERT INTO customer_contacts (customer_id, email, updated_on)
            SELECT {_NEW_ID}, replace(email, '@', '+' || g.c || '@'), updated_on FROM base_customer_contacts {_COPIES}""",
    ),
    "consent_events": (
        "SELECT * FROM consent_events",
        f"""INSERT INTO consent_events (customer_id, effective_date, marketing_consent, email, source_file)
            SELECT {_NEW_ID}, effective_date, marketing_consent, replace(email, '@', '+' || g.c || '@'), source_file
            FROM base_consent_events {_COPIES}""",
    ),
    "recommendations": (
        "SELECT * FROM recommendations",
        f"""INSERT INTO recommendations (as_of_date, customer_id, rank, model_id, stock_code, score, reason)
            SELECT as_of_date, {_NEW_ID}, rank, model_id, {_VARIANT_CODE}, score, reason FROM base_recommendations {_COPIES}""",
    ),
}
#: All copies of one day's lines (guests' lines once), from a snapshot of the template's orders: the
#: scaled shop's orders are rewritten day by day, so a day's lines lie together in the table as in a
#: warehouse that loads a day at a time (copy by copy, each day would be spread over the whole table).
ORDERS_OF_DAY = f"""INSERT INTO orders (order_date, source_line, invoice_no, stock_code, description, quantity,
    invoice_ts, unit_price, customer_id, country, is_return, source_file)
    SELECT order_date, source_line + g.c * {LINE_STRIDE},
    CASE WHEN g.c = 0 THEN invoice_no ELSE invoice_no || '-' || g.c END, {_VARIANT_CODE}, description, quantity,
    invoice_ts, unit_price, {_NEW_ID}, country, is_return, source_file
    FROM base_orders CROSS JOIN generate_series(0, CAST(:last AS int)) AS g(c)
    WHERE order_date = :day AND (customer_id IS NOT NULL OR g.c = 0)"""
#: The order columns ingest derives the product tables from (`marketflow.ingest.derived`).
PRODUCT_LINE_COLUMNS = ("stock_code", "order_date", "invoice_ts", "source_line", "description", "quantity",
                        "unit_price", "is_return", "customer_id", "invoice_no")
#: `product_days`' purchase baskets, units and revenue recounted from the scaled shop's `orders` (copies
#: multiply a product's buyers): migration 0018's rule, on rows reset to none first
RECOUNT_PRODUCT_DAYS = (
    "UPDATE product_days SET baskets = 0, units = 0, revenue = 0",
    "UPDATE product_days SET baskets = c.baskets, units = c.units, revenue = c.revenue "
    "FROM (SELECT stock_code, order_date, count(*) AS baskets, sum(units) AS units, sum(value) AS revenue "
    "FROM (SELECT stock_code, order_date, customer_id, invoice_no, sum(quantity) AS units, "
    "sum(quantity * unit_price) AS value FROM orders WHERE NOT is_return AND quantity > 0 "
    "GROUP BY stock_code, order_date, customer_id, invoice_no) AS b GROUP BY stock_code, order_date) AS c "
    "WHERE product_days.stock_code = c.stock_code AND product_days.order_date = c.order_date",
)
COPIES_PER_STATEMENT = 25
ORDERS_INDEXES = ["ix_orders_customer_id_order_date"]


def _copy_orders_by_day(engine: Any, scale: int, variants: int, started: float) -> None:
    """Replace the orders with `scale` copies of every customer's lines, a transaction per day, and
    add the product variants' derived rows."""
    with engine.begin() as conn:
        conn.execute(text("CREATE UNLOGGED TABLE base_orders AS SELECT * FROM orders"))
        conn.execute(text("CREATE INDEX ON base_orders (order_date)"))
        conn.execute(text("TRUNCATE orders"))
        days = conn.execute(text("SELECT DISTINCT order_date FROM base_orders ORDER BY order_date")).scalars().all()
    for number, day in enumerate(days, 1):
        with engine.begin() as conn:
            conn.execute(text(ORDERS_OF_DAY), {"day": day, "last": scale - 1, "variants": variants})
        if number % 50 == 0 or number == len(days):
            print(f"  x{scale}: orders of {number} of {len(days)} days ({time.perf_counter() - started:.0f} s)", flush=True)
    with engine.begin() as conn:
        if variants > 1:
            _add_variant_products(conn, variants)
        conn.execute(text("DROP TABLE base_orders"))
        for statement in RECOUNT_PRODUCT_DAYS:
            conn.execute(text(statement))


def _add_variant_products(conn: Any, variants: int) -> None:
    """Each product variant's `product_days`, `product_day_descriptions` and `products` rows, by
    ingest's own code (`marketflow.ingest.derived`, as for a load that adds new products) from the
    variant's lines: the real customers' lines of merchandise under the variant's code (guests'
    lines are copied once and services keep their code, so neither has variants)."""
    import pandas as pd

    from marketflow.ingest import derived

    lines = pd.read_sql(text(f"SELECT {', '.join(PRODUCT_LINE_COLUMNS)} FROM base_orders WHERE customer_id IS NOT NULL"),
                        conn)
    lines = lines[~ProfileSettings().is_service(lines["stock_code"])]
    for variant in range(1, variants):
        codes = {code: variant_code(code, variant) for code in lines["stock_code"].unique()}
        own = lines.assign(stock_code=lines["stock_code"].map(codes))
        derived.refresh_products(conn, [], derived.product_days(own), set(), set(codes.values()))
        derived.refresh_day_descriptions(conn, [], derived.day_descriptions(own))


def build_scaled(server_url: str, template: str, name: str, scale: int, variants: int) -> dict[str, Any]:
    """A copy of the template with `scale` copies of every customer and `variants` of every product
    (module doc); the orders' secondary indexes are rebuilt once after the copies (as a bulk load would)."""
    admin_execute(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)',
                  f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    engine = create_engine(database_url(server_url, name))
    started = time.perf_counter()
    with engine.begin() as conn:
        real_ids = conn.execute(text("SELECT count(*) FROM customers WHERE customer_id !~ '^[0-9]{5}$'")).scalar_one()
        if real_ids:
            raise RuntimeError(f"{real_ids} customer ids are not 5 digits: the copy scheme needs them")
        if conn.execute(text("SELECT count(*) FROM products WHERE stock_code ~ '^V[0-9]+_'")).scalar_one():
            raise RuntimeError("real stock codes look like product variants (V3_...): the variant scheme needs them free")
        definitions = dict(conn.execute(text(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'orders' AND indexname = ANY(:names)"),
            {"names": ORDERS_INDEXES}).all())
        if scale > 1:
            for index in ORDERS_INDEXES:
                conn.execute(text(f"DROP INDEX {index}"))
    if scale > 1:
        _copy_orders_by_day(engine, scale, variants, started)
    with engine.begin() as conn:
        for table, (rows, _) in REPLICATE.items():
            conn.execute(text(f"CREATE UNLOGGED TABLE base_{table} AS {rows}"))
    for first in range(1, scale, COPIES_PER_STATEMENT):  # a transaction per batch of copies: the log moves
        last = min(scale - 1, first + COPIES_PER_STATEMENT - 1)
        with engine.begin() as conn:
            for _, insert in REPLICATE.values():
                conn.execute(text(insert), {"first": first, "last": last, "variants": variants})
        print(f"  x{scale}: copies {first}..{last} of {scale - 1} ({time.perf_counter() - started:.0f} s)", flush=True)
    with engine.begin() as conn:
        for table in REPLICATE:
            conn.execute(text(f"DROP TABLE base_{table}"))
    with engine.begin() as conn:
        conn.execute(text("SET maintenance_work_mem = '1GB'"))
        if scale > 1:
            for index in ORDERS_INDEXES:
                # a partitioned table's definition reads ON ONLY (the parent alone): build every partition's
                conn.execute(text(definitions[index].replace(" ON ONLY ", " ON ")))
        conn.execute(text("UPDATE ingest_days SET rows_read = rows_read * :k, rows_loaded = rows_loaded * :k "
                          "WHERE file_kind = 'orders'"), {"k": scale})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
        lines = conn.execute(text("SELECT count(*) FROM orders")).scalar_one()
        customers = conn.execute(text("SELECT count(*) FROM customers")).scalar_one()
        products = conn.execute(text("SELECT count(*) FROM products")).scalar_one()
        size = conn.execute(text("SELECT pg_database_size(current_database())")).scalar_one()
    engine.dispose()
    return {"build_s": time.perf_counter() - started, "history_lines": lines, "history_customers": customers,
            "products": products, "product_variants": variants, "database_gb": size / 1024**3}


# --- the tasks, each in a fresh process ---------------------------------------------------------


def _peak_mb() -> float:
    """This process's peak resident memory (VmHWM; ru_maxrss would carry the parent's over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def _timed(function: Callable[..., Any], *args: Any) -> dict[str, Any]:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    started, cpu = time.perf_counter(), time.process_time()
    result = function(*args)
    return {"seconds": time.perf_counter() - started, "cpu_s": time.process_time() - cpu, "peak_mb": _peak_mb(),
            "result": result}


def task_ingest(url: str, landing: str) -> dict[str, Any]:
    from marketflow.ingest.days import ingest_orders_day
    from marketflow.warehouse import warehouse_engine

    report = ingest_orders_day(warehouse_engine(url), landing, DAY)
    return {"rows_loaded": report.rows_loaded, "rows_quarantined": report.rows_quarantined}


def task_prepare(url: str, shards: int) -> dict[str, Any]:
    from marketflow.profiles.settings import ProfileSettings
    from marketflow.profiles.warehouse import prepare_days
    from marketflow.warehouse import warehouse_engine

    return prepare_days(warehouse_engine(url), [DAY], ProfileSettings(), shards).as_xcom()


def task_build_shard(url: str, plan: dict[str, Any], shard: int) -> int:
    from marketflow.profiles.settings import ProfileSettings
    from marketflow.profiles.warehouse import DayPlan, build_shard
    from marketflow.warehouse import warehouse_engine

    return build_shard(warehouse_engine(url), DayPlan.from_xcom(plan), shard, ProfileSettings())[DAY]


def task_finish(url: str, rows: list[int]) -> int:
    from marketflow.profiles.warehouse import finish_days
    from marketflow.warehouse import warehouse_engine

    (summary,) = finish_days(warehouse_engine(url), [DAY], [{DAY: count} for count in rows])
    return summary.customers


def task_score_shard(url: str, model_id: str, shard: int, shards: int, store: str) -> int:
    from marketflow.propensity.settings import PropensitySettings
    from marketflow.propensity.warehouse import score_shard
    from marketflow.warehouse import warehouse_engine

    return score_shard(warehouse_engine(url), DAY, model_id, shard, PropensitySettings(shards=shards, model_store=store))


def bench_campaign(scale: int) -> Any:
    """The shipped winback, its max_size times `scale`, without LLM copy, its send rate at the most the config allows."""
    from marketflow.campaigns.config import CampaignConfig, campaigns_dir

    data = yaml.safe_load((campaigns_dir() / f"{CAMPAIGN}.yaml").read_text())
    data["audience"]["max_size"] *= scale
    data["message"]["llm"]["enabled"] = False
    data["channels"]["email"]["rate_per_second"] = 10_000  # the most the config allows
    return CampaignConfig.model_validate(data)


def _plan() -> Any:
    from marketflow.campaigns.runs import plan_run

    return plan_run(CAMPAIGN, DAY, today=DAY)


INPUTS = {name: DAY.isoformat() for name in ("orders", "profiles", "scores", "recommendations")}


def task_select(url: str, scale: int) -> dict[str, Any]:
    from marketflow.campaigns.pipeline import select_audience
    from marketflow.warehouse import warehouse_engine

    summary = select_audience(warehouse_engine(url), bench_campaign(scale), _plan(), INPUTS)
    return {key: summary[key] for key in ("matched", "treatment", "control")}


def task_render(url: str, scale: int) -> int:
    from marketflow.campaigns.pipeline import copywriter_for, render_messages
    from marketflow.warehouse import warehouse_engine

    config = bench_campaign(scale)
    return render_messages(warehouse_engine(url), config, _plan(), INPUTS, copywriter=copywriter_for(config))["rendered"]


def task_send(url: str, scale: int, port: int) -> dict[str, Any]:
    from marketflow.campaigns.pipeline import send_emails
    from marketflow.channels.smtp import SmtpSettings
    from marketflow.warehouse import warehouse_engine

    summary = send_emails(warehouse_engine(url), bench_campaign(scale), _plan(), smtp=SmtpSettings("127.0.0.1", port))
    return {key: summary[key] for key in ("sent", "in_doubt", "still_pending")}


def disk_read_mb() -> float:
    """Megabytes this machine has read from its disks (/proc/diskstats, whole disks only): a task's
    difference says whether the warehouse it read was in the page cache (0 when /proc is absent)."""
    stats = Path("/proc/diskstats")
    if not stats.exists():
        return 0.0
    sectors = 0
    for line in stats.read_text().splitlines():
        fields = line.split()
        device = fields[2]
        if Path("/sys/block", device, "device").exists():  # a disk, not a partition, loop or zram device
            sectors += int(fields[5])
    return sectors * 512 / 1024**2


def in_fresh_process(function: Callable[..., Any], *args: Any) -> dict[str, Any]:
    read_before = disk_read_mb()
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        measured = pool.submit(_timed, function, *args).result()
    return {**measured, "disk_read_mb": disk_read_mb() - read_before}


def run_stages(url: str, scale: int, variants: int, shards: int, model_id: str, work: Path, data_dir: Path,
               port: int) -> dict:
    """Every task of the day in order (module doc); per stage: the tasks' seconds and peak MB."""
    landing = work / f"day-x{scale}"
    landing.mkdir()
    day_lines = write_scaled_day(data_dir / f"{DAY}.csv", scale, landing / f"{DAY}.csv", variants)
    stages: dict[str, list[dict[str, Any]]] = {}

    repeated: dict[str, list[float]] = {}

    def step(stage: str, function: Callable[..., Any], *args: Any, before_again: Callable[[], None] | None = None) -> Any:
        runs = []
        for attempt in range(REPEATS if before_again is not None else 1):
            if attempt:
                before_again()
            measured = in_fresh_process(function, *args)
            print(f"  x{scale} {stage} ({function.__name__}): {measured['seconds']:.1f} s ({measured['cpu_s']:.1f} s CPU), "
                  f"{measured['peak_mb']:.0f} MB, {measured['disk_read_mb']:.0f} MB read from disk: {measured['result'] if not isinstance(measured['result'], dict) or len(str(measured['result'])) < 200 else '...'}",
                  flush=True)
            runs.append(measured)
        if len(runs) > 1:
            repeated[stage] = [round(run["seconds"], 2) for run in runs]
        fastest = min(runs, key=lambda run: run["seconds"])
        stages.setdefault(stage, []).append(fastest)
        return fastest["result"]

    step("ingest", task_ingest, url, str(landing))
    plan = step("profiles", task_prepare, url, shards)
    rows = [step("profiles", task_build_shard, url, plan, shard) for shard in range(shards)]
    customers = step("profiles", task_finish, url, rows)
    store = str(work / "models")
    scored = sum(step("scores", task_score_shard, url, model_id, shard, shards, store) for shard in range(shards))
    selected = step("selection", task_select, url, scale, before_again=lambda: None)
    rendered = step("render", task_render, url, scale, before_again=lambda: None)
    sent = step("send", task_send, url, scale, port, before_again=lambda: unsend(url))
    if sent["sent"] != rendered or sent["in_doubt"] or sent["still_pending"]:
        raise RuntimeError(f"x{scale}: rendered {rendered}, send summary {sent}")
    return {"day_lines": day_lines, "shards": shards, "partitions": ORDER_PARTITIONS, "customers": customers,
            "scored": scored, **selected,
            "rendered": rendered, "sent": sent["sent"], "stages": {name: summarise(name, tasks) for name, tasks in stages.items()},
            "repeated_s": repeated}


def unsend(url: str) -> None:
    """Put the run's sent e-mails back to `rendered` (the bench's SMTP server only counts), for a second send."""
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE messages SET status = 'rendered', sent_at = NULL, attempts = 0, attempted_at = NULL, "
                          "claimed_by = NULL, error = NULL WHERE run_key = :run_key"), {"run_key": _plan().run_key})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE messages"))
    engine.dispose()


#: The mapped (one per shard) tasks of each stage: profiles run prepare, the shards, finish; every
#: score task is a shard; the other stages are one task.
MAPPED = {"profiles": slice(1, -1)}


def summarise(stage: str, tasks: list[dict[str, Any]]) -> dict[str, Any]:
    """A stage's cost: on one worker (its tasks in turn) and with its mapped tasks on as many workers."""
    mapped = tasks[MAPPED.get(stage, slice(None))]
    serial_s = sum(t["seconds"] for t in tasks)
    parallel_s = serial_s - sum(t["seconds"] for t in mapped) + max(t["seconds"] for t in mapped)
    return {"serial_s": serial_s, "parallel_s": parallel_s, "cpu_s": sum(t["cpu_s"] for t in tasks),
            "peak_mb": max(t["peak_mb"] for t in tasks), "tasks": len(tasks),
            "task_s": [round(t["seconds"], 2) for t in tasks], "task_peak_mb": [round(t["peak_mb"]) for t in tasks],
            "disk_read_mb": round(sum(t["disk_read_mb"] for t in tasks)), "cpu_s_tasks": [round(t["cpu_s"], 2) for t in tasks]}


# --- the whole bench ----------------------------------------------------------------------------


def run(server_url: str, data_dir: Path, scales: list[int], keep: bool, same_catalogue: bool,
        years_runs: list[int]) -> dict[str, Any]:
    from bench.send.run import SmtpServerProcess

    results = []
    templates = []
    with tempfile.TemporaryDirectory(prefix="marketflow-scale-") as folder:
        server = SmtpServerProcess()
        try:
            for years in years_runs:
                work = Path(folder) / f"years-{years}"
                work.mkdir()
                suffix = "" if years == 1 else f"_y{years}"
                template = f"bench_scale_template{suffix}"
                print(f"template: the real history through the ingest path, {years} year(s) ...", flush=True)
                base = build_template(server_url, template, data_dir, work, years)
                templates.append(base)
                print(f"template: {base}", flush=True)
                for scale in scales:
                    name = f"bench_scale_x{scale}{suffix}"
                    variants = 1 if same_catalogue else product_variants(scale)
                    shop = build_scaled(server_url, template, name, scale, variants)
                    print(f"x{scale}, {years} year(s): {shop}", flush=True)
                    shards = ProfileSettings().shards_for(shop["history_lines"])
                    measured = run_stages(database_url(server_url, name), scale, variants, shards, base["model_id"],
                                          work, data_dir, server.port)
                    results.append({"scale": scale, "years": years, "history_days": base["history_days"], **shop,
                                    **measured, "load": os.getloadavg()})
                    if not keep:
                        admin_execute(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                    print(table(results), flush=True)
                if not keep:
                    admin_execute(server_url, f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
        finally:
            server.stop()
    return {"day": DAY.isoformat(), "templates": templates, "results": results,
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version()}}


STAGES = ["ingest", "profiles", "scores", "selection", "render", "send"]


def table(results: list[dict[str, Any]]) -> str:
    """Per scale and stage: seconds on one worker (with the shards on as many workers), peak MB of
    the stage's largest task, and the growth of the one-worker time against the first scale."""
    base = results[0]
    lines = [
        "| scale | customers | products | history days | history lines | day lines | shards | audience (e-mails) | "
        + " | ".join(f"{s}: s (mapped) / peak MB / x" for s in STAGES) + " |",
        "|---" * (8 + len(STAGES)) + "|",
    ]
    for r in results:
        cells = []
        for stage in STAGES:
            s, b = r["stages"][stage], base["stages"][stage]
            mapped = f" ({s['parallel_s']:.1f})" if s["tasks"] > 1 else ""
            cells.append(f"{s['serial_s']:.1f}{mapped} / {s['peak_mb']:,.0f} / {s['serial_s'] / b['serial_s']:.1f}")
        lines.append(
            f"| x{r['scale']} | {r['customers']:,} | {r['products']:,} | {r['history_days']} | "
            f"{r['history_lines']:,} | {r['day_lines']:,} | {r['shards']} | "
            f"{r['treatment'] + r['control']:,} ({r['sent']:,}) | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("MARKETFLOW_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:55432/marketflow"),
        help="a database on the PostgreSQL server to use (the bench creates its own databases there)",
    )
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("MARKETFLOW_REAL_DATA", DEFAULT_DATA)))
    parser.add_argument("--scales", default="1,10,100,250", help="customer multipliers, comma-separated; first = baseline")
    parser.add_argument("--keep", action="store_true", help="keep the bench databases")
    parser.add_argument("--same-catalogue", action="store_true",
                        help="every scale sells the real products only (before 2026-12-07 the bench always did)")
    parser.add_argument("--years", default="1",
                        help="years of history, comma-separated (each runs every scale); 1 = the real 11 months")
    args = parser.parse_args()
    started = time.perf_counter()
    record = run(args.pg_url, args.data, [int(s) for s in args.scales.split(",")], args.keep, args.same_catalogue,
                 [int(y) for y in args.years.split(",")])
    record["run_seconds"] = round(time.perf_counter() - started, 1)
    print(table(record["results"]))
    write_record("scale", record)


if __name__ == "__main__":
    main()
