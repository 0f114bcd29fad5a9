"""The demo: a local deployment run by Airflow's own scheduler over the shipped sample, as if the
shop's exports had just arrived.

1. The sample (17 weeks of the real 2011 exports) is re-dated so that its last day is yesterday and
   unpacked into the landing folder; the trading calendar moves with it.
2. All but its last few days is loaded as an initial import (`marketflow ingest load-range`); the
   scheduler replays at least three days, back to the day of the earliest latest-due campaign run.
3. The deployment starts: api-server, scheduler, dag-processor, triggerer, a task-log server and
   a local SMTP sink, all on 127.0.0.1 (`marketflow.local_stack`), with `MARKETFLOW_START_DATE` =
   the first replayed day. The demo unpauses the DAGs as an operator would: first ingest
   and the stages it triggers (the scheduler catches the days up, one at a time; profiles and
   scores follow each day's orders), then the weekly recommender, then the campaigns, whose latest
   due runs select, render and send (or, when due more than two days ago, contact nobody).
4. It prints every run, what the campaigns sent and what the warehouse holds, stops the deployment
   and leaves its settings in `$AIRFLOW_HOME/marketflow.env`, which `make ui` reads: the UI then shows
   the runs with their real durations and logs, and the DAGs stay unpaused as in production.
"""

from __future__ import annotations

import datetime as dt
import os
import shlex
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from sqlalchemy import Engine, func, select

from marketflow.campaigns.demo import LocalChannels, serve
from marketflow.ingest.settings import IngestSettings
from marketflow.local_stack import LocalStack
from marketflow.timeline import RunRecord, dag_runs, known_dags, set_paused, task_states
from marketflow.warehouse import schema, warehouse_engine

ENV_FILE = "marketflow.env"
#: The fewest days the scheduler replays (one DAG run a day); the rest of the sample is the initial import.
MIN_REPLAY_DAYS = 3
DATA_DAGS = ("ingest_orders", "build_profiles", "score_audiences")
RECOMMENDER = "train_recommender"
#: A phase fails when no DAG run and no task instance has changed state, and no task has written to
#: its log, for this long (a long task that logs its progress, such as drafting copy, is not stalled).
STALL_TIMEOUT_S = 600.0


def write_env_file(path: Path, values: Mapping[str, str]) -> None:
    """`KEY='value'` lines a shell can source (`scripts/airflow_env.sh` does)."""
    lines = [f"{key}={shlex.quote(value)}" for key, value in values.items()]
    path.write_text("# Written by `marketflow demo`: the demo deployment's settings.\n" + "\n".join(lines) + "\n")


def read_env_file(path: Path) -> dict[str, str]:
    """The settings `write_env_file` wrote ({} when there is no such file)."""
    if not path.is_file():
        return {}
    values = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, quoted = line.partition("=")
            values[key] = "".join(shlex.split(quoted))
    return values


def deployment_settings(airflow_home: Path, now: dt.datetime, sample_days: list[dt.date], smtp_port: int) -> dict[str, str]:
    """The settings of the demo deployment whose sample ends yesterday."""
    from marketflow.campaigns.config import load_campaigns
    from marketflow.ingest.sample import replay_calendar

    shift = replay_shift(sample_days, now.date())
    schedules = [c.schedule for c in load_campaigns() if c.enabled]
    return {
        "MARKETFLOW_START_DATE": first_replayed_day(now, schedules).isoformat(),
        "MARKETFLOW_INGEST_CALENDAR": replay_calendar(sample_days, shift).model_dump_json(),
        **LocalChannels.under(airflow_home, smtp_port).environment(),
    }


def first_replayed_day(now: dt.datetime, schedules: list[str]) -> dt.date:
    """The first day the scheduler replays: `MIN_REPLAY_DAYS` before `now`, or earlier when a
    campaign's latest due run works on an earlier day (its profiles and scores come from the replay)."""
    first = now.date() - dt.timedelta(days=MIN_REPLAY_DAYS)
    for schedule in schedules:
        if schedule != "@once" and (due := latest_cron_day(schedule, now)) is not None:
            first = min(first, due)
    return first


def latest_cron_day(schedule: str, now: dt.datetime) -> dt.date | None:
    """Day D of the latest run a daily-or-slower UTC cron has due at `now` (None: none in 31 days)."""
    from airflow.timetables.base import TimeRestriction
    from airflow.timetables.interval import CronDataIntervalTimetable

    from marketflow.days import interval_day

    timetable = CronDataIntervalTimetable(schedule, timezone="UTC")
    restriction = TimeRestriction(earliest=now - dt.timedelta(days=31), latest=None, catchup=True)
    interval, day = None, None
    while (info := timetable.next_dagrun_info(last_automated_data_interval=interval, restriction=restriction)) and (
        info.data_interval.end <= now
    ):
        interval, day = info.data_interval, interval_day(info.data_interval.end)
    return day


