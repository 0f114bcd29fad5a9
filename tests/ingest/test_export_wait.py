"""How long `wait_for_export` waits for a day's export, and what it says when it stops waiting."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from marketflow.ingest.landing import Landing
from marketflow.ingest.sensor import export_verdict

DAY = dt.date(2026, 11, 29)
DUE = dt.datetime(2026, 11, 30, tzinfo=dt.timezone.utc)  # the end of the day's data interval
MISSING = ["/landing/2026-11-29.csv"]
SIX_HOURS = 6 * 3600.0


def test_a_late_export_is_waited_for_until_the_timeout_after_it_was_due() -> None:
    assert export_verdict(DAY, MISSING, DAY - dt.timedelta(days=1), DUE + dt.timedelta(hours=5), DUE, SIX_HOURS) is None
    late = export_verdict(DAY, MISSING, DAY - dt.timedelta(days=1), DUE + dt.timedelta(hours=6), DUE, SIX_HOURS)
    assert late == (
        "export for trading day 2026-11-29 was due at 2026-11-30 00:00 UTC and is 6.0 h late (waiting up to "
        "21600s after it is due); the newest export present is 2026-11-28.csv: expected /landing/2026-11-29.csv"
    )


def test_a_catch_up_run_long_after_the_day_fails_at_once_naming_the_newest_export() -> None:
    years_later = DUE + dt.timedelta(days=400)
    verdict = export_verdict(DAY, MISSING, None, years_later, DUE, SIX_HOURS)
    assert verdict is not None and "9600.0 h late" in verdict and "the landing location holds no export" in verdict


def test_a_missing_export_with_a_later_one_present_fails_at_once_even_in_time() -> None:
    verdict = export_verdict(DAY, MISSING, DAY + dt.timedelta(days=2), DUE + dt.timedelta(minutes=1), DUE, SIX_HOURS)
    assert verdict == (
        "export for trading day 2026-11-29 is missing while a later one arrived (the newest export present is "
        "2026-12-01.csv): expected /landing/2026-11-29.csv"
    )


def test_the_newest_export_is_the_latest_orders_file_whatever_else_lies_there(tmp_path: Path) -> None:
    landing = Landing(str(tmp_path / "landing"))
    assert landing.newest_export() is None  # the folder does not even exist yet
    for name in ("2026-11-27.csv", "customers-2026-11-30.csv", "2026-11-28.csv", "notes.txt", "2026-11-29.csv.part"):
        (tmp_path / "landing").mkdir(exist_ok=True)
        (tmp_path / "landing" / name).write_text("x")
    assert landing.newest_export() == dt.date(2026, 11, 28)
