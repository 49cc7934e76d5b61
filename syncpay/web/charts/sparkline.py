"""A sparkline: one amount over time as a small step line (the student page's arrears),
drawn as inline SVG by ``templates/siswa_history.html``. This module computes the
geometry only, in the SVG's own units (``viewBox="0 0 width height"``); the template
scales it to the page's width and puts the numbers beside it as text.

The line steps: an amount holds from one change until the next. The scale starts at
zero (no arrears is the bottom line) and ends at the largest amount shown. Time runs
left to right; changes at one instant are spread evenly instead.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from itertools import pairwise

__all__ = ["HEIGHT", "WIDTH", "SparkPoint", "Sparkline", "sparkline"]

#: The SVG's units: wide and low, as a line of text.
WIDTH = 320
HEIGHT = 64
#: Room around the line (a dot's radius and the stroke fit inside).
PAD = 6.0
#: The share of the width given to the amount before the first change, when known.
LEAD = 0.08


@dataclass(frozen=True, slots=True)
class SparkPoint:
    """One change: where its dot is, its amount and when (None: the amount before the
    first change shown)."""

    x: float
    y: float
    value: Decimal
    at: datetime | None


@dataclass(frozen=True, slots=True)
class Sparkline:
    """The geometry: ``path`` (SVG path data of the step line), the dots, the top of
    the scale (``high``, at ``y = top``) and the zero line (``y = base``)."""

    width: int
    height: int
    path: str
    points: tuple[SparkPoint, ...]
    high: Decimal
    top: float
    base: float

    @property
    def low(self) -> Decimal:
        """The smallest amount shown."""
        return min(point.value for point in self.points)

    @property
    def last(self) -> SparkPoint:
        return self.points[-1]


def _n(value: float) -> str:
    """A coordinate: one decimal, no trailing zero."""
    text = f"{value:.1f}"
    return text[:-2] if text.endswith(".0") else text


def _xs(times: Sequence[datetime], left: float, right: float) -> list[float]:
    """Each instant's x between ``left`` and ``right`` (by time; evenly when the
    instants are all one)."""
    first, span = times[0], (times[-1] - times[0]).total_seconds()
    if span > 0:
        return [left + (t - first).total_seconds() / span * (right - left) for t in times]
    if len(times) == 1:
        return [right]
    step = (right - left) / (len(times) - 1)
    return [left + i * step for i in range(len(times))]


def sparkline(
    values: Sequence[tuple[datetime, Decimal]],
    *,
    start: Decimal | None = None,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> Sparkline | None:
    """The sparkline of ``values`` (instant, amount; oldest first), or None when there
    is nothing to draw. ``start``: the amount before the first change (None: unknown,
    e.g. the student had never been synced)."""
    if not values:
        return None
    amounts = [max(amount, Decimal(0)) for _, amount in values]
    begin = None if start is None else max(start, Decimal(0))
    high = max([*amounts, begin or Decimal(0)])
    top, base = PAD, height - PAD

    def y(amount: Decimal) -> float:
        return base if high <= 0 else base - float(amount / high) * (base - top)

    left, right = PAD, width - PAD
    if begin is not None:
        left += LEAD * (right - left)
    xs = _xs([at for at, _ in values], left, right)
    changes = [
        SparkPoint(round(x, 1), round(y(a), 1), a, at)
        for x, (at, _), a in zip(xs, values, amounts, strict=True)
    ]
    first = changes[0]
    if begin is None:
        points, steps = changes, [f"M{_n(first.x)},{_n(first.y)}"]
    else:
        lead = SparkPoint(PAD, round(y(begin), 1), begin, None)
        points = [lead, *changes]
        steps = [f"M{_n(lead.x)},{_n(lead.y)}", f"H{_n(first.x)}V{_n(first.y)}"]
    for before, point in pairwise(changes):
        if point.y != before.y:
            steps.append(f"H{_n(point.x)}V{_n(point.y)}")
    steps.append(f"H{_n(changes[-1].x)}")
    return Sparkline(width, height, " ".join(steps), tuple(points), high, top, base)