def replay_shift(sample_days: list[dt.date], today: dt.date) -> dt.timedelta:
    """How far the sample moves so that its last day is yesterday."""
    return (today - dt.timedelta(days=1)) - max(sample_days)


def initial_import(engine: Engine, settings: IngestSettings, first: dt.date, last: dt.date) -> str:
    """Load the exports of `first`..`last` in batches (the operator's fast path, no DAG runs)."""
    from marketflow.ingest import ingest_history

    reports = ingest_history(engine, settings.landing_url, first, last, settings)
    loaded = [r for r in reports if r.file_kind == "orders" and r.status == "loaded"]
    return f"{len(loaded)} trading days, {sum(r.rows_loaded for r in loaded):,} order lines"


class Watcher:
    """Prints each DAG run once it finishes (with the time since the first DAG was unpaused), and
    waits for the deployment to reach a state."""

    def __init__(self, task_logs: Path) -> None:
        self.printed: set[str] = set()
        self.started = time.monotonic()
        self.task_logs = task_logs

    def report(self) -> list[RunRecord]:
        runs = dag_runs()
        for run in runs:
            if run.finished and run.run_id + run.dag_id not in self.printed:
                self.printed.add(run.run_id + run.dag_id)
                print(f"  {self.clock()}  {run.line()}", flush=True)
        return runs

    def clock(self) -> str:
        minutes, seconds = divmod(int(time.monotonic() - self.started), 60)
        return f"[{minutes:02d}:{seconds:02d}]"

    def wait(self, what: str, done: Callable[[list[RunRecord]], bool], dag_ids: tuple[str, ...]) -> list[RunRecord]:
        """Until `done(runs)`. Stops when a run of `dag_ids` fails, or when nothing has changed state
        and no task log has grown for `STALL_TIMEOUT_S`; then says which runs and tasks were left and
        in what state."""
        last_change, last_state = time.monotonic(), None
        while True:
            runs = self.report()
            failed = [r for r in runs if r.dag_id in dag_ids and r.state == "failed"]
            if failed:
                raise RuntimeError(f"{what}: {len(failed)} run(s) failed: {[r.line() for r in failed]}")
            if done(runs):
                return runs
            unfinished = [r for r in runs if not r.finished]
            state = ([(r.dag_id, r.run_id, r.state) for r in runs], task_states(unfinished), task_log_bytes(self.task_logs))
            if state != last_state:
                last_change, last_state = time.monotonic(), state
            elif time.monotonic() - last_change > STALL_TIMEOUT_S:
                raise RuntimeError(f"{what}: nothing changed for {STALL_TIMEOUT_S:.0f} s; {_pending(unfinished, state[1])}")
            time.sleep(2)


def task_log_bytes(logs: Path) -> int:
    """The size of every task log under Airflow's log folder (`dag_id=.../attempt=N.log`)."""
    return sum(path.stat().st_size for path in logs.glob("dag_id=*/**/*.log"))


def _pending(unfinished: list[RunRecord], tasks: dict[tuple[str, str, str], str]) -> str:
    if not unfinished:
        return "no run was left unfinished (did the scheduler create the next one?)"
    lines = []
    for run in unfinished:
        states = ", ".join(f"{task}={state}" for (dag_id, run_id, task), state in sorted(tasks.items())
                           if (dag_id, run_id) == (run.dag_id, run.run_id))
        lines.append(f"{run.line()} [{states or 'no task instances'}]")
    return "left unfinished: " + "; ".join(lines)


def replay_idle(runs: list[RunRecord], dag_ids: tuple[str, ...], last_day: dt.date) -> bool:
    """Whether every run of `dag_ids` for the replayed days (up to the sample's `last_day`) has finished.
    A run only for later days is not waited for: once the clock passes midnight UTC the scheduler starts
    ingesting the next day, whose export the sample does not have, and that run waits for it as it would
    in production (a run whose days are not known counts)."""
    return all(r.finished for r in runs if r.dag_id in dag_ids and not after_replay(r, last_day))


def after_replay(run: RunRecord, last_day: dt.date) -> bool:
    """Whether `run` works only on days after the sample's `last_day` (False while its days are unknown)."""
    return bool(run.days) and min(run.days) > last_day


