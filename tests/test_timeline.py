"""How `marketflow runs` and the demo print a run: the days it built, else the days it was asked for."""

from __future__ import annotations

import datetime as dt

from marketflow.timeline import RunRecord

START = dt.datetime(2026, 11, 30, 12, tzinfo=dt.timezone.utc)
D26, D27 = dt.date(2026, 11, 26), dt.date(2026, 11, 27)


def _run(run_type: str, days: tuple[dt.date, ...], built: tuple[dt.date, ...]) -> RunRecord:
    return RunRecord(
        dag_id="score_audiences", run_id="r", run_type=run_type, trigger="asset marketflow_customer_profiles",
        state="success", days=days, started=START, ended=START + dt.timedelta(seconds=12.5), built=built,
    )


def test_a_run_shows_the_days_it_built_also_those_it_was_not_triggered_for() -> None:
    line = _run("asset_triggered", (D26,), (D26, D27)).line()
    assert "2026-11-26, 2026-11-27" in line and "12.5 s" in line and line.endswith("(asset marketflow_customer_profiles)")
    assert _run("asset_triggered", (D26,), (D26, D27)).as_dict()["built"] == ["2026-11-26", "2026-11-27"]


def test_a_data_triggered_run_that_built_nothing_says_another_run_had() -> None:
    line = _run("asset_triggered", (D27,), ()).line()
    assert "2026-11-27" in line and line.endswith("(asset marketflow_customer_profiles; already built by another run)")
    assert _run("manual", (D27,), ()).line().endswith("(asset marketflow_customer_profiles)")
