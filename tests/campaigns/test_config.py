"""Campaign files: the shipped examples validate; bad files fail with the file and the field named."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from marketflow.campaigns.config import CampaignConfigError, campaigns_dir, load_campaign, load_campaigns
from tests.campaigns.seed import config_dict


def _write(folder: Path, data: Any, name: str = "test_winback") -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def test_the_shipped_campaigns_validate_and_name_their_dags() -> None:
    configs = load_campaigns()
    assert {c.name for c in configs} == {"winback", "cross_sell", "reorder_reminder"}
    assert {c.dag_id for c in configs} == {"campaign__winback", "campaign__cross_sell", "campaign__reorder_reminder"}
    assert all(p.stem == c.name for p, c in zip(sorted(campaigns_dir().glob("*.yaml")), configs))


def test_a_valid_file_loads(tmp_path: Path) -> None:
    config = load_campaign(_write(tmp_path, config_dict()))
    assert config.control_share == 0.2
    assert config.frequency_cap.max_messages == 2 and config.frequency_cap.per_days == 7
    assert config.consent == "explicit_opt_in"


def _set(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    data = copy.deepcopy(data)
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
    if value is _DELETE:
        del node[last]
    else:
        node[int(last) if isinstance(node, list) else last] = value
    return data


_DELETE = object()

BAD_CONFIGS = [
    ("control_share", 0.8, "control_share: Input should be less than or equal to 0.5"),
    ("schedule", "every monday", "schedule: Value error, 'every monday' is neither"),
    ("audience.segmnts", ["at_risk"], "audience.segmnts: Extra inputs are not permitted"),
    ("audience.recency_days", {"min": 90, "max": 30}, "audience.recency_days: Value error, min (90) is greater than max (30)"),
    ("audience.propensity_30d", {"min": 1.5}, "audience.propensity_30d.min: Input should be less than or equal to 1"),
    ("audience.order_by", "random", "audience.order_by: Input should be"),
    ("audience.max_size", 0, "audience.max_size: Input should be greater than 0"),
    ("audience.segments", ["At Risk"], "audience.segments[0]: String should match pattern"),
    ("channels.email.from_address", "not-an-address", "channels.email.from_address: Value error, 'not-an-address' is not an e-mail address"),
    ("channels.email.unsubscribe_url", "ftp://x.example/u", "channels.email.unsubscribe_url: Value error, must be an http(s) URL"),
    ("channels", {}, "channels: Value error, configure at least one channel"),
    ("channels.ads.platforms", ["tiktok"], "channels.ads.platforms[0]: Input should be 'google_ads' or 'meta'"),
    ("message.variants", [], "message.variants: List should have at least 1 item"),
    ("message.variants.1.name", "a", "message.variants: Value error, variant names repeat"),
    ("message.products", 50, "message.products: Input should be less than or equal to 10"),
    ("consent", "none", "consent: Input should be 'explicit_opt_in' or 'soft_opt_in'"),
    ("exclusions.bought_within_days", -3, "exclusions.bought_within_days: Input should be greater than or equal to 1"),
    ("frequency_cap.max_messages", 0, "frequency_cap.max_messages: Input should be greater than or equal to 1"),
    ("message.product_source", "repeat_products", "(file): Value error, message.product_source 'repeat_products' needs"),
    ("description", _DELETE, "description: Field required"),
]


@pytest.mark.parametrize(("field", "value", "expected"), BAD_CONFIGS, ids=[b[0] + ":" + str(b[1])[:20] for b in BAD_CONFIGS])
def test_a_bad_field_is_reported_with_file_and_field_path(tmp_path: Path, field: str, value: Any, expected: str) -> None:
    path = _write(tmp_path, _set(config_dict(), field, value))
    with pytest.raises(CampaignConfigError) as raised:
        load_campaign(path)
    assert f"{path}: {expected}" in str(raised.value)


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: x\naudience: [unclosed\n")
    with pytest.raises(CampaignConfigError, match=rf"{path}: line \d+: not valid YAML"):
        load_campaign(path)


def test_a_file_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "- just\n- a list\n")
    with pytest.raises(CampaignConfigError, match=rf"{path}: \(file\): expected a mapping"):
        load_campaign(path)


def test_the_name_must_match_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, config_dict(), name="other_name")
    with pytest.raises(CampaignConfigError, match=rf"{path}: name: 'test_winback' must equal the file name 'other_name'"):
        load_campaign(path)


def test_a_missing_template_is_reported(tmp_path: Path) -> None:
    data = config_dict()
    data["message"]["template"] = "no_such_template"
    path = _write(tmp_path, data)
    with pytest.raises(CampaignConfigError, match=rf"{path}: message.template: no_such_template.txt.j2, no_such_template.html.j2 not found"):
        load_campaign(path)
