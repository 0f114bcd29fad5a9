"""Ingest benchmark: rows/s loading the whole real history, SQLite and PostgreSQL, next to a raw baseline.

Baselines (same run, same rows): for every day file, pandas `read_csv` then PostgreSQL `COPY` into a
plain table, one transaction per file, into a table indexed like `orders`, and into the warehouse's
own `orders` (on PostgreSQL partitioned by customer hash: what any load into the warehouse pays).
Ours: `ingest_history` (parse, validate with Great Expectations, quarantine, replace the days,
refresh products/customers, and the CRM files) on a fresh warehouse, in batches of 92 days (a
backfill: `marketflow ingest load-range`) and one day per batch (what each DAG run does). Rates
count the order lines of the history. The baselines and the batched loads run in three interleaved
rounds (each figure the median round), so that the machine's slow moments fall on all of them; the
one-day-at-a-time loads run once.

Then one day of a shop `--scale` times our sample's size (`scaled_day.py`): the last day's export
replicated under new customers and invoices, loaded as one `ingest_orders` DAG run loads it (its
orders, then its CRM export) into a warehouse already holding the days before it, next to the
baselines' loads of the same file into tables holding them; three interleaved rounds, medians.

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
from contextlib import ExitStack
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
#: Rounds of each timed load but the one-day-at-a-time history (run once); each figure is the median.
REPEATS = 3


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


def raw_baseline(files: list[Path], pg_url: str, *, indexed: bool = False) -> dict:
    """pandas read_csv + COPY of every file into a plain table (`_create_raw_table`), one
    transaction per file."""
    from sqlalchemy import create_engine

    engine = create_engine(pg_url)
    _create_raw_table(engine, indexed=indexed)
    return _timed_loads(engine, RAW_TABLE, files, _keyed if indexed else _renamed)


def _create_raw_table(engine: Engine, *, indexed: bool) -> None:
    """The baselines' table of the CSV's columns. `indexed`: it also has `orders`' primary key (the
    file's date and line number) and its secondary indexes, read off the warehouse schema, so the
    ratio to it leaves out what any load into an indexed table costs and shows what our parsing,
    validation and bookkeeping add."""
    from sqlalchemy import text

    from marketflow.warehouse.schema import orders

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


def orders_table_baseline(files: list[Path], url: str) -> dict:
    """pandas read_csv + COPY of every file into the warehouse's own `orders` table (a scratch
    warehouse at head: on PostgreSQL its customer-hash partitions, generated hash and indexes), one
    transaction per file. The frame gets the columns `orders` requires (file date, line number, the
    `C` invoice flag, file name) and nothing else: no parsing, validation, quarantine or derived
    tables, which is what ours adds."""
    from marketflow.warehouse import upgrade_to_head, warehouse_engine

    engine = warehouse_engine(url)
    upgrade_to_head(engine)
    return _timed_loads(engine, "orders", files, _as_orders)


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


def _timed_loads(engine: Engine, table: str, files: list[Path], shape: Callable[[Any, Path], Any]) -> dict:
    """Load every file (`_read_and_copy`), timing each."""
    timings = [_read_and_copy(engine, table, path, shape) for path in files]
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


def _rounds(result: dict) -> str:
    """Every round's seconds of a repeated load (none for a load run once)."""
    return " / ".join(f"{seconds:.2f}" for seconds in result.get("runs_s", []))


def _in_scratch_database(pg_url: str, load: Callable[[str], dict]) -> dict:
    """`load` into a new scratch database on the server of `pg_url`, dropped after."""
    with scratch_database(pg_url, "bench_ingest") as url:
        return load(url)


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


