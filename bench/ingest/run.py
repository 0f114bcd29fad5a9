"""Ingest benchmark: rows/s loading the whole real history, SQLite and PostgreSQL, next to a raw baseline.

Baselines (same run, same rows): for every day file, pandas `read_csv` then PostgreSQL `COPY` into a
plain table, one transaction per file, into a table indexed like `orders`, and into the warehouse's
own `orders` (on PostgreSQL partitioned by customer hash: what any load into the warehouse pays). Ours: `ingest_history` (parse, validate with Great
Expectations, quarantine, replace the days, refresh products/customers, and the CRM files) on a fresh
warehouse, in batches of 92 days (a backfill: `marketflow ingest load-range`) and one day per batch
(what each DAG run does). Rates count the order lines of the history.

Then one day of a shop `--scale` times our sample's size (`scaled_day.py`): the last day's export
replicated under new customers and invoices, loaded as one `ingest_orders` DAG run loads it (its
orders, then its CRM export) into a warehouse already holding the days before it, next to the
baseline of the same file measured right before it.

    .venv/bin/python bench/ingest/run.py [--data DIR] [--pg-url URL] [--days N] [--scale N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # for tests.scratch_db

from bench.ingest.scaled_day import write_scaled_day  # noqa: E402
from bench.record import write_record  # noqa: E402
from tests.scratch_db import scratch_database  # noqa: E402

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

DEFAULT_DATA = REPO.parent / "shared" / "data" / "online-retail" / "by-day"
RAW_TABLE = "bench_raw_orders"
BATCH_DAYS = 92
SCALE = 20


def _args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--data", type=Path, default=Path(os.environ.get("MARKETFLOW_REAL_DATA", DEFAULT_DATA))
    )
    parser.add_argument("--pg-url", default=os.environ.get("MARKETFLOW_TEST_PG_URL"))
    parser.add_argument("--days", type=int, default=None, help="only the first N calendar days (quick runs)")
    parser.add_argument("--scale", type=int, default=SCALE, help="the scaled day's size, in real days (default 20)")
    return parser.parse_args()


def raw_baseline(files: list[Path], pg_url: str, *, indexed: bool = False, untimed: int = 0) -> dict:
    """pandas read_csv + COPY of every file into a plain table, one transaction per file.

    `indexed`: the table also has `orders`' primary key (the file's date and line number) and its
    secondary indexes, read off the warehouse schema, so the ratio to it leaves out what any load
    into an indexed table costs and shows what our parsing, validation and bookkeeping add.
    `untimed`: the first files are loaded first and not counted (the history before a timed day).
    """
    from sqlalchemy import create_engine, text

    from marketflow.warehouse.schema import orders

    engine = create_engine(pg_url)
    keys = "order_date date, source_line integer, " if indexed else ""
    with engine.begin() as conn:
        conn.execute(text(
            f"CREATE TABLE {RAW_TABLE} ({keys}invoice_no text, stock_code text, description text, "
            "quantity integer, invoice_ts timestamp, unit_price double precision, "
            "customer_id double precision, country text)"
        ))
        if indexed:
            key = ", ".join(column.name for column in orders.primary_key.columns)
            conn.execute(text(f"ALTER TABLE {RAW_TABLE} ADD PRIMARY KEY ({key})"))
            for index in orders.indexes:
                conn.execute(text(f"CREATE INDEX ON {RAW_TABLE} ({', '.join(c.name for c in index.columns)})"))
    return _timed_loads(engine, RAW_TABLE, files, _keyed if indexed else _renamed, untimed)


def orders_table_baseline(files: list[Path], url: str, *, untimed: int = 0) -> dict:
    """pandas read_csv + COPY of every file into the warehouse's own `orders` table (a scratch
    warehouse at head: on PostgreSQL its customer-hash partitions, generated hash and indexes), one
    transaction per file. The frame gets the columns `orders` requires (file date, line number, the
    `C` invoice flag, file name) and nothing else: no parsing, validation, quarantine or derived
    tables, which is what ours adds. `untimed`: as in `raw_baseline`."""
    from marketflow.warehouse import upgrade_to_head, warehouse_engine

    engine = warehouse_engine(url)
    upgrade_to_head(engine)
    return _timed_loads(engine, "orders", files, _as_orders, untimed)


def _renamed(frame: Any, path: Path) -> Any:
    """The CSV's columns under `orders`' names (those of the baseline's table too), as the shop's
    source reads them (`ORDERS_CHECKS.labels`: canonical name, CSV column)."""
    from marketflow.ingest.sources.online_retail import ORDERS_CHECKS

    return frame.rename(columns={column: name for name, column in ORDERS_CHECKS.labels})


def _keyed(frame: Any, path: Path) -> Any:
    """The renamed frame with `orders`' key in front: the file's date and each line's number."""
    frame = _renamed(frame, path)
    frame.insert(0, "source_line", range(2, len(frame) + 2))
    frame.insert(0, "order_date", path.stem)
    return frame


def _as_orders(frame: Any, path: Path) -> Any:
    frame = _keyed(frame, path)
    frame["is_return"] = frame["invoice_no"].astype(str).str.startswith("C")
    frame["source_file"] = path.name
    return frame


def _timed_loads(
    engine: Engine, table: str, files: list[Path], shape: Callable[[Any, Path], Any], untimed: int
) -> dict:
    """Load every file (`_read_and_copy`), timing all but the first `untimed`."""
    for path in files[:untimed]:
        _read_and_copy(engine, table, path, shape)
    timings = [_read_and_copy(engine, table, path, shape) for path in files[untimed:]]
    engine.dispose()
    rows = sum(lines for lines, _, _ in timings)
    read_s = sum(read for _, read, _ in timings)
    copy_s = sum(copy for _, _, copy in timings)
    seconds = read_s + copy_s
    return {
        "rows": rows, "seconds": seconds, "read_s": read_s, "copy_s": copy_s, "rows_per_s": rows / seconds
    }


def _read_and_copy(
    engine: Engine, table: str, path: Path, shape: Callable[[Any, Path], Any]
) -> tuple[int, float, float]:
    """One file: pandas read_csv and `shape`, then COPY into `table` in one transaction; returns its
    lines and the seconds of each half."""
    import pandas as pd

    started = time.perf_counter()
    frame = shape(pd.read_csv(path), path)
    read_s = time.perf_counter() - started
    started = time.perf_counter()
    buffer = io.StringIO()
    frame.to_csv(buffer, header=False, index=False)
    buffer.seek(0)
    raw = engine.raw_connection()
    try:
        raw.cursor().copy_expert(f"COPY {table} ({', '.join(frame.columns)}) FROM STDIN WITH (FORMAT csv)", buffer)
        raw.commit()
    finally:
        raw.close()
    return len(frame), read_s, time.perf_counter() - started


def ours(url: str, landing: Path, first: dt.date, last: dt.date, batch_days: int) -> dict:
    from marketflow.ingest import IngestSettings, ingest_history
    from marketflow.warehouse import upgrade_to_head, warehouse_engine

    engine = warehouse_engine(url)
    upgrade_to_head(engine)
    settings = IngestSettings.from_env(landing_url=str(landing), batch_days=batch_days)
    started = time.perf_counter()
    reports = ingest_history(engine, str(landing), first, last, settings)
    seconds = time.perf_counter() - started
    rows = sum(report.rows_read for report in reports if report.file_kind == "orders")
    steps = Counter()
    for report in reports:
        for step, spent in report.seconds.items():
            steps[f"{report.file_kind}.{step}"] += spent
    steps["other (calendar, no-trading days, landing checks)"] = seconds - sum(steps.values())
    return {
        "rows": rows,
        "seconds": seconds,
        "rows_per_s": rows / seconds,
        "quarantined": sum(r.rows_quarantined for r in reports if r.file_kind == "orders"),
        "steps_s": dict(steps),
    }


def scaled_day_load(
    url: str, landing: Path, first: dt.date, day: dt.date, scale: int, baseline: Callable[[], dict]
) -> tuple[dict, dict]:
    """Load the history before `day` (not timed), run `baseline`, then time one DAG run's loads of
    `day`: its orders export, then its CRM export; returns (baseline, ours). The row-count bounds
    scale with the shop (the history is the 1x sample's)."""
    from marketflow.ingest import IngestSettings, ingest_customers_day, ingest_history, ingest_orders_day
    from marketflow.warehouse import upgrade_to_head, warehouse_engine

    engine = warehouse_engine(url)
    upgrade_to_head(engine)
    defaults = IngestSettings()
    settings = IngestSettings.from_env(
        landing_url=str(landing), batch_days=BATCH_DAYS, row_count_max_ratio=defaults.row_count_max_ratio * scale
    )
    ingest_history(engine, str(landing), first, day - dt.timedelta(days=1), settings)
    raw = baseline()
    started = time.perf_counter()
    reports = [
        ingest_orders_day(engine, str(landing), day, settings),
        ingest_customers_day(engine, str(landing), day, settings),
    ]
    seconds = time.perf_counter() - started
    rows = reports[0].rows_read
    steps = Counter()
    for report in reports:
        for step, spent in report.seconds.items():
            steps[f"{report.file_kind}.{step}"] += spent
    steps["other (transactions, log, landing)"] = seconds - sum(steps.values())
    return raw, {
        "rows": rows,
        "seconds": seconds,
        "rows_per_s": rows / seconds,
        "quarantined": reports[0].rows_quarantined,
        "steps_s": dict(steps),
    }


def _scaled_baseline(path: Path, pg_url: str, history: list[Path]) -> dict:
    """The plain baseline of the scaled day, then the indexed one and the one into the warehouse's
    `orders`, each into a table holding the history."""
    with scratch_database(pg_url, "bench_ingest") as url:
        plain = raw_baseline([path], url)
    with scratch_database(pg_url, "bench_ingest") as url:
        plain["indexed"] = raw_baseline([*history, path], url, indexed=True, untimed=len(history))
    with scratch_database(pg_url, "bench_ingest") as url:
        plain["orders table"] = orders_table_baseline([*history, path], url, untimed=len(history))
    return plain


def _scaled_landing(scratch: Path, files: list[Path], scale: int) -> tuple[Path, int]:
    """A landing with the real days before the last and the last one scaled, with their CRM files."""
    from marketflow.ingest.synthetic_crm import write_crm_exports

    landing = scratch / f"landing-x{scale}"
    landing.mkdir()
    for path in files[:-1]:
        (landing / path.name).symlink_to(path.resolve())
    lines = write_scaled_day(files[-1], scale, landing / files[-1].name)
    write_crm_exports(str(landing))
    return landing, lines


def _warm_up(landing: Path, first_day: dt.date, scratch: Path) -> float:
    """Import GX and build its context once, as a long-running worker would have."""
    from marketflow.ingest import IngestSettings, ingest_orders_day
    from marketflow.warehouse import upgrade_to_head, warehouse_engine

    started = time.perf_counter()
    engine = warehouse_engine(f"sqlite:///{scratch / 'warm-up.db'}")
    upgrade_to_head(engine)
    ingest_orders_day(engine, str(landing), first_day, IngestSettings.from_env(landing_url=str(landing)))
    return time.perf_counter() - started


def main() -> int:
    args = _args()
    if not args.pg_url:
        sys.exit("PostgreSQL is needed for the baseline: pass --pg-url or set MARKETFLOW_TEST_PG_URL")
    files = sorted(args.data.glob("????-??-??.csv"))
    if not files:
        sys.exit(f"no day files in {args.data}: pass --data or set MARKETFLOW_REAL_DATA")
    first = dt.date.fromisoformat(files[0].stem)
    last = dt.date.fromisoformat(files[-1].stem)
    if args.days:
        last = first + dt.timedelta(days=args.days - 1)
        files = [path for path in files if dt.date.fromisoformat(path.stem) <= last]

    from marketflow.ingest.synthetic_crm import write_crm_exports

    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as scratch_dir:
        scratch = Path(scratch_dir)
        landing = scratch / "landing"
        landing.mkdir()
        for path in files:
            (landing / path.name).symlink_to(path.resolve())
        started = time.perf_counter()
        write_crm_exports(str(landing))
        crm_s = time.perf_counter() - started
        warm_up_s = _warm_up(landing, first, scratch)

        with scratch_database(args.pg_url, "bench_ingest") as url:
            baseline = raw_baseline(files, url)
        with scratch_database(args.pg_url, "bench_ingest") as url:
            indexed = raw_baseline(files, url, indexed=True)
        with scratch_database(args.pg_url, "bench_ingest") as url:
            orders_table = orders_table_baseline(files, url)
        results = {
            "baseline (pandas read_csv + PostgreSQL COPY)": baseline,
            "baseline into a table indexed like orders": indexed,
            "baseline into the warehouse's orders table": orders_table,
        }
        for batch_days, label in ((BATCH_DAYS, "batches of 92 days"), (1, "one day at a time")):
            sqlite_url = f"sqlite:///{scratch / f'warehouse-{batch_days}.db'}"
            results[f"ours on SQLite, {label}"] = ours(sqlite_url, landing, first, last, batch_days)
            with scratch_database(args.pg_url, "bench_ingest") as url:
                results[f"ours on PostgreSQL, {label}"] = ours(url, landing, first, last, batch_days)

        scaled_landing, scaled_lines = _scaled_landing(scratch, files, args.scale)
        scaled_file = scaled_landing / files[-1].name
        scaled_date = dt.date.fromisoformat(files[-1].stem)
        scaled: dict[str, dict] = {}
        def scaled_run(url: str) -> tuple[dict, dict]:
            raw = partial(_scaled_baseline, scaled_file, args.pg_url, files[:-1])
            return scaled_day_load(url, scaled_landing, first, scaled_date, args.scale, raw)

        scaled["baseline before SQLite"], scaled["ours on SQLite"] = scaled_run(
            f"sqlite:///{scratch / 'warehouse-scaled.db'}"
        )
        with scratch_database(args.pg_url, "bench_ingest") as url:
            scaled["baseline before PostgreSQL"], scaled["ours on PostgreSQL"] = scaled_run(url)
    ours_names = [name for name in results if name.startswith("ours")]
    print(f"\nIngest of {len(files)} day files, {first}..{last}: {baseline['rows']:,} order lines")
    print(f"(set-up, not timed: synthetic CRM files {crm_s:.1f} s, GX import + context {warm_up_s:.1f} s)\n")
    print(f"{'':52} {'seconds':>9} {'rows/s':>10} {'vs raw':>7} {'vs indexed':>10} {'vs orders':>9}")
    for name, result in results.items():
        ratio = result["rows_per_s"] / baseline["rows_per_s"]
        to_indexed = result["rows_per_s"] / indexed["rows_per_s"]
        to_orders = result["rows_per_s"] / orders_table["rows_per_s"]
        print(
            f"{name:52} {result['seconds']:9.1f} {result['rows_per_s']:10,.0f} {ratio:7.0%} {to_indexed:10.0%}"
            f" {to_orders:9.0%}"
        )
    scaled_ratios, scaled_ratios_indexed, scaled_ratios_orders = {}, {}, {}
    for backend in ("SQLite", "PostgreSQL"):
        ours_rate, raw = scaled[f"ours on {backend}"]["rows_per_s"], scaled[f"baseline before {backend}"]
        scaled_ratios[backend] = ours_rate / raw["rows_per_s"]
        scaled_ratios_indexed[backend] = ours_rate / raw["indexed"]["rows_per_s"]
        scaled_ratios_orders[backend] = ours_rate / raw["orders table"]["rows_per_s"]
    print(f"\nOne day {args.scale}x our sample's size ({scaled_date}: {scaled_lines:,} order lines), into the history before it")
    for name, result in scaled.items():
        backend = name.rsplit(" ", 1)[-1]
        if name.startswith("ours"):
            ratios = (
                f"{scaled_ratios[backend]:7.0%} {scaled_ratios_indexed[backend]:10.0%} {scaled_ratios_orders[backend]:9.0%}"
            )
            print(f"{name:52} {result['seconds']:9.2f} {result['rows_per_s']:10,.0f} {ratios}")
        else:
            print(f"{name:52} {result['seconds']:9.2f} {result['rows_per_s']:10,.0f} {'100%':>7}")
            into = result["indexed"]
            print(f"{'  the same into an indexed table holding the history':52} {into['seconds']:9.2f} {into['rows_per_s']:10,.0f} {'':>7} {'100%':>10}")
            into = result["orders table"]
            print(f"{'  the same into the warehouse orders holding it':52} {into['seconds']:9.2f} {into['rows_per_s']:10,.0f} {'':>7} {'':>10} {'100%':>9}")
    for name in ours_names:
        print(f"\n{name}: where the time goes")
        for step, spent in sorted(results[name]["steps_s"].items(), key=lambda item: -item[1]):
            print(f"  {step:50} {spent:7.1f} s {spent / results[name]['seconds']:6.0%}")
    for backend in ("SQLite", "PostgreSQL"):
        result = scaled[f"ours on {backend}"]
        print(f"\nours on {backend}, the {args.scale}x day: where the time goes")
        for step, spent in sorted(result["steps_s"].items(), key=lambda item: -item[1]):
            print(f"  {step:50} {spent:7.2f} s {spent / result['seconds']:6.0%}")

    import great_expectations
    import pandas
    import sqlalchemy

    record = {
        "benchmark": "ingest",
        "when": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "pandas": pandas.__version__,
            "sqlalchemy": sqlalchemy.__version__,
            "great_expectations": great_expectations.__version__,
        },
        "days": [first.isoformat(), last.isoformat()],
        "setup_s": {"synthetic_crm": crm_s, "gx_warm_up": warm_up_s},
        "results": results,
        "ratio_vs_raw": {
            name: results[name]["rows_per_s"] / baseline["rows_per_s"]
            for name in ours_names
        },
        "ratio_vs_indexed": {
            name: results[name]["rows_per_s"] / indexed["rows_per_s"]
            for name in ours_names
        },
        "ratio_vs_orders_table": {name: results[name]["rows_per_s"] / orders_table["rows_per_s"] for name in ours_names},
        "scaled_day": {
            "scale": args.scale,
            "day": scaled_date.isoformat(),
            "order_lines": scaled_lines,
            "results": scaled,
            "ratio_vs_raw": scaled_ratios,
            "ratio_vs_indexed": scaled_ratios_indexed,
            "ratio_vs_orders_table": scaled_ratios_orders,
        },
    }
    write_record("ingest", record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
