"""Time and peak memory to build one day's profile snapshot for all customers on PostgreSQL, and how
they grow with the number of customers: the sharded build (issue 17) against the unsharded one.

For each scale k (default 1, 10, 100) a fresh PostgreSQL database gets the real order history with
every customer replicated k times under new ids (and new invoice numbers; guest lines once), then:

- unsharded (the build before issue 17, `SnapshotBuilder` on every line, one process):
  cold day: what one daily run did for 2011-10-31: read the orders, condense them, fit the month's
  models (product groups, lifetime value), build and write the snapshot; warm day: the cost of one
  more day inside a range build (models fitted once a month): the mean over 2011-10-25..31 after
  the first day;
- sharded (what `build_profiles` runs now, each task in a fresh process as on a Celery worker, the
  plan passed as XCom JSON): `prepare_days`, each of `--shards` `build_shard`s in turn, and
  `finish_days` for 2011-10-31: time and peak memory (max RSS) of each task. `critical path` =
  prepare + slowest shard + finish (the shards in parallel on as many workers); `serial` = all tasks
  one after the other (one worker).

Ratios are against x1 measured in the same run.

    .venv/bin/python bench/profiles/build_bench.py [--pg-url URL] [--data DIR] [--scales 1,10,100] [--shards 4]

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
from marketflow.profiles.warehouse import (  # noqa: E402
    DayPlan,
    build_shard,
    finish_days,
    prepare_days,
    read_consent_events,
    read_orders,
    write_snapshot,
)
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


def _peak_mb() -> float:
    """This process's peak resident memory (VmHWM). Not `getrusage`'s ru_maxrss: Linux carries it over
    exec from the parent, so every spawned task would report at least the parent's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


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
        "peak_rss_mb": _peak_mb(),
    }




def prepare_task(url: str, settings: ProfileSettings, shards: int) -> dict:
    """`prepare_days` for DAY in its own process: seconds, peak MB, and the plan as XCom JSON."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    started = time.perf_counter()
    plan = prepare_days(warehouse_engine(url), [DAY], settings, shards)
    return {"seconds": time.perf_counter() - started, "peak_mb": _peak_mb(), "plan": plan.as_xcom()}


def shard_task(url: str, settings: ProfileSettings, plan: dict, shard: int) -> dict:
    """One `build_shard` in its own process, from the plan's JSON (as a mapped Airflow task gets it)."""
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    started = time.perf_counter()
    rows = build_shard(warehouse_engine(url), DayPlan.from_xcom(plan), shard, settings)
    return {"seconds": time.perf_counter() - started, "peak_mb": _peak_mb(), "rows": rows[DAY]}


def finish_task(url: str, rows: list[int]) -> dict:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT_BYTES, MEMORY_LIMIT_BYTES))
    started = time.perf_counter()
    (summary,) = finish_days(warehouse_engine(url), [DAY], [{DAY: count} for count in rows])
    return {"seconds": time.perf_counter() - started, "peak_mb": _peak_mb(), "customers": summary.customers}


def in_fresh_process(function, *args) -> dict:
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(function, *args).result()


def measure_sharded(url: str, settings: ProfileSettings, shards: int) -> dict:
    """The day as `build_profiles` builds it now: every task in a fresh process, the shards in turn."""
    prepare = in_fresh_process(prepare_task, url, settings, shards)
    shard_results = [in_fresh_process(shard_task, url, settings, prepare["plan"], k) for k in range(shards)]
    finish = in_fresh_process(finish_task, url, [r["rows"] for r in shard_results])
    largest = max(shard_results, key=lambda r: r["peak_mb"])
    slowest = max(r["seconds"] for r in shard_results)
    return {
        "shards": shards,
        "sharded_customers": finish["customers"],
        "prepare_s": prepare["seconds"],
        "prepare_peak_mb": prepare["peak_mb"],
        "shard_s": [r["seconds"] for r in shard_results],
        "shard_peak_mb": [r["peak_mb"] for r in shard_results],
        "largest_shard_peak_mb": largest["peak_mb"],
        "slowest_shard_s": slowest,
        "finish_s": finish["seconds"],
        "finish_peak_mb": finish["peak_mb"],
        "critical_path_s": prepare["seconds"] + slowest + finish["seconds"],
        "serial_s": prepare["seconds"] + sum(r["seconds"] for r in shard_results) + finish["seconds"],
    }