def scaled_day_runs(
    url: str, landing: Path, first: dt.date, day: dt.date, scale: int, pg_url: str, history: list[Path]
) -> tuple[dict, dict]:
    """The scaled day `REPEATS` times each way, interleaved so that the machine's moments
    (checkpoints, autovacuum, other load) fall on all of them: in each round the three baselines'
    loads of its file, then one DAG run's loads of `day` by ours (its orders export, then its CRM
    export, the second round on replacing the first's), each into a database holding the history
    before it (loaded first, not timed). Returns (baselines, ours), each with the median seconds and
    every round's. The row-count bounds scale with the shop (the history is the 1x sample's)."""
    from sqlalchemy import create_engine

    from marketflow.ingest import IngestSettings, ingest_history
    from marketflow.warehouse import upgrade_to_head, warehouse_engine

    path = landing / f"{day.isoformat()}.csv"
    engine = warehouse_engine(url)
    upgrade_to_head(engine)
    defaults = IngestSettings()
    settings = IngestSettings.from_env(
        landing_url=str(landing), batch_days=BATCH_DAYS, row_count_max_ratio=defaults.row_count_max_ratio * scale
    )
    ingest_history(engine, str(landing), first, day - dt.timedelta(days=1), settings)
    with ExitStack() as databases:
        engines = [create_engine(databases.enter_context(scratch_database(pg_url, "bench_ingest"))) for _ in range(2)]
        engines.append(warehouse_engine(databases.enter_context(scratch_database(pg_url, "bench_ingest"))))
        upgrade_to_head(engines[2])
        _create_raw_table(engines[0], indexed=False)
        _create_raw_table(engines[1], indexed=True)
        baselines = {
            "plain": partial(_baseline_day, engines[0], RAW_TABLE, path, _renamed),
            "indexed": partial(_baseline_day, engines[1], RAW_TABLE, path, _keyed),
            "orders table": partial(_baseline_day, engines[2], "orders", path, _as_orders),
        }
        for history_day in history:
            _read_and_copy(engines[1], RAW_TABLE, history_day, _keyed)
            _read_and_copy(engines[2], "orders", history_day, _as_orders)
        baseline_runs: dict[str, list[dict]] = {name: [] for name in baselines}
        our_runs: list[dict] = []
        for _ in range(REPEATS):
            for name, load in baselines.items():
                baseline_runs[name].append(load())
            our_runs.append(_our_day(engine, landing, day, settings))
        for baseline_engine in engines:
            baseline_engine.dispose()
    raw = {name: _median_of(runs) for name, runs in baseline_runs.items()}
    return {**raw.pop("plain"), **raw}, _median_of(our_runs)


def _our_day(engine: Engine, landing: Path, day: dt.date, settings: Any) -> dict:
    """One DAG run's loads of `day`: its orders export, then its CRM export."""
    from marketflow.ingest import ingest_customers_day, ingest_orders_day

    started = time.perf_counter()
    reports = [
        ingest_orders_day(engine, str(landing), day, settings),
        ingest_customers_day(engine, str(landing), day, settings),
    ]
    seconds = time.perf_counter() - started
    steps = Counter()
    for report in reports:
        for step, spent in report.seconds.items():
            steps[f"{report.file_kind}.{step}"] += spent
    steps["other (transactions, log, landing)"] = seconds - sum(steps.values())
    rows = reports[0].rows_read
    return {
        "rows": rows,
        "seconds": seconds,
        "rows_per_s": rows / seconds,
        "quarantined": reports[0].rows_quarantined,
        "steps_s": dict(steps),
    }


def _baseline_day(engine: Engine, table: str, path: Path, shape: Callable[[Any, Path], Any]) -> dict:
    """`_read_and_copy` of the day file `path` into `table`, timed; then, not timed, its rows
    deleted again for the next round (the plain table holds nothing else)."""
    from sqlalchemy import text

    rows, read_s, copy_s = _read_and_copy(engine, table, path, shape)
    with engine.begin() as conn:
        if shape is _renamed:
            conn.execute(text(f"TRUNCATE {table}"))
        else:
            conn.execute(text(f"DELETE FROM {table} WHERE order_date = :day"), {"day": path.stem})
    seconds = read_s + copy_s
    return {"rows": rows, "seconds": seconds, "read_s": read_s, "copy_s": copy_s, "rows_per_s": rows / seconds}


