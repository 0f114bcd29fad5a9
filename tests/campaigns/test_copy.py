"""Copy: sandboxed templates with variants, guardrails, and the LLM copywriter against a local server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jinja2.exceptions import SecurityError, UndefinedError

from marketflow.campaigns.config import templates_dir
from marketflow.channels.identifiers import new_message_id, unsubscribe_token
from marketflow.copy.draft import Draft
from marketflow.copy.facts import CustomerFacts, ProductFact, display_name
from marketflow.copy.guardrails import check_copy
from marketflow.copy.llm import Copywriter, LlmSettings, endpoint_for, settings_from_connection
from marketflow.copy.render import MessageRenderer, TemplateProblem
from tests.campaigns.llm_server import completion, fake_llm_server
from tests.campaigns.seed import config_dict, make_config

PRODUCTS = [
    ProductFact("22423", "Regency Cakestand 3 Tier", 12.75, "bought together with your favourites"),
    ProductFact("71053", "White Metal Lantern", 3.39),
]
FACTS = CustomerFacts("17850", "United Kingdom", "at_risk", 120, 4, 420.5, "candles & lanterns", PRODUCTS)
MID = "<0123456789abcdef0123456789abcdef@giftshop.example>"


def _renderer(copywriter: Any = None, **overrides: Any) -> MessageRenderer:
    return MessageRenderer(make_config(**overrides), templates_dir(), copywriter)


def test_template_renders_text_and_html_with_catalogue_facts_and_unsubscribe_link() -> None:
    msg = _renderer().render(FACTS, "a", MID)
    assert msg.subject == "We miss you: Regency Cakestand 3 Tier"
    link = f"https://giftshop.example/unsubscribe?u={unsubscribe_token(MID)}"
    assert msg.unsubscribe_url == link and link in msg.body_text and link in msg.body_html
    for part in (msg.body_text, msg.body_html):
        assert "Regency Cakestand 3 Tier" in part and "£12.75" in part and "£3.39" in part
        assert "It has been a while." in part and "120 days" in part
    assert msg.copy_source == "template" and msg.variant == "a"
    assert msg.body_html.lstrip().startswith("<!DOCTYPE html>")


def test_html_part_escapes_everything_it_did_not_write() -> None:
    facts = CustomerFacts("1", None, "at_risk", 90, 2, 10.0, "pots & pans", [ProductFact("X", "<script>alert(1)</script>", 1.0)])
    msg = _renderer().render(facts, "b", MID)
    assert "<script>" not in msg.body_html and "&lt;script&gt;" in msg.body_html
    assert "<script>alert(1)</script>" in msg.body_text  # plain text is not HTML


def test_a_typo_in_a_variant_fails_instead_of_sending_a_blank() -> None:
    data = config_dict()
    data["message"]["variants"][0]["subject"] = "Hello {{ customer.first_name }}"
    renderer = MessageRenderer(make_config(message=data["message"]), templates_dir())
    with pytest.raises(UndefinedError):
        renderer.render(FACTS, "a", MID)


def test_variant_strings_run_in_a_sandbox() -> None:
    data = config_dict()
    data["message"]["variants"][0]["subject"] = "{{ customer.__class__.__init__.__globals__ }}"
    renderer = MessageRenderer(make_config(message=data["message"]), templates_dir())
    with pytest.raises(SecurityError):
        renderer.render(FACTS, "a", MID)


def test_a_template_without_the_unsubscribe_link_is_refused(tmp_path: Path) -> None:
    (tmp_path / "winback.txt.j2").write_text("{{ intro }}\n")
    (tmp_path / "winback.html.j2").write_text("<p>{{ intro }}</p>\n")
    renderer = MessageRenderer(make_config(), tmp_path)
    with pytest.raises(TemplateProblem, match="unsubscribe_url"):
        renderer.render(FACTS, "a", MID)


def test_message_ids_are_unique_and_carry_the_token() -> None:
    ids = {new_message_id("giftshop.example") for _ in range(1000)}
    assert len(ids) == 1000
    some = next(iter(ids))
    assert some.startswith("<") and some.endswith("@giftshop.example>") and len(unsubscribe_token(some)) == 32


def test_display_names_from_upper_case_descriptions() -> None:
    assert display_name("WHITE HANGING HEART T-LIGHT HOLDER") == "White Hanging Heart T-Light Holder"
    assert display_name("PAPER CHAIN KIT 50'S CHRISTMAS") == "Paper Chain Kit 50'S Christmas"


LIMITS = {"max_subject_chars": 60, "max_preheader_chars": 90, "max_intro_chars": 200}


@pytest.mark.parametrize(
    ("subject", "intro", "rule"),
    [
        ("", "Hello.", "empty"),
        ("x" * 61, "Hello.", "subject_too_long"),
        ("Hi", "y" * 201, "intro_too_long"),
        ("Act now!", "Hello.", "banned_phrase"),
        ("Our lanterns", "Guaranteed to delight.", "banned_phrase"),
        ("Hi", "Try our Sparkly Gift Wrap today.", "banned_phrase_custom"),
        ("Hi", "See https://evil.example/deal", "link_or_markup"),
        ("Hi", "Write to deals@evil.example", "link_or_markup"),
        ("Hi", "<b>Bold</b> offer", "link_or_markup"),
        ("Hi", 'Meet the "Golden Unicorn Lamp".', "unknown_product"),
        ("Hi", 'The "White Metal Lantern" for only £2.99.', "price_mismatch"),
        ("£9.99 deals", "Hello.", "price_mismatch"),
        ("Hi", "The lantern, now only 2.99 each.", "price_mismatch"),
        ("Hi", "Dear [Customer's Name], we missed you.", "placeholder"),
        ("Hi", "Enjoy 20% off your next order.", "invented_offer"),
        ("Free delivery this week", "Hello and welcome back to the shop.", "invented_offer"),
        ("Hi", "Use the code HELLO at the checkout.", "invented_offer"),
        ("Hi", "Our picks are here until Friday.", "invented_date"),
        ("Hi", "The offer ends on the 12th, so come and see.", "invented_date"),
        ("Thank you for ordering our new summer collection of 2018!", "Hello and welcome back.", "invented_date"),
        ("Hi", "We would be happy to help you find some amazing deals on your favourite items.", "invented_offer"),
        ("Hi", "Our new loyalty program lets you redeem rewards at any time.", "invented_offer"),
        ("Hi", "I'm so glad you're enjoying our special offer!", "invented_offer"),
        ("Hi", "We think you will love the Regency Cakestand in the kitchen.", "product_name_changed"),
        ("Hola", "Gracias por su compra, tenemos nuevas ideas para usted.", "wrong_language"),
        ("Neu für Sie", "Wir haben ein paar neue Ideen für Ihr Zuhause ausgesucht.", "wrong_language"),
    ],
)
def test_guardrails_catch_each_rule(subject: str, intro: str, rule: str) -> None:
    violations = check_copy(Draft(subject, "", intro), PRODUCTS, banned_phrases=["sparkly gift wrap"], **LIMITS)
    expected = "banned_phrase" if rule == "banned_phrase_custom" else rule
    assert expected in {v.rule for v in violations}


@pytest.mark.parametrize(
    ("preheader", "rule"),
    [
        ("p" * 91, "preheader_too_long"),
        ("Ends Friday: see what is new", "invented_date"),
        ("20% off everything you love", "invented_offer"),
        ("Visit www.evil.example for more", "link_or_markup"),
    ],
)
def test_the_preheader_is_judged_like_the_rest_of_the_copy(preheader: str, rule: str) -> None:
    draft = Draft("Something new for your table", preheader, "Thank you for shopping with us again.")
    assert rule in {v.rule for v in check_copy(draft, PRODUCTS, **LIMITS)}


def test_guardrails_accept_faithful_copy() -> None:
    draft = Draft(
        "A lantern for autumn",
        "Two of your favourites are back",
        'The "white metal lantern" is back at £3.39, and the "Regency Cakestand 3 Tier" at GBP 12.75.',
    )
    assert check_copy(draft, PRODUCTS, **LIMITS) == []


def test_the_new_rules_leave_plain_friendly_copy_alone() -> None:
    draft = Draft(
        "Something new for your table",
        "",
        "Thank you for shopping with us. We picked a few things we think you will like, "
        "starting with the White Metal Lantern.",
    )
    assert check_copy(draft, PRODUCTS, max_subject_chars=60, max_preheader_chars=90, max_intro_chars=400) == []


def test_the_language_rule_follows_the_campaign_and_ignores_product_names() -> None:
    german = Draft("Neu für Sie", "Ein paar Ideen für Ihr Zuhause", 'Wir haben den "White Metal Lantern" für Sie ausgesucht.')
    assert check_copy(german, PRODUCTS, **LIMITS, language="de") == []
    english = Draft("Something new for your table", "", "We picked a few things we think you will like.")
    assert [v.rule for v in check_copy(english, PRODUCTS, **LIMITS, language="de")] == ["wrong_language"]
    names_only = Draft("Regency Cakestand 3 Tier", "", "White Metal Lantern, Regency Cakestand 3 Tier.")
    assert check_copy(names_only, PRODUCTS, **LIMITS, language="fr") == []  # nothing left to judge


GOOD = {
    "subject": "Your cake stand misses you",
    "preheader": "Picked from what you bought before",
    "intro": 'The "Regency Cakestand 3 Tier" is still £12.75.',
}


def _reply(**parts: str) -> dict[str, str]:
    """An endpoint's copy: the good copy with some parts replaced."""
    return {**GOOD, **parts}


