"""Marketers' words for stored codes, with the code kept in a tooltip; and the day outcome's threshold."""

from __future__ import annotations

import datetime as dt
import inspect
import re

import pytest

from marketflow.audiences import selection
from marketflow.ui.labels import EXCLUSION_REASONS, FALLBACK_REASONS, label, label_text, metric_label
from marketflow.ui.quality_report import QUARANTINE_ALERT_SHARE, IngestDay, QualityDay


def test_every_exclusion_reason_the_selection_can_record_has_a_label() -> None:
    """The reasons are read from the selection itself: its suppression mapping and every string that
    `reason_for` returns, plus the size limit, so a new reason without a label fails here."""
    source = inspect.getsource(selection.compute_audience)
    returned = set(re.findall(r'return "(\w+)"', source)) | set(re.findall(r'reason = "(\w+)"', source))
    recorded = returned | set(selection._SUPPRESSION_REASONS.values())
    assert {"opted_out", "no_consent", "frequency_cap", "over_max_size", "unsubscribed"} <= recorded
    assert recorded - set(EXCLUSION_REASONS) == set()
    assert label_text("frequency_cap", "exclusion") == "Contacted too recently (frequency cap)"


def test_every_reason_the_copywriter_can_fall_back_for_reads_as_words() -> None:
    """The reasons are read from the copywriter and the renderer, so a new one without words fails here."""
    from marketflow.copy import llm, render

    source = inspect.getsource(llm) + inspect.getsource(render)
    reasons = set(re.findall(r'CopywriterError\("(\w+)"', source)) | set(re.findall(r'template_fallback:(\w+)"', source))
    assert {"timeout", "bad_response", "model_missing", "circuit_open", "llm_not_configured"} <= reasons
    assert reasons - set(FALLBACK_REASONS) == set()
    assert label_text("template_fallback:guardrail:off_voice", "copy") == (
        "Template (the model's draft broke a rule: off voice)"
    )
    assert label_text("template_fallback:timeout", "copy") == "Template (the model timed out)"
    assert label_text("llm", "copy") == "Language model"


def test_metrics_read_as_words_with_their_group() -> None:
    assert metric_label("all.ndcg@10") == "NDCG@10 (ranking quality of the top 10), all customers"
    assert metric_label("popularity_baseline.new.hitrate@10") == (
        "Hit rate in the top 10, popularity baseline, products new to the customer"
    )
    assert metric_label("some_new_metric") == "Some new metric"  # unknown codes still read


def test_a_label_keeps_its_code_in_a_tooltip_and_escapes_both() -> None:
    assert str(label("cross_sell", "name")) == '<span class="label" title="cross_sell" data-code="cross_sell">Cross sell</span>'
    assert "<b>" not in str(label("<b>x</b>", "name"))
    with pytest.raises(KeyError):
        label_text("x", "no_such_vocabulary")


def _orders(read: int, quarantined: int) -> IngestDay:
    return IngestDay(dt.date(2011, 10, 3), "orders", "loaded", read, read - quarantined, quarantined,
                     quarantined == 0, [], quarantined)


def test_a_day_is_flagged_from_the_alert_share_of_quarantined_rows() -> None:
    below = int(1000 * QUARANTINE_ALERT_SHARE) - 1
    assert QualityDay(dt.date(2011, 10, 3), [_orders(1000, below)]).outcome == "clean"
    assert QualityDay(dt.date(2011, 10, 3), [_orders(1000, below + 1)]).outcome == "quarantined"
    assert QualityDay(dt.date(2011, 10, 3), [_orders(1000, 0)]).has_problem is False