def run(server_url: str, data_dir: Path, scales: list[int], keep: bool, shards: int) -> list[dict]:
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
        result = {"scale": scale, "load_s": load_s, **in_fresh_process(measure, url, settings)}
        print(
            f"x{scale}: {result['customers']} customers, {result['order_lines']} lines: unsharded "
            f"cold day {result['cold_day_s']:.2f} s ({result['peak_rss_mb']:.0f} MB), warm day {result['warm_day_s']:.2f} s",
            flush=True,
        )
        result |= measure_sharded(url, settings, shards)
        if result["sharded_customers"] != result["customers"]:
            raise RuntimeError(f"sharded build stored {result['sharded_customers']} customers, not {result['customers']}")
        print(
            f"x{scale}: sharded ({shards}) prepare {result['prepare_s']:.2f} s ({result['prepare_peak_mb']:.0f} MB), "
            f"slowest shard {result['slowest_shard_s']:.2f} s (largest {result['largest_shard_peak_mb']:.0f} MB), "
            f"finish {result['finish_s']:.2f} s ({result['finish_peak_mb']:.0f} MB)",
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
        result["critical_path_ratio"] = result["critical_path_s"] / base["critical_path_s"]
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
        "unsharded (one process)",
        f"{'scale':>5} {'customers':>9} {'lines':>10} | {'cold day s':>10} {'cpu s':>7} {'read s':>7} "
        f"{'prep. s':>7} {'ratio':>6} | {'warm day s':>10} {'cpu s':>7} {'ratio':>6} | {'peak MB':>7}",
    ]
    for r in results:
        lines.append(
            f"x{r['scale']:<4} {r['customers']:>9} {r['order_lines']:>10} | {r['cold_day_s']:>10.2f} "
            f"{r['cold_cpu_s']:>7.2f} {r['cold_read_s']:>7.2f} {r['cold_prepare_s']:>7.2f} {r['cold_ratio']:>6.1f} | "
            f"{r['warm_day_s']:>10.3f} {r['warm_cpu_s']:>7.3f} {r['warm_ratio']:>6.1f} | {r['peak_rss_mb']:>7.0f}"
        )
    lines += [
        "sharded (each task a fresh process; seconds / peak MB per task)",
        f"{'scale':>5} {'shards':>6} | {'prepare':>15} | {'largest shard':>15} {'slowest s':>9} | {'finish':>13} | "
        f"{'critical s':>10} {'ratio':>6} {'serial s':>9} | {'peak MB vs unsharded':>20}",
    ]
    for r in results:
        largest = max(r["shard_peak_mb"] + [r["prepare_peak_mb"], r["finish_peak_mb"]])
        lines.append(
            f"x{r['scale']:<4} {r['shards']:>6} | {r['prepare_s']:>6.2f} s {r['prepare_peak_mb']:>5.0f} MB | "
            f"{r['largest_shard_peak_mb']:>12.0f} MB {r['slowest_shard_s']:>9.2f} | "
            f"{r['finish_s']:>5.2f} s {r['finish_peak_mb']:>4.0f} MB | {r['critical_path_s']:>10.2f} "
            f"{r['critical_path_ratio']:>6.1f} {r['serial_s']:>9.2f} | {largest / r['peak_rss_mb']:>19.2f}x"
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
    parser.add_argument("--shards", type=int, default=ProfileSettings().shards, help="customer shards of the sharded build")
    parser.add_argument("--keep", action="store_true", help="keep the bench databases")
    args = parser.parse_args()
    results = run(args.pg_url, args.data, [int(s) for s in args.scales.split(",")], args.keep, args.shards)
    print(table(results))
    write_record("profiles_build", {"day": DAY.isoformat(), "shards": args.shards, "results": results}, stamped=False)


if __name__ == "__main__":
    main()