def _copywriter(url: str, timeout: float = 2.0) -> Copywriter:
    settings = LlmSettings(endpoint=endpoint_for(url), api_key="sk-test-123", model="copy-model", timeout_s=timeout)
    return Copywriter(settings, shop="The Gift Shop", brief="Win back quiet regulars.",
                      limits={"subject": 80, "preheader": 110, "intro": 600})


def _llm_config() -> dict[str, Any]:
    data = config_dict()
    data["message"]["llm"] = {"enabled": True, "banned_phrases": ["last chance"], "stop_after_failures": 3}
    return data


def _llm_renderer(url: str, timeout: float = 2.0) -> MessageRenderer:
    return MessageRenderer(make_config(message=_llm_config()["message"]), templates_dir(), _copywriter(url, timeout))


def test_llm_copy_that_passes_the_guardrails_is_used_and_the_prompt_carries_no_identity() -> None:
    with fake_llm_server() as llm:
        llm.reply = lambda _req: (200, completion(GOOD))
        msg = _llm_renderer(llm.url).render(FACTS, "a", MID)
    assert msg.copy_source == "llm"
    assert msg.subject == GOOD["subject"] and "is still £12.75" in msg.body_text and "still £12.75" in msg.body_html
    assert GOOD["preheader"] in msg.body_html
    request, headers = llm.requests[0], llm.headers[0]
    assert request["model"] == "copy-model" and headers["Authorization"] == "Bearer sk-test-123"
    prompt = json.dumps(request["messages"])
    assert "17850" not in prompt and "@" not in prompt and "Regency Cakestand 3 Tier" in prompt


