"""The trading calendar explains every gap in the real history, and the settings validate on load."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from marketflow.ingest import IngestSettings, closure_reason
from marketflow.ingest.history import days_between
from marketflow.ingest.settings import AnnualClosure, CalendarSettings
from tests.ingest.conftest import HISTORY_FIRST_DAY, HISTORY_LAST_DAY


def test_the_calendar_predicts_every_missing_day_of_the_real_history_and_no_present_day(
    real_data_dir: Path,
) -> None:
    present = {dt.date.fromisoformat(path.stem) for path in real_data_dir.glob("????-??-??.csv")}
    calendar = CalendarSettings()
    history = set(days_between(HISTORY_FIRST_DAY, HISTORY_LAST_DAY))
    closed = {day for day in history if closure_reason(day, calendar)}
    assert len(present) == 271
    assert closed == history - present


@pytest.mark.parametrize(
    ("day", "reason"),
    [
        (dt.date(2011, 3, 5), "Saturday"),
        (dt.date(2011, 3, 6), None),  # Sundays trade
        (dt.date(2011, 4, 29), "bank holiday: Wedding of William and Catherine"),
        (dt.date(2011, 4, 24), "Easter Sunday"),
        (dt.date(2010, 12, 24), "Christmas shutdown"),
        (dt.date(2011, 1, 3), "Christmas shutdown"),
        (dt.date(2011, 1, 4), None),
        (dt.date(2011, 8, 29), "bank holiday: Late Summer Bank Holiday"),
    ],
)
def test_closure_reasons(day: dt.date, reason: str | None) -> None:
    assert closure_reason(day, CalendarSettings()) == reason


def test_a_configured_calendar_replaces_the_defaults() -> None:
    calendar = CalendarSettings(
        closed_weekdays=(6,),
        bank_holidays_country=None,
        annual_closures=(AnnualClosure(first="08-01", last="08-15", label="summer break"),),
        closed_dates={},
    )
    assert closure_reason(dt.date(2011, 3, 5), calendar) is None
    assert closure_reason(dt.date(2011, 3, 6), calendar) == "Sunday"
    assert closure_reason(dt.date(2011, 8, 10), calendar) == "summer break"
    assert closure_reason(dt.date(2011, 4, 29), calendar) is None


def test_settings_come_from_the_environment() -> None:
    settings = IngestSettings.from_env(
        {
            "MARKETFLOW_LANDING_URL": "s3://shop-exports/daily",
            "MARKETFLOW_INGEST_MAX_BAD_ROW_SHARE": "0.02",
            "MARKETFLOW_INGEST_EXPORT_TIMEOUT_S": "600",
        }
    )
    assert (settings.landing_url, settings.max_bad_row_share, settings.export_timeout_s) == (
        "s3://shop-exports/daily", 0.02, 600.0
    )


def test_the_landing_folder_defaults_to_the_airflow_home(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    assert IngestSettings.from_env({}).landing_url == str(tmp_path / "landing")


def test_an_invalid_setting_names_the_field_and_its_environment_variable() -> None:
    with pytest.raises(ValueError, match=r"max_bad_row_share \(from \$MARKETFLOW_INGEST_MAX_BAD_ROW_SHARE\)"):
        IngestSettings.from_env({"MARKETFLOW_INGEST_MAX_BAD_ROW_SHARE": "1.5"})
    with pytest.raises(ValueError, match=r"calendar\.annual_closures\.0\.last"):
        closures = [{"first": "12-24", "last": "13-03", "label": "Christmas"}]
        IngestSettings.from_env({}, calendar={"annual_closures": closures})
