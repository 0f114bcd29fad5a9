"""Time to build one day's profile snapshot for all customers on PostgreSQL, and how it grows with
the number of customers.

For each scale k (default 1, 10, 100) a fresh PostgreSQL database gets the real order history with
every customer replicated k times under new ids (and new invoice numbers; guest lines once), then:

- cold day: what one daily `build_profiles` run does for 2011-10-31: read the orders, condense them,
  fit the month's models (product groups, lifetime value), build and write the snapshot;
- warm day: the cost of one more day inside a range build (models fitted once a month): the mean
  over 2011-10-25..31 after the first day.

Ratios are against x1 measured in the same run.

    .venv/bin/python bench/profiles/build_bench.py [--pg-url URL] [--data DIR] [--scales 1,10,100]

Prints the table and writes bench/results/profiles_build.json. The x100 database holds ~32M order
lines (about 10 GB on disk while it runs; dropped at the end unless --keep).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import multiprocessing
import os
import resource
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pandas as pd
from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url

REPO = Path(__file__).resolve().parents[2]
DEFAULT_DATA = REPO.parent / "shared" / "data" / "online-retail" / "by-day"
sys.path.insert(0, str(REPO))

from marketflow.ingest.sources.online_retail import read_history  # noqa: E402
from marketflow.profiles.build import SnapshotBuilder  # noqa: E402
from marketflow.profiles.history import prepare_history  # noqa: E402
from marketflow.profiles.settings import ProfileSettings  # noqa: E402
from marketflow.profiles.warehouse import read_consent_events, read_orders, write_snapshot  # noqa: E402
from marketflow.warehouse import upgrade_to_head, warehouse_engine  # noqa: E402
from bench.record import write_record  # noqa: E402
from tests.profiles.real_orders import ORDER_COLUMNS  # noqa: E402

DAY = dt.date(2011, 10, 31)
#: The measuring process fails with MemoryError rather than push a shared machine into swap/OOM.
MEMORY_LIMIT_BYTES = int(os.environ.get("MARKETFLOW_BENCH_MEMORY_LIMIT_GB", "14")) * 1024**3
WARM_DAYS = [DAY - dt.timedelta(days=offset) for offset in range(6, -1, -1)]  # 10-25 .. 10-31


def replica(customer_lines: pd.DataFrame, index: int) -> pd.DataFrame:
    """Customer lines under new customer ids and invoice numbers (replica 0 is the original)."""
    if index == 0:
        return customer_lines
    suffix = f"-{index:03d}"
    return customer_lines.assign(
        customer_id=customer_lines["customer_id"] + suffix,
        invoice_no=customer_lines["invoice_no"] + suffix,
        source_line=customer_lines["source_line"] + index * 100_000,
    )


def fresh_database(server_url: str, name: str) -> str:
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_database(server_url: str, name: str) -> None:
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def measure(url: str, settings: ProfileSettings) -> dict:
    """Cold and warm day timings (wall and this process's CPU: the machine may be shared); run in a
    child process so its peak memory is the build's alone."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    engine = warehouse_engine(url)
    started, started_cpu = time.perf_counter(), time.process_time()
    orders = read_orders(engine, DAY)
    read_s = time.perf_counter() - started
    lines = len(orders)
    history = prepare_history(orders, settings)
    del orders
    prepare_s = time.perf_counter() - started - read_s
    builder = SnapshotBuilder(history, read_consent_events(engine, DAY), settings)
    snapshot = builder.build(DAY)
    write_snapshot(engine, snapshot)
    cold_s, cold_cpu_s = time.perf_counter() - started, time.process_time() - started_cpu
    customers = len(snapshot.profiles)

    warm = SnapshotBuilder(history, read_consent_events(engine, DAY), settings)
    write_snapshot(engine, warm.build(WARM_DAYS[0]))
    started, started_cpu = time.perf_counter(), time.process_time()
    for day in WARM_DAYS[1:]:
        write_snapshot(engine, warm.build(day))
    warm_s = (time.perf_counter() - started) / (len(WARM_DAYS) - 1)
    warm_cpu_s = (time.process_time() - started_cpu) / (len(WARM_DAYS) - 1)
    return {
        "order_lines": lines,
        "customers": customers,
        "cold_day_s": cold_s,
        "cold_cpu_s": cold_cpu_s,
        "cold_read_s": read_s,
        "cold_prepare_s": prepare_s,
        "warm_day_s": warm_s,
        "warm_cpu_s": warm_cpu_s,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def run(server_url: str, data_dir: Path, scales: list[int], keep: bool) -> list[dict]:
    settings = ProfileSettings()
    real = read_history(data_dir, end=DAY)
    guests = real[real["customer_id"].isna()]
    customer_lines = real[real["customer_id"].notna()]
    results = []
    for scale in scales:
        name = f"bench_profiles_x{scale}"
        url = fresh_database(server_url, name)
        engine = warehouse_engine(url)
        upgrade_to_head(engine)
        started = time.perf_counter()
        with engine.begin() as conn:
            copy_orders(conn, guests)
        for index in range(scale):  # one replica in memory at a time
            with engine.begin() as conn:
                copy_orders(conn, replica(customer_lines, index))
        load_s = time.perf_counter() - started
        with engine.begin() as conn:
            conn.execute(text("ANALYZE orders"))
        with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
            result = {"scale": scale, "load_s": load_s, **pool.submit(measure, url, settings).result()}
        print(
            f"x{scale}: {result['customers']} customers, {result['order_lines']} lines: "
            f"cold day {result['cold_day_s']:.2f} s, warm day {result['warm_day_s']:.2f} s",
            flush=True,
        )
        results.append(result)
        engine.dispose()
        if not keep:
            drop_database(server_url, name)
    base = results[0]
    for result in results:
        result["cold_ratio"] = result["cold_day_s"] / base["cold_day_s"]
        result["warm_ratio"] = result["warm_day_s"] / base["warm_day_s"]
    return results


def copy_orders(conn: Connection, frame: pd.DataFrame) -> None:
    """Append `frame` to `orders` with COPY."""
    buffer = io.StringIO()
    frame[ORDER_COLUMNS].to_csv(buffer, index=False, header=False, quoting=csv.QUOTE_MINIMAL)
    buffer.seek(0)
    conn.connection.dbapi_connection.cursor().copy_expert(
        f"COPY orders ({', '.join(ORDER_COLUMNS)}) FROM STDIN WITH (FORMAT csv)", buffer
    )


def table(results: list[dict]) -> str:
    lines = [
        "profiles: one day's snapshot (2011-10-31) on PostgreSQL, customers replicated (CPU: this process)",
        f"{'scale':>5} {'customers':>9} {'lines':>10} | {'cold day s':>10} {'cpu s':>7} {'read s':>7} "
        f"{'prep. s':>7} {'ratio':>6} | {'warm day s':>10} {'cpu s':>7} {'ratio':>6} | {'peak MB':>7}",
    ]
    for r in results:
        lines.append(
            f"x{r['scale']:<4} {r['customers']:>9} {r['order_lines']:>10} | {r['cold_day_s']:>10.2f} "
            f"{r['cold_cpu_s']:>7.2f} {r['cold_read_s']:>7.2f} {r['cold_prepare_s']:>7.2f} {r['cold_ratio']:>6.1f} | "
            f"{r['warm_day_s']:>10.3f} {r['warm_cpu_s']:>7.3f} {r['warm_ratio']:>6.1f} | {r['peak_rss_mb']:>7.0f}"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pg-url",
        default=os.environ.get("MARKETFLOW_TEST_PG_URL", "postgresql+psycopg2://postgres@127.0.0.1:55432/marketflow"),
        help="a database on the PostgreSQL server to use (the bench creates its own databases there)",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=Path(os.environ.get("MARKETFLOW_REAL_DATA", DEFAULT_DATA)),
    )
    parser.add_argument("--scales", default="1,10,100", help="customer multipliers, comma-separated; first = baseline")
    parser.add_argument("--keep", action="store_true", help="keep the bench databases")
    args = parser.parse_args()
    results = run(args.pg_url, args.data, [int(s) for s in args.scales.split(",")], args.keep)
    print(table(results))
    write_record("profiles_build", {"day": DAY.isoformat(), "results": results}, stamped=False)


if __name__ == "__main__":
    main()