@pytest.mark.parametrize(
    ("reply", "source"),
    [
        (lambda _r: (200, completion(_reply(subject="Last chance!", intro="Only today."))), "template_fallback:guardrail:banned_phrase"),
        (lambda _r: (200, completion(_reply(intro='The "Regency Cakestand 3 Tier" for £9.99.'))), "template_fallback:guardrail:price_mismatch"),
        (lambda _r: (200, completion(_reply(intro='Try the "Moon Lamp".'))), "template_fallback:guardrail:unknown_product"),
        (lambda _r: (200, completion(_reply(subject="x" * 120))), "template_fallback:guardrail:subject_too_long"),
        (lambda _r: (200, completion(_reply(preheader="Only until Sunday"))), "template_fallback:guardrail:invented_date"),
        (lambda _r: (200, completion({"subject": "Hi", "intro": "Hello."})), "template_fallback:bad_response"),
        (lambda _r: (500, {"error": "overloaded"}), "template_fallback:http_500"),
        (lambda _r: (200, completion("Sure! Here is a subject line for you")), "template_fallback:bad_response"),
        (lambda _r: (200, {"unexpected": True}), "template_fallback:bad_response"),
    ],
)
def test_bad_llm_copy_or_errors_fall_back_to_the_template_and_say_why(reply: Any, source: str) -> None:
    with fake_llm_server() as llm:
        llm.reply = reply
        msg = _llm_renderer(llm.url).render(FACTS, "a", MID)
    assert msg.copy_source == source
    assert msg.subject == "We miss you: Regency Cakestand 3 Tier"


