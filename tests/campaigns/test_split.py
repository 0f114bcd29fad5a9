"""Control split and variants: the configured share, stable across runs and process restarts."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from marketflow.audiences.split import assign_variant, is_control, unit_hash


@pytest.fixture(scope="module")
def real_customer_ids(real_data_dir: Path) -> list[str]:
    """Every customer id of the real history (about 4.3k), as the warehouse stores them."""
    ids: set[str] = set()
    for path in sorted(real_data_dir.glob("*.csv")):
        with path.open(newline="") as handle:
            ids.update(row["CustomerID"].removesuffix(".0") for row in csv.DictReader(handle) if row["CustomerID"])
    return sorted(ids)


@pytest.mark.parametrize("share", [0.1, 0.2, 0.5])
def test_control_share_is_within_one_point_on_the_real_customers(real_customer_ids: list[str], share: float) -> None:
    assert len(real_customer_ids) >= 4000
    held_out = sum(is_control("winback", c, share) for c in real_customer_ids)
    assert abs(held_out / len(real_customer_ids) - share) <= 0.01


def test_split_depends_on_the_campaign(real_customer_ids: list[str]) -> None:
    a = {c for c in real_customer_ids if is_control("winback", c, 0.2)}
    b = {c for c in real_customer_ids if is_control("cross_sell", c, 0.2)}
    overlap = len(a & b) / len(a)
    assert 0.15 < overlap < 0.25, "arms of two campaigns should be independent (overlap ~ share)"


def test_variants_are_balanced_and_independent_of_the_arm(real_customer_ids: list[str]) -> None:
    variants = Counter(assign_variant("winback", c, ["a", "b", "c"]) for c in real_customer_ids)
    assert all(abs(n / len(real_customer_ids) - 1 / 3) < 0.02 for n in variants.values())
    control = [c for c in real_customer_ids if is_control("winback", c, 0.5)]
    in_control = Counter(assign_variant("winback", c, ["a", "b"]) for c in control)
    assert abs(in_control["a"] / len(control) - 0.5) < 0.03


def test_assignment_is_the_same_in_a_fresh_process(real_customer_ids: list[str]) -> None:
    sample = real_customer_ids[::10]
    here = {c: [is_control("winback", c, 0.2), assign_variant("winback", c, ["a", "b"]), unit_hash("winback", c)] for c in sample}
    probe = (
        "import json, sys\n"
        "from marketflow.audiences.split import assign_variant, is_control, unit_hash\n"
        "ids = json.load(sys.stdin)\n"
        "print(json.dumps({c: [is_control('winback', c, 0.2), assign_variant('winback', c, ['a', 'b']),"
        " unit_hash('winback', c)] for c in ids}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], input=json.dumps(sample), capture_output=True, text=True, check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
    )
    assert json.loads(out.stdout) == here


def test_unit_hash_is_in_the_unit_interval_and_deterministic() -> None:
    values = [unit_hash("c", str(i)) for i in range(2000)]
    assert all(0.0 <= v < 1.0 for v in values)
    assert values == [unit_hash("c", str(i)) for i in range(2000)]
    assert unit_hash("winback", "17850") != unit_hash("winback", "17851")
