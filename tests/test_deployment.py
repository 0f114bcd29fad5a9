"""A deployment's first day, the demo's re-dated replay and its settings file, the local stack's addresses."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from pathlib import Path

import pytest

from marketflow.dag_defaults import deployment_start, periodic_start
from marketflow.demo import (
    deployment_settings,
    first_replayed_day,
    latest_cron_day,
    read_env_file,
    replay_idle,
    replay_shift,
    write_env_file,
)
from marketflow.ingest.calendar import closure_reason
from marketflow.ingest.sample import SAMPLE_FIRST_DAY, SAMPLE_LAST_DAY, redate_orders, sample_days, unpack_sample
from marketflow.ingest.settings import IngestSettings
from marketflow.local_stack import local_environment
from marketflow.timeline import RunRecord

UTC = dt.timezone.utc


def test_the_first_day_is_the_setting_else_the_oldest_local_export_else_today(tmp_path: Path) -> None:
    env = {"AIRFLOW_HOME": str(tmp_path), "MARKETFLOW_START_DATE": "2026-11-23"}
    assert deployment_start(env) == dt.datetime(2026, 11, 23, tzinfo=UTC)
    assert periodic_start(env) == dt.datetime(2026, 10, 19, tzinfo=UTC)
    landing = tmp_path / "landing"
    landing.mkdir()
    for name in ("2026-11-02.csv", "customers-2026-10-01.csv", "2026-11-09.csv"):
        (landing / name).write_text("x")
    assert deployment_start({"AIRFLOW_HOME": str(tmp_path)}) == dt.datetime(2026, 11, 2, tzinfo=UTC)
    empty = {"AIRFLOW_HOME": str(tmp_path / "elsewhere")}
    assert deployment_start(empty).date() == dt.datetime.now(UTC).date()


def test_a_bad_or_unknowable_first_day_is_an_error_naming_the_setting() -> None:
    with pytest.raises(ValueError, match=r"\$MARKETFLOW_START_DATE must be a date YYYY-MM-DD, got 'soon'"):
        deployment_start({"MARKETFLOW_START_DATE": "soon"})
    with pytest.raises(ValueError, match="MARKETFLOW_START_DATE is not set and the landing location s3://shop"):
        deployment_start({"MARKETFLOW_LANDING_URL": "s3://shop/exports"})


def test_the_sample_replays_re_dated_with_its_calendar(tmp_path: Path) -> None:
    original = sample_days()
    assert (original[0], original[-1], len(original)) == (SAMPLE_FIRST_DAY, SAMPLE_LAST_DAY, 101)
    today = dt.date(2026, 11, 30)
    shift = replay_shift(original, today)
    days = unpack_sample(str(tmp_path), shift=shift)
    assert days[-1] == dt.date(2026, 11, 29) and len(days) == 101
    text = (tmp_path / "2026-11-29.csv").read_text()
    assert ",2026-11-29 08:29:00," in text and "2011-" not in text
    assert redate_orders(b"1,X,,2,2011-10-31 08:29:00,1.0,1,UK\n", SAMPLE_LAST_DAY, shift) == (
        b"1,X,,2,2026-11-29 08:29:00,1.0,1,UK\n"
    )
    settings = deployment_settings(tmp_path, dt.datetime(2026, 11, 30, 10, tzinfo=UTC), original, smtp_port=2525)
    # Thursday 2026-11-26 09:00 was the re-order reminder's latest due run: it works on Wednesday
    assert settings["MARKETFLOW_START_DATE"] == "2026-11-25"
    calendar = IngestSettings.from_env({"MARKETFLOW_INGEST_CALENDAR": settings["MARKETFLOW_INGEST_CALENDAR"]}).calendar
    every_day = [days[0] + dt.timedelta(days=n) for n in range((days[-1] - days[0]).days + 1)]
    closed = {day for day in every_day if closure_reason(day, calendar) is not None}
    assert closed == set(every_day) - set(days)  # exactly the re-dated days without an export
    assert closure_reason(dt.date(2011, 8, 29) + shift, calendar) == "closed on 2011-08-29 in the sample"
    smtp = json.loads(settings["AIRFLOW_CONN_SMTP_DEFAULT"])
    assert (smtp["host"], smtp["port"]) == ("127.0.0.1", 2525)


def test_the_replay_reaches_back_to_the_earliest_latest_due_campaign_day() -> None:
    monday_10 = dt.datetime(2026, 11, 30, 10, tzinfo=UTC)
    assert latest_cron_day("0 7 * * 1", monday_10) == dt.date(2026, 11, 29)  # ran at 07:00 today
    assert latest_cron_day("0 11 * * 1", monday_10) == dt.date(2026, 11, 22)  # due at 11:00: last week's
    assert latest_cron_day("0 9 * * 2,4", monday_10) == dt.date(2026, 11, 25)
    assert first_replayed_day(monday_10, ["0 8 * * *"]) == dt.date(2026, 11, 27)  # at least three days
    assert first_replayed_day(monday_10, ["0 8 * * *", "0 11 * * 1", "@once"]) == dt.date(2026, 11, 22)


def test_the_demo_waits_for_the_replayed_days_not_for_the_day_after_midnight() -> None:
    """Past midnight UTC the scheduler starts ingesting a day the sample has no export for: that run
    waits for it, as in production, and must not keep the demo waiting (it did, without end)."""
    last_day = dt.date(2026, 12, 7)

    def run(state: str, *days: dt.date, dag_id: str = "ingest_orders") -> RunRecord:
        return RunRecord(dag_id, f"{dag_id}-{state}-{days}", "scheduled", "schedule", state, days, None, None)

    replayed = [run("success", last_day - dt.timedelta(days=1)), run("success", last_day)]
    assert replay_idle([*replayed, run("running", last_day + dt.timedelta(days=1))], ("ingest_orders",), last_day)
    assert not replay_idle([*replayed, run("running", last_day)], ("ingest_orders",), last_day)
    assert not replay_idle([*replayed, run("queued")], ("ingest_orders",), last_day)  # days unknown: waited for
    assert replay_idle([*replayed, run("running", last_day, dag_id="build_profiles")], ("ingest_orders",), last_day)
    # a run of the last day and the next (a data-triggered run reading both) is waited for
    both = run("running", last_day, last_day + dt.timedelta(days=1), dag_id="build_profiles")
    assert not replay_idle([both], ("build_profiles",), last_day)


def test_the_settings_file_is_sourced_by_a_shell_unchanged(tmp_path: Path) -> None:
    values = {"A_JSON": '{"closed_dates": {"2026-08-31": "bank holiday\'s"}}', "B": "plain", "C": "$HOME `x`"}
    path = tmp_path / "marketflow.env"
    write_env_file(path, values)
    script = f"set -a; source {path}; set +a; " + "; ".join(f'printf "%s\\n" "${k}"' for k in values)
    out = subprocess.run(["bash", "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.splitlines() == list(values.values())
    assert read_env_file(path) == values and read_env_file(tmp_path / "none.env") == {}


def test_every_component_of_the_local_stack_agrees_on_loopback_addresses() -> None:
    env = local_environment({"KEEP": "1"}, api_port=8181, log_port=8794)
    assert env["KEEP"] == "1"
    assert env["AIRFLOW__API__HOST"] == "127.0.0.1"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:8181/execution/"
    assert env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] == "8794"
    assert env["AIRFLOW__CORE__HOSTNAME_CALLABLE"] == "marketflow.local_stack.loopback_hostname"
