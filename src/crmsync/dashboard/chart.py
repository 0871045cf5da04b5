"""The overview's volume chart as plain SVG geometry (no JavaScript, no chart library): bars of changes and errors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from crmsync.engine.health import VolumeBucket

WIDTH, HEIGHT, AXIS = 960, 180, 20


@dataclass(frozen=True, slots=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str
    css: str  # "changes" or "errors"


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    bars: tuple[Bar, ...]
    labels: tuple[tuple[float, str], ...]  # x, text under the axis
    peak: int
    total_changes: int
    total_errors: int


def volume_chart(buckets: Sequence[VolumeBucket]) -> Chart:
    """Changes (records changed) as bars scaled to the busiest bucket; errors as a thinner bar beside each."""
    plot = HEIGHT - AXIS
    peak = max([b.records for b in buckets] + [b.errors for b in buckets] + [1])
    step = WIDTH / max(len(buckets), 1)
    bars: list[Bar] = []
    labels: list[tuple[float, str]] = []
    for index, bucket in enumerate(buckets):
        x = index * step
        when = bucket.start.strftime("%H:%M")
        if bucket.records:
            h = max(bucket.records / peak * plot, 1.0)
            text = f"{when} UTC: {bucket.records} records changed ({bucket.changes} field changes)"
            bars.append(Bar(x + 1, plot - h, step * 0.6, h, text, "changes"))
        if bucket.errors:
            h = max(bucket.errors / peak * plot, 1.0)
            text = f"{when} UTC: {bucket.errors} sync errors"
            bars.append(Bar(x + 1 + step * 0.6, plot - h, step * 0.3, h, text, "errors"))
        if index % max(len(buckets) // 6, 1) == 0:
            labels.append((x, when))
    return Chart(
        WIDTH,
        HEIGHT,
        tuple(bars),
        tuple(labels),
        peak,
        sum(b.records for b in buckets),
        sum(b.errors for b in buckets),
    )


__all__ = ["Bar", "Chart", "volume_chart"]
