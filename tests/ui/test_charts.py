"""The server-side SVG charts: well-formed, one mark per datum, labels escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from marketflow.ui import charts

SVG = "{http://www.w3.org/2000/svg}"


def _parse(markup: str) -> ET.Element:
    return ET.fromstring(str(markup).replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1))


@pytest.mark.parametrize(("low", "high"), [(0.0, 1.0), (-0.123, 0.045), (3.0, 3.0), (0.0, 18234.0), (0.2, 0.21)])
def test_nice_ticks_cover_the_range_with_even_steps(low: float, high: float) -> None:
    ticks = charts.nice_ticks(low, high)
    assert ticks[0] <= low and ticks[-1] >= high
    steps = {round(b - a, 9) for a, b in zip(ticks, ticks[1:])}
    assert len(steps) == 1 and steps.pop() > 0
    assert len(ticks) <= 8


def test_interval_chart_draws_one_mark_per_run_coloured_by_significance() -> None:
    intervals = [
        charts.Interval("2011-09-01", 0.05, 0.01, 0.09),
        charts.Interval("2011-09-15", -0.02, -0.08, 0.03),
        charts.Interval("2011-10-01", -0.06, -0.1, -0.02),
    ]
    root = _parse(charts.interval_chart("uplift", intervals, lambda v: f"{v:.2f}"))
    marks = [g for g in root.iter(f"{SVG}g") if "mark" in g.get("class", "")]
    assert [m.get("class") for m in marks] == ["mark up", "mark flat", "mark down"]
    assert "2011-09-15: -0.02 [-0.08, 0.03]" in [t.text for t in root.iter(f"{SVG}title")]


def test_line_chart_rings_the_champion() -> None:
    points = [charts.Point("v1", 0.2), charts.Point("v2", 0.25, highlight=True), charts.Point("v3", 0.22)]
    root = _parse(charts.line_chart("ndcg", points, lambda v: f"{v:.2f}"))
    kinds = [g.get("class") for g in root.iter(f"{SVG}g")]
    assert kinds == ["mark version", "mark champion", "mark version"]


def test_a_metric_is_drawn_from_zero_with_its_baseline_and_a_single_value_keeps_a_narrow_axis() -> None:
    points = [charts.Point("v1", 0.2), charts.Point("v2", 0.25, highlight=True)]
    root = _parse(charts.line_chart("ndcg", points, lambda v: f"{v:.2f}", baseline=[0.1, None]))
    ticks = [float(t.text) for t in root.iter(f"{SVG}text") if t.text and t.text[0].isdigit() and "." in t.text]
    assert min(ticks) == 0.0 and max(ticks) >= 0.25
    kinds = [g.get("class") for g in root.iter(f"{SVG}g")]
    assert kinds == ["mark baseline", "mark version", "mark champion"]
    assert charts.nice_ticks(0.5, 0.5)[0] >= 0.4 and charts.nice_ticks(0.5, 0.5)[-1] <= 0.6
    assert charts.nice_ticks(760.5, 760.5)[0] >= 600


def test_labels_are_escaped() -> None:
    svg = str(charts.bar_chart("<script>", [charts.Bar("<b>x</b>", 3)], str))
    assert "<script>" not in svg and "<b>" not in svg
    _parse(svg)
