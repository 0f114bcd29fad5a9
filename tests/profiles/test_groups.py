"""Product groups from descriptions: word rules, naming, determinism, point in time, and on the real
catalogue, groups a marketer can read."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from marketflow.profiles.groups import _group_name, _unique_names, description_words, fit_groups, groups_as_of
from marketflow.profiles.history import prepare_history
from marketflow.profiles.settings import ProfileSettings
from tests.profiles.factories import line, orders

SETTINGS = ProfileSettings(products_per_group=5)
KINDS = {
    "CANDLE": ["VANILLA SCENTED CANDLE", "ROSE PILLAR CANDLE", "DINNER CANDLES", "CHRISTMAS CANDLE", "IVORY CANDLE"],
    "MUG": ["KINGS CHOICE MUG", "HOME SWEET HOME MUG", "LOVE MUG", "DOG MUG", "CAT MUGS"],
    "CARD": ["BIRTHDAY CARD ROSE", "GREETING CARD DOG", "CHRISTMAS CARD SANTA", "THANK YOU CARD", "WEDDING CARD"],
}


def catalogue_orders(day: str = "2011-01-03") -> list[dict]:
    rows = []
    for kind_index, descriptions in enumerate(KINDS.values()):
        for item, description in enumerate(descriptions):
            code = f"{kind_index + 2}{item:04d}"
            rows.append(line(day, f"{code}-inv", code, 1, 1.0, "1", description=description))
    return rows


def test_description_words_drop_filler_colours_sizes_and_fold_plurals() -> None:
    assert description_words("SET OF 12 ROSE BOTANICAL T-LIGHTS") == ["ROSE", "BOTANICAL", "T-LIGHT"]
    assert description_words("SMALL WHITE GLASS DISHES") == ["GLASS", "DISH"]
    assert description_words("RED RETROSPOT LUNCH BAGS") == ["LUNCH", "BAG"]


def test_a_group_is_named_after_the_words_its_members_share_or_called_mixed() -> None:
    assert _group_name(["WHITE T-LIGHT HOLDER", "ZINC T-LIGHT HOLDER", "GLASS T-LIGHT HOLDER"])[0] in {
        "holder & t-light",
        "t-light & holder",
    }
    assert _group_name(["KINGS CHOICE MUG", "LOVE MUG", "DOG MUG", "CAT MUG", "TEA MUG"])[0] == "mug"
    mixed = _group_name(["APPLE", "BANANA", "CHERRY", "DAMSON"])[0]
    assert mixed.startswith("mixed: ")


def test_duplicate_names_are_told_apart() -> None:
    assert _unique_names([("mug", "tea"), ("mug", "coffee"), ("bag",)]) == ("mug (tea)", "mug (coffee)", "bag")
    assert _unique_names([("mug",), ("mug",)]) == ("mug", "mug #2")


def test_clustering_separates_product_kinds_and_is_deterministic() -> None:
    descriptions = [text for texts in KINDS.values() for text in texts]
    first, second = fit_groups(descriptions, SETTINGS), fit_groups(descriptions, SETTINGS)
    labels = first.assign(descriptions)
    assert labels.tolist() == second.assign(descriptions).tolist() and first.names == second.names
    for start in range(0, len(descriptions), 5):
        assert len(set(labels[start : start + 5])) == 1, descriptions[start : start + 5]
    assert {"candle", "mug", "card"} <= set(first.names)


def test_groups_use_the_catalogue_of_the_first_of_the_month_and_place_later_products() -> None:
    rows = catalogue_orders("2011-01-01")
    rows.append(line("2011-01-20", "n1", "90001", 1, 1.0, "2", description="MINT SCENTED CANDLE"))
    history = prepare_history(orders(*rows), SETTINGS)
    groups, model = groups_as_of(history, dt.date(2011, 1, 25), SETTINGS)
    by_code = groups.set_index("stock_code")
    assert by_code.loc["90001", "group_name"] == by_code.loc["20000", "group_name"] == "candle"
    assert set(groups["fitted_on"]) == {dt.date(2011, 1, 1)}
    reused, _ = groups_as_of(history, dt.date(2011, 1, 25), SETTINGS, model=model)
    pd.testing.assert_frame_equal(reused, groups)


def test_a_history_starting_mid_month_fits_that_months_groups_on_its_first_day() -> None:
    history = prepare_history(orders(*catalogue_orders("2011-01-12")), SETTINGS)
    groups, _ = groups_as_of(history, dt.date(2011, 1, 20), SETTINGS)
    assert set(groups["fitted_on"]) == {dt.date(2011, 1, 12)} and len(groups) == 15
    assert groups_as_of(history, dt.date(2011, 1, 11), SETTINGS)[0].empty


def test_later_products_change_no_earlier_groups() -> None:
    base = catalogue_orders("2011-01-01")
    later = [line("2011-02-03", f"x{i}", f"9{i:04d}", 1, 1.0, "3", description=f"NEW THING {i}") for i in range(20)]
    early, _ = groups_as_of(prepare_history(orders(*base), SETTINGS), dt.date(2011, 1, 25), SETTINGS)
    with_later, _ = groups_as_of(prepare_history(orders(*base, *later), SETTINGS), dt.date(2011, 1, 25), SETTINGS)
    pd.testing.assert_frame_equal(early, with_later)


@pytest.mark.real_data
def test_real_catalogue_groups_are_coherent_and_named_after_their_members(real_orders: pd.DataFrame) -> None:
    history = prepare_history(real_orders, ProfileSettings())
    groups, _ = groups_as_of(history, dt.date(2011, 10, 31), ProfileSettings())
    sizes = groups["group_name"].value_counts()
    assert len(groups) > 3800 and 60 <= len(sizes) <= 100
    assert sizes.max() / len(groups) < 0.06, "no catch-all group"
    assert groups["group_name"].str.startswith("mixed").mean() < 0.15
    named = groups[~groups["group_name"].str.startswith("mixed")]
    first_words = named["group_name"].str.split(" & ").str[0].str.upper().str.rstrip("S")
    shares = named.assign(has=[w in d.upper() for w, d in zip(first_words, named["description"], strict=True)])
    assert shares["has"].mean() > 0.7, "most members of a named group contain its first word"
    candles = groups[groups["group_name"] == "candle"]
    assert candles["description"].str.contains("CANDLE").mean() > 0.8
