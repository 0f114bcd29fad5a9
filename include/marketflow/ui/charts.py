"""Small server-side SVG charts: no JavaScript and no CDN (the api-server may have no internet).

The x axis is categorical (runs, model versions, days in order) so sparse dates stay readable;
every mark carries a <title> with its exact value, shown as a tooltip on hover.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 220
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 14, 36
MAX_X_LABELS = 8


@dataclass(frozen=True)
class Interval:
    """A point estimate with its interval, e.g. one run's uplift."""

    label: str
    estimate: float
    low: float
    high: float


@dataclass(frozen=True)
class Point:
    label: str
    value: float
    highlight: bool = False


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    kind: str = "ok"


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering [low, high] (1, 2, 2.5 or 5 times a power of ten apart)."""
    if math.isclose(low, high):
        pad = abs(high) * 0.1 or 1.0  # one value: a narrow band around it, not [-1, 2] around 0.5
        low, high = low - pad, high + pad
    raw = (high - low) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    start = math.floor(low / step) * step
    ticks = []
    value = start
    while value <= high + step * 1e-9:
        ticks.append(round(value, 12))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 12))
    return ticks


class _Canvas:
    """Maps data to pixels for a categorical x axis and a linear y axis."""

    def __init__(self, labels: Sequence[str], low: float, high: float) -> None:
        self.labels = list(labels)
        self.ticks = nice_ticks(low, high)
        self.y_low, self.y_high = self.ticks[0], self.ticks[-1]
        self.slot = (WIDTH - LEFT - RIGHT) / max(len(self.labels), 1)

    def x(self, index: int) -> float:
        return LEFT + self.slot * (index + 0.5)

    def y(self, value: float) -> float:
        span = self.y_high - self.y_low
        return TOP + (HEIGHT - TOP - BOTTOM) * (1 - (value - self.y_low) / span)

    def axes(self, tick_format: Callable[[float], str]) -> list[str]:
        parts = []
        for tick in self.ticks:
            y = self.y(tick)
            parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>')
            parts.append(
                f'<text class="tick" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
                f"{escape(tick_format(tick))}</text>"
            )
        every = max(1, math.ceil(len(self.labels) / MAX_X_LABELS))
        for index, label in enumerate(self.labels):
            if index % every == 0:
                parts.append(
                    f'<text class="tick" x="{self.x(index):.1f}" y="{HEIGHT - BOTTOM + 16}" '
                    f'text-anchor="middle">{escape(label)}</text>'
                )
        return parts


def _svg(title: str, parts: list[str]) -> Markup:
    body = "".join(parts)
    return Markup(
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(title)}">'
        f"<title>{escape(title)}</title>{body}</svg>"
    )


def interval_chart(title: str, intervals: Sequence[Interval], fmt: Callable[[float], str]) -> Markup:
    """Estimates with whiskers for their intervals and a zero line: uplift over runs."""
    low = min([0.0] + [i.low for i in intervals])
    high = max([0.0] + [i.high for i in intervals])
    canvas = _Canvas([i.label for i in intervals], low, high)
    parts = canvas.axes(fmt)
    zero = canvas.y(0.0)
    parts.append(f'<line class="zero" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{zero:.1f}" y2="{zero:.1f}"/>')
    for index, item in enumerate(intervals):
        x = canvas.x(index)
        kind = "up" if item.low > 0 else "down" if item.high < 0 else "flat"
        tip = escape(f"{item.label}: {fmt(item.estimate)} [{fmt(item.low)}, {fmt(item.high)}]")
        parts.append(
            f'<g class="mark {kind}"><title>{tip}</title>'
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{canvas.y(item.low):.1f}" y2="{canvas.y(item.high):.1f}"/>'
            f'<line x1="{x - 4:.1f}" x2="{x + 4:.1f}" y1="{canvas.y(item.low):.1f}" y2="{canvas.y(item.low):.1f}"/>'
            f'<line x1="{x - 4:.1f}" x2="{x + 4:.1f}" y1="{canvas.y(item.high):.1f}" y2="{canvas.y(item.high):.1f}"/>'
            f'<circle cx="{x:.1f}" cy="{canvas.y(item.estimate):.1f}" r="4"/></g>'
        )
    return _svg(title, parts)


def line_chart(
    title: str,
    points: Sequence[Point],
    fmt: Callable[[float], str],
    baseline: Sequence[float | None] = (),
) -> Markup:
    """One metric over versions; highlighted points (the champion) drawn as rings, and a baseline
    (e.g. the simplest model on the same hold-out) as a dashed line where known. A metric that is
    never negative is drawn from zero, so a small change does not look like a big one."""
    values = [p.value for p in points]
    known = [(i, value) for i, value in enumerate(baseline) if value is not None]
    low, high = min(values + [v for _, v in known]), max(values + [v for _, v in known])
    canvas = _Canvas([p.label for p in points], min(low, 0.0), high)
    parts = canvas.axes(fmt)
    if len(known) > 1:
        dashes = " ".join(f"{canvas.x(i):.1f},{canvas.y(v):.1f}" for i, v in known)
        parts.append(f'<polyline class="baseline" points="{dashes}"/>')
    for index, value in known:
        parts.append(
            f'<g class="mark baseline"><title>{escape(f"{points[index].label}: baseline {fmt(value)}")}</title>'
            f'<rect x="{canvas.x(index) - 3:.1f}" y="{canvas.y(value) - 3:.1f}" width="6" height="6"/></g>'
        )
    path = " ".join(f"{canvas.x(i):.1f},{canvas.y(p.value):.1f}" for i, p in enumerate(points))
    parts.append(f'<polyline class="series" points="{path}"/>')
    for index, point in enumerate(points):
        kind = "champion" if point.highlight else "version"
        tip = escape(f"{point.label}: {fmt(point.value)}" + (" (serving)" if point.highlight else ""))
        radius = 6 if point.highlight else 3.5
        parts.append(
            f'<g class="mark {kind}"><title>{tip}</title>'
            f'<circle cx="{canvas.x(index):.1f}" cy="{canvas.y(point.value):.1f}" r="{radius}"/></g>'
        )
    return _svg(title, parts)


def bar_chart(title: str, bars: Sequence[Bar], fmt: Callable[[float], str]) -> Markup:
    """One bar per category from zero; `kind` becomes a CSS class (ok, warn, bad, idle).
    The axis reaches at least 4 so small counts get whole-number ticks."""
    canvas = _Canvas([b.label for b in bars], 0.0, max([b.value for b in bars] + [4.0]))
    parts = canvas.axes(fmt)
    width = max(1.0, canvas.slot * 0.8)
    base = canvas.y(0.0)
    for index, item in enumerate(bars):
        top = canvas.y(item.value)
        parts.append(
            f'<rect class="bar {escape(item.kind)}" x="{canvas.x(index) - width / 2:.1f}" y="{top:.1f}" '
            f'width="{width:.1f}" height="{max(base - top, 0.0):.1f}">'
            f"<title>{escape(f'{item.label}: {fmt(item.value)}')}</title></rect>"
        )
    return _svg(title, parts)