def _median_of(runs: list[dict]) -> dict:
    """The run of median seconds (an odd number of runs), with every run's seconds."""
    ordered = sorted(runs, key=lambda run: run["seconds"])
    return {**ordered[len(ordered) // 2], "runs_s": [run["seconds"] for run in runs]}


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

        in_scratch = partial(_in_scratch_database, args.pg_url)
        range_loads: dict[str, Callable[[int], dict]] = {
            "baseline (pandas read_csv + PostgreSQL COPY)": lambda _: in_scratch(partial(raw_baseline, files)),
            "baseline into a table indexed like orders": lambda _: in_scratch(
                lambda url: raw_baseline(files, url, indexed=True)
            ),
            "baseline into the warehouse's orders table": lambda _: in_scratch(partial(orders_table_baseline, files)),
            "ours on SQLite, batches of 92 days": lambda round_no: ours(
                f"sqlite:///{scratch / f'warehouse-{round_no}.db'}", landing, first, last, BATCH_DAYS
            ),
            "ours on PostgreSQL, batches of 92 days": lambda _: in_scratch(
                lambda url: ours(url, landing, first, last, BATCH_DAYS)
            ),
        }
        range_runs: dict[str, list[dict]] = {name: [] for name in range_loads}
        for round_no in range(REPEATS):
            for name, load in range_loads.items():
                range_runs[name].append(load(round_no))
        results = {name: _median_of(runs) for name, runs in range_runs.items()}
        baseline, indexed, orders_table = list(results.values())[:3]
        results["ours on SQLite, one day at a time"] = ours(
            f"sqlite:///{scratch / 'warehouse-daily.db'}", landing, first, last, 1
        )
        results["ours on PostgreSQL, one day at a time"] = in_scratch(lambda url: ours(url, landing, first, last, 1))

        scaled_landing, scaled_lines = _scaled_landing(scratch, files, args.scale)
        scaled_date = dt.date.fromisoformat(files[-1].stem)
        scaled: dict[str, dict] = {}
        def scaled_run(url: str) -> tuple[dict, dict]:
            return scaled_day_runs(url, scaled_landing, first, scaled_date, args.scale, args.pg_url, files[:-1])

        scaled["baseline before SQLite"], scaled["ours on SQLite"] = scaled_run(
            f"sqlite:///{scratch / 'warehouse-scaled.db'}"
        )
        with scratch_database(args.pg_url, "bench_ingest") as url:
            scaled["baseline before PostgreSQL"], scaled["ours on PostgreSQL"] = scaled_run(url)
    ours_names = [name for name in results if name.startswith("ours")]
    print(f"\nIngest of {len(files)} day files, {first}..{last}: {baseline['rows']:,} order lines")
    print(f"(set-up, not timed: synthetic CRM files {crm_s:.1f} s, GX import + context {warm_up_s:.1f} s)\n")
    print(f"{'':52} {'seconds':>9} {'rows/s':>10} {'vs raw':>7} {'vs indexed':>10} {'vs orders':>9}  rounds (s)")
    for name, result in results.items():
        ratio = result["rows_per_s"] / baseline["rows_per_s"]
        to_indexed = result["rows_per_s"] / indexed["rows_per_s"]
        to_orders = result["rows_per_s"] / orders_table["rows_per_s"]
        print(
            f"{name:52} {result['seconds']:9.1f} {result['rows_per_s']:10,.0f} {ratio:7.0%} {to_indexed:10.0%}"
            f" {to_orders:9.0%}  {_rounds(result)}"
        )
    scaled_ratios, scaled_ratios_indexed, scaled_ratios_orders = {}, {}, {}
    for backend in ("SQLite", "PostgreSQL"):
        ours_rate, raw = scaled[f"ours on {backend}"]["rows_per_s"], scaled[f"baseline before {backend}"]
        scaled_ratios[backend] = ours_rate / raw["rows_per_s"]
        scaled_ratios_indexed[backend] = ours_rate / raw["indexed"]["rows_per_s"]
        scaled_ratios_orders[backend] = ours_rate / raw["orders table"]["rows_per_s"]
    print(
        f"\nOne day {args.scale}x our sample's size ({scaled_date}: {scaled_lines:,} order lines), into the history"
        f" before it (medians of {REPEATS} interleaved rounds)"
    )
    for name, result in scaled.items():
        backend = name.rsplit(" ", 1)[-1]
        if name.startswith("ours"):
            ratios = (
                f"{scaled_ratios[backend]:7.0%} {scaled_ratios_indexed[backend]:10.0%} {scaled_ratios_orders[backend]:9.0%}"
            )
            print(f"{name:52} {result['seconds']:9.2f} {result['rows_per_s']:10,.0f} {ratios}  {_rounds(result)}")
        else:
            print(f"{name:52} {result['seconds']:9.2f} {result['rows_per_s']:10,.0f} {'100%':>7} {'':>20}  {_rounds(result)}")
            into = result["indexed"]
            print(f"{'  the same into an indexed table holding the history':52} {into['seconds']:9.2f} {into['rows_per_s']:10,.0f} {'':>7} {'100%':>10} {'':>9}  {_rounds(into)}")
            into = result["orders table"]
            print(f"{'  the same into the warehouse orders holding it':52} {into['seconds']:9.2f} {into['rows_per_s']:10,.0f} {'':>7} {'':>10} {'100%':>9}  {_rounds(into)}")
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
