"""`marketflow profiles build | segments | groups` against a warehouse named by the Airflow connection."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from marketflow.cli import main
from marketflow.warehouse import schema, warehouse_engine
from tests.profiles.factories import line
from tests.profiles.real_orders import insert_orders


def run(*argv: str) -> int:
    """Through the installed `marketflow` entry point's parser, so the stage's wiring is tested too."""
    return main(list(argv))


def test_build_then_show_segments_and_groups(warehouse_connection_env: str, capsys: pytest.CaptureFixture) -> None:
    rows = [
        line("2011-01-03", f"{i}", code, 1, 2.0, str(12000 + i % 7), description=text)
        for i, (code, text) in enumerate(
            [("20001", "ROSE CANDLE"), ("20002", "VANILLA CANDLE"), ("20003", "DOG MUG"), ("20004", "CAT MUG")] * 4
        )
    ]
    engine = warehouse_engine(warehouse_connection_env)
    insert_orders(engine, pd.DataFrame(rows))
    assert run("profiles", "build", "--date", "2011-01-09", "--to", "2011-01-10") == 1
    assert "not built: orders of 2 day(s) are not ingested: 2011-01-09, 2011-01-10" in capsys.readouterr().out
    with engine.begin() as conn:  # the shop was closed that week: ingest records the days as such
        conn.execute(schema.ingest_days.insert(), [
            {"file_date": dt.date(2011, 1, day), "file_kind": kind, "status": "no_trading", "rows_read": 0,
             "rows_loaded": 0, "rows_quarantined": 0}
            for day in range(4, 11) for kind in ("orders", "customers")
        ])
    assert run("profiles", "build", "--date", "2011-01-09", "--to", "2011-01-10") == 0
    out = capsys.readouterr().out
    assert "2011-01-09: 7 customers" in out and "2011-01-10: 7 customers" in out
    assert run("profiles", "segments", "--date", "2011-01-10") == 0
    assert "7 customers" in capsys.readouterr().out
    assert run("profiles", "groups", "--date", "2011-01-10") == 0
    groups = capsys.readouterr().out
    assert "candle" in groups and "mug" in groups
    assert run("profiles", "groups", "--date", "2011-02-01") == 1


def test_a_bad_date_is_refused_by_the_parser(capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        run("profiles", "build", "--date", "10/01/2011")
    assert "expected a date YYYY-MM-DD" in capsys.readouterr().err