def _has_day(table: schema.Table, column: str, day: dt.date) -> bool:
    with warehouse_engine().connect() as conn:
        return conn.execute(select(func.count()).where(table.c[column] == day)).scalar_one() > 0


def latest_due_day(dag_id: str) -> dt.date:
    """Day D of the run the scheduler creates when the DAG is unpaused (its latest complete interval)."""
    from airflow.models.serialized_dag import SerializedDagModel
    from airflow.timetables.base import TimeRestriction

    from marketflow.days import interval_day

    dag = SerializedDagModel.get_dag(dag_id)
    restriction = TimeRestriction(earliest=dag.start_date, latest=None, catchup=False)
    info = dag.timetable.next_dagrun_info(last_automated_data_interval=None, restriction=restriction)
    return interval_day(info.data_interval.end)


def recommender_backfills(campaigns: list[str]) -> list[dt.date]:
    """Weeks whose recommendations the campaigns' latest runs read and the recommender's latest run
    does not write (a campaign due before Monday's training reads the week before)."""
    from marketflow.backfill import plan_backfill
    from marketflow.campaigns.config import load_campaigns

    latest = latest_due_day(RECOMMENDER)
    readers = [c for c in load_campaigns() if c.dag_id in campaigns and "recommendations" in c.required_inputs()]
    weeks = set()
    for config in readers:
        day = latest_due_day(config.dag_id)
        week = plan_backfill(RECOMMENDER, day - dt.timedelta(days=6), day).days[-1]
        if week < latest:
            weeks.add(week)
    return sorted(weeks)


def _orders_ingested(day: dt.date) -> bool:
    """Whether the recommender's input sensor would find the orders of `day` (its own rule)."""
    from marketflow.freshness import orders_as_of

    with warehouse_engine().connect() as conn:
        return orders_as_of(conn, day) == day


def run_deployment(campaigns: list[str], yesterday: dt.date, task_logs: Path) -> None:
    """Unpause the DAGs as their inputs arrive and wait for their runs: the recommender trains
    beside the later days' profiles and scores once its week's orders are in; the campaigns start
    when every input they read is there."""
    watcher = Watcher(task_logs)
    print(f"==> unpaused {', '.join(DATA_DAGS)}: the scheduler catches up to {yesterday}", flush=True)
    set_paused(DATA_DAGS, paused=False)

    trained_week = latest_due_day(RECOMMENDER)
    watcher.wait(f"the orders up to {trained_week}", lambda runs: _orders_ingested(trained_week), DATA_DAGS)
    print(f"==> unpaused {RECOMMENDER}: its latest weekly run trains on the purchases up to {trained_week}, "
          "beside the later days' runs", flush=True)
    set_paused([RECOMMENDER], paused=False)
    weeks = recommender_backfills(campaigns)  # plans backfills: only of an unpaused DAG
    for week in weeks:
        from marketflow.backfill import create_backfill, plan_backfill

        print(f"==> `marketflow backfill {RECOMMENDER} --from-date {week} --to-date {week}`: campaigns due "
              "before this week's training read that week's recommendations", flush=True)
        create_backfill(plan_backfill(RECOMMENDER, week, week))
    expected = 1 + len(weeks)

    def caught_up(runs: list[RunRecord]) -> bool:
        ingested = [r for r in runs if r.dag_id == "ingest_orders" and r.finished and yesterday in r.days]
        return (
            bool(ingested)
            and _has_day(schema.customer_profiles, "as_of_date", yesterday)
            and _has_day(schema.audience_scores, "as_of_date", yesterday)
            and replay_idle(runs, DATA_DAGS, yesterday)
            and sum(r.dag_id == RECOMMENDER and r.finished for r in runs) >= expected
            and replay_idle(runs, (RECOMMENDER,), yesterday)
        )

    watcher.wait("the daily pipeline and the recommender", caught_up, (*DATA_DAGS, RECOMMENDER))
    print(f"==> unpaused {len(campaigns)} campaigns: each runs its latest due run", flush=True)
    set_paused(campaigns, paused=False)
    watcher.wait(
        "the campaigns",
        lambda runs: all(any(r.dag_id == c and r.finished for r in runs) for c in campaigns)
        and replay_idle(runs, tuple(campaigns), yesterday),
        tuple(campaigns),
    )


def warehouse_summary() -> dict[str, int]:
    """Row counts a user cares about after a run."""
    counts = {
        "order lines loaded": schema.orders,
        "rows quarantined": schema.quarantine,
        "days ingested": schema.ingest_days,
        "products": schema.products,
        "customers": schema.customers,
        "customer profiles (all days)": schema.customer_profiles,
        "models registered": schema.model_registry,
        "recommendations": schema.recommendations,
        "audience scores": schema.audience_scores,
        "campaign runs": schema.campaign_runs,
        "audience members": schema.audience_members,
        "messages": schema.messages,
    }
    with warehouse_engine().connect() as conn:
        return {label: conn.execute(select(func.count()).select_from(t)).scalar_one() for label, t in counts.items()}