def test_a_slow_llm_times_out_and_after_repeated_failures_is_no_longer_called() -> None:
    with fake_llm_server() as llm:
        llm.delay_s = 0.6
        renderer = _llm_renderer(llm.url, timeout=0.2)
        sources = [renderer.render(FACTS, "a", MID).copy_source for _ in range(5)]
        calls = len(llm.requests)
    assert sources == ["template_fallback:timeout"] * 3 + ["template_fallback:circuit_open"] * 2
    assert calls == 3


def test_llm_enabled_without_a_connection_is_recorded() -> None:
    renderer = MessageRenderer(make_config(message=_llm_config()["message"]), templates_dir(), None)
    assert renderer.render(FACTS, "a", MID).copy_source == "template_fallback:llm_not_configured"


def test_llm_settings_come_from_an_airflow_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_MARKETFLOW_LLM",
        json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": 8099, "password": "sk-abc", "extra": {"model": "m1", "timeout": 3}}),
    )
    settings = settings_from_connection("marketflow_llm")
    assert settings.endpoint == "http://127.0.0.1:8099/v1/chat/completions"
    assert (settings.api_key, settings.model, settings.timeout_s) == ("sk-abc", "m1", 3.0)
    assert endpoint_for("https://api.example.com/v1") == "https://api.example.com/v1/chat/completions"


def test_llm_variants_put_model_copy_against_the_template_in_an_ab_test() -> None:
    data = _llm_config()
    data["message"]["llm"]["variants"] = ["b"]
    with fake_llm_server() as llm:
        llm.reply = lambda _req: (200, completion(GOOD))
        renderer = MessageRenderer(make_config(message=data["message"]), templates_dir(), _copywriter(llm.url))
        sources = {variant: renderer.render(FACTS, variant, MID).copy_source for variant in ("a", "b")}
        calls = len(llm.requests)
    assert sources == {"a": "template", "b": "llm"} and calls == 1
    data["message"]["llm"]["variants"] = ["nope"]
    with pytest.raises(ValueError, match="llm.variants names no such variant: \\['nope'\\]"):
        make_config(message=data["message"])


def test_a_connection_can_name_the_embedded_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_MARKETFLOW_LLM", json.dumps({"conn_type": "generic", "extra": {"backend": "embedded"}}))
    settings = settings_from_connection("marketflow_llm")
    assert (settings.backend, settings.model) == ("embedded", "smollm2-135m-instruct")


def test_without_a_connection_the_embedded_model_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    from marketflow.campaigns.pipeline import copywriter_for

    monkeypatch.delenv("AIRFLOW_CONN_MARKETFLOW_LLM", raising=False)
    writer = copywriter_for(make_config(message=_llm_config()["message"]))
    assert writer is not None and writer.settings == LlmSettings.embedded()
    assert copywriter_for(make_config()) is None  # llm not enabled: templates only


@pytest.mark.parametrize(
    "intro",
    [
        "I'm so glad you're enjoying our little corner of the world!",
        "The customer loves Christmas decorations and more.",
        "We're sorry to have missed it, but we can help.",
        "My favourite things are back in the shop for you.",
    ],
)
def test_copy_that_leaves_the_shops_voice_is_refused(intro: str) -> None:
    assert "off_voice" in {v.rule for v in check_copy(Draft("Hello again", "", intro), PRODUCTS, **LIMITS)}


def test_refused_drafts_do_not_stop_the_model_being_asked() -> None:
    """The circuit counts errors and timeouts only: a draft the guardrails refuse is an answer."""
    with fake_llm_server() as llm:
        llm.reply = lambda _req: (200, completion(_reply(subject="Last chance!")))
        renderer = _llm_renderer(llm.url)  # stop_after_failures: 3
        sources = [renderer.render(FACTS, "a", MID).copy_source for _ in range(5)]
        calls = len(llm.requests)
    assert sources == ["template_fallback:guardrail:banned_phrase"] * 5 and calls == 5
