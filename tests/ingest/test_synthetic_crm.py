"""The synthetic CRM export: deterministic, clearly fake addresses, realistic consent dynamics."""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import defaultdict
from pathlib import Path

import pytest

from marketflow.ingest.synthetic_crm import customer_ids, orders_days, write_crm_exports


def _records(landing: Path) -> dict[str, list[tuple[dt.date, str, bool]]]:
    """customer -> [(day, email, consent)] in date order, read back from the CRM files."""
    history = defaultdict(list)
    for path in sorted(landing.glob("customers-*.csv")):
        day = dt.date.fromisoformat(path.stem.removeprefix("customers-"))
        for row in csv.DictReader(io.StringIO(path.read_text())):
            history[row["CustomerID"]].append((day, row["Email"], row["MarketingConsent"] == "true"))
    return history


@pytest.fixture(scope="module")
def history(real_landing: Path) -> dict[str, list[tuple[dt.date, str, bool]]]:
    return _records(real_landing)


def test_the_same_orders_give_the_same_crm_files(real_landing: Path, tmp_path: Path) -> None:
    days = orders_days(str(real_landing))[:40]
    for day in days:
        (tmp_path / f"{day}.csv").symlink_to(real_landing / f"{day}.csv")
    write_crm_exports(str(tmp_path))
    again = tmp_path / "again"
    again.mkdir()
    for day in days:
        (again / f"{day}.csv").symlink_to(real_landing / f"{day}.csv")
    write_crm_exports(str(again))
    for day in days:
        name = f"customers-{day}.csv"
        assert (tmp_path / name).read_bytes() == (again / name).read_bytes()


def test_every_customer_signs_up_on_their_first_order_day_with_an_example_com_address(
    real_landing: Path, history: dict
) -> None:
    first_order = {}
    for day in orders_days(str(real_landing)):
        for customer in customer_ids((real_landing / f"{day}.csv").read_bytes()):
            first_order.setdefault(customer, day)
    assert set(history) == set(first_order)
    assert all(records[0][0] == first_order[customer] for customer, records in history.items())
    assert all(email.endswith("@example.com") for records in history.values() for _, email, _ in records)
    assert {path.name for path in real_landing.glob("customers-*.csv")} == {
        f"customers-{path.name}" for path in real_landing.glob("????-??-??.csv")
    }


def test_consent_rates_look_like_a_real_shop(history: dict) -> None:
    signed_up_consenting = sum(records[0][2] for records in history.values()) / len(history)
    assert 0.60 <= signed_up_consenting <= 0.70

    last_day = max(day for records in history.values() for day, _, _ in records)
    consenting_months = opt_outs = re_opt_ins = email_changes = 0
    for records in history.values():
        following = records[1:] + [(last_day, None, None)]
        for (day, email, consent), (next_day, next_email, next_consent) in zip(records, following):
            if consent:
                consenting_months += (next_day - day).days / 30.44
            opt_outs += consent and next_consent is False
            re_opt_ins += consent is False and next_consent is True
            email_changes += next_email is not None and next_email != email
    assert 0.01 <= opt_outs / consenting_months <= 0.02
    assert 0 < re_opt_ins < opt_outs
    assert email_changes > 0