def _wait_for_dags(expected: set[str], timeout: float = 180.0) -> None:
    deadline = time.monotonic() + timeout
    while not expected <= known_dags():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the dag-processor has not registered {sorted(expected - known_dags())}")
        time.sleep(1)


def _tail(path: Path, lines: int) -> str:
    text = path.read_text(errors="replace") if path.is_file() else ""
    return "\n".join(f"    {line[:300]}" for line in text.splitlines()[-lines:])


def main() -> int:
    """Re-date and unpack the sample, import all but its last week, then run the deployment."""
    from marketflow.campaigns.config import load_campaigns
    from marketflow.ingest.sample import sample_days, unpack_sample

    airflow_home = Path(os.environ.get("AIRFLOW_HOME", Path.home() / "airflow"))
    landing = IngestSettings.from_env().landing_url
    now = dt.datetime.now(dt.timezone.utc)
    today = now.date()
    yesterday = today - dt.timedelta(days=1)
    original = sample_days()
    shift = replay_shift(original, today)
    days = unpack_sample(landing, shift=shift)
    port = int(os.environ.get("MARKETFLOW_SMTP_SINK_PORT") or 2525)
    settings = deployment_settings(airflow_home, now, original, port)
    write_env_file(airflow_home / ENV_FILE, settings)
    os.environ.update(settings)
    first_replayed = dt.date.fromisoformat(settings["MARKETFLOW_START_DATE"])
    print(
        f"==> sample: {len(days)} daily exports of {original[0]}..{original[-1]}, re-dated by {shift.days} days "
        f"to {days[0]}..{days[-1]}, in {landing}"
    )
    print(f"==> initial import of {days[0]}..{first_replayed - dt.timedelta(days=1)}: ", end="", flush=True)
    last_imported = first_replayed - dt.timedelta(days=1)
    print(initial_import(warehouse_engine(), IngestSettings.from_env(), days[0], last_imported))

    channels = LocalChannels.under(airflow_home, port)
    api_port = int(os.environ.get("AIRFLOW__API__PORT", "8080"))
    log_port = int(os.environ.get("AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT", "8793"))
    stack = LocalStack(dict(os.environ), airflow_home / "logs" / "stack", api_port=api_port, log_port=log_port)
    print(f"==> starting Airflow (scheduler, dag-processor, triggerer, api-server on {stack.base_url}) and the SMTP sink")
    failed = False
    started = time.perf_counter()
    campaigns = sorted(c.dag_id for c in load_campaigns() if c.enabled)
    with serve(channels), stack:
        _wait_for_dags({*DATA_DAGS, RECOMMENDER, *campaigns})
        try:
            run_deployment(campaigns, yesterday, airflow_home / "logs")
        except RuntimeError as error:
            print(f"==> STOPPED: {error}")
            print(f"==> the scheduler's last log lines ({stack.logs / 'scheduler.log'}):")
            print(_tail(stack.logs / "scheduler.log", 15))
            failed = True
    print(f"==> the deployment ran for {time.perf_counter() - started:.0f} s; stopped it")
    print(f"==> campaigns (local SMTP sink; open the .eml files in {channels.outbox}):")
    for label, count in channels.summary().items():
        print(f"  {label:<32} {count:>9,}")
    for line in channels.report_lines():
        print(f"  {line}")
    print("==> who wrote the copy (llm: the language model; template_fallback: its draft was not used, and why):")
    for line in channels.copy_lines():
        print(f"  {line}")
    print("==> the warehouse now holds:")
    for label, count in warehouse_summary().items():
        print(f"  {label:<32} {count:>9,}")
    runs = dag_runs()
    for run in runs:
        if not run.finished and after_replay(run, yesterday):
            days = ", ".join(map(str, run.days))
            print(f"==> past midnight UTC: {run.dag_id} for {days} waits for inputs the sample does not have ({run.state})")
    failed_runs = [r for r in runs if r.state == "failed"]
    print(
        "==> open the web UI with `make ui`, then http://127.0.0.1:8080 "
        "(login admin/admin; the Campaigns page is in the menu)"
    )
    if failed or failed_runs:
        print(f"==> {len(failed_runs)} DAG run(s) failed; their logs are in {airflow_home / 'logs'}")
        return 1
    return 0

