"""The demo sample: small, attributed, real order files with their synthetic CRM files, unpackable
into any landing location by the CLI."""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import fsspec

from marketflow.ingest.cli import add_commands
from marketflow.ingest.landing import FileKind, Landing
from marketflow.ingest.sample import SAMPLE_ARCHIVE, SAMPLE_FIRST_DAY, SAMPLE_LAST_DAY, unpack_sample
from marketflow.ingest.synthetic_crm import crm_exports, customer_ids, render


def test_the_sample_is_small_and_attributed() -> None:
    assert SAMPLE_ARCHIVE.stat().st_size < 3_000_000
    readme = (SAMPLE_ARCHIVE.parent / "README.md").read_text()
    musts = ("Daqing Chen", "UCI Machine Learning Repository", "CC BY 4.0", "10.24432/C5BW33", "SYNTHETIC")
    for must in (*musts, "@example.com"):
        assert must in readme, must


def test_the_sample_holds_seventeen_weeks_of_real_exports_and_matching_crm_files(real_data_dir: Path) -> None:
    url = "memory://sample-landing"
    try:
        days = unpack_sample(url)
        landing = Landing(url)
        orders = {day: landing.read_bytes(FileKind.ORDERS, day) for day in days}
        crm = {day: landing.read_bytes(FileKind.CUSTOMERS, day) for day in days}
    finally:
        fsspec.filesystem("memory").rm("/sample-landing", recursive=True)
    real_days = sorted(
        dt.date.fromisoformat(path.stem)
        for path in real_data_dir.glob("????-??-??.csv")
        if SAMPLE_FIRST_DAY <= dt.date.fromisoformat(path.stem) <= SAMPLE_LAST_DAY
    )
    assert days == real_days and (days[-1] - days[0]).days + 1 == 17 * 7
    assert all(orders[day] == (real_data_dir / f"{day}.csv").read_bytes() for day in days)
    regenerated = crm_exports({day: customer_ids(content) for day, content in orders.items()})
    assert all(crm[day] == render(regenerated[day]) for day in days)


def test_the_cli_unpacks_the_sample_into_a_landing_folder(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser(prog="marketflow")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["ingest", "unpack-sample", "--landing", str(tmp_path)])
    assert args.handler(args) == 0
    names = {path.name for path in tmp_path.iterdir()}
    assert f"{SAMPLE_LAST_DAY}.csv" in names and f"customers-{SAMPLE_LAST_DAY}.csv" in names
    assert len(names) == 2 * len({name.removeprefix("customers-") for name in names})
