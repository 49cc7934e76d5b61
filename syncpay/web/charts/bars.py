"""Horizontal bars (the report's arrears per class and lunas rate per unit), drawn as
inline SVG by ``templates/laporan_bars.html``. This module computes the geometry only,
in the SVG's own units: each bar is an SVG ``viewBox="0 0 100 10"`` stretched to the
width of its row (``preserveAspectRatio="none"``), so a bar's length is a share of 100
whatever the screen; its label and its number are text beside it (read by screen
readers, never drawn into the picture, and legible at any width and in print).

A bar is one or more segments side by side: :func:`bars` scales single amounts to the
largest one; :func:`stacked` splits one bar into its parts (Lunas / Belum Lunas /
Belum Sinkron of a unit's students).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

__all__ = ["HEIGHT", "WIDTH", "Bar", "Segment", "bars", "stacked"]

#: The SVG's units of one bar (``viewBox="0 0 WIDTH HEIGHT"``).
WIDTH = 100
HEIGHT = 10
#: A part that is there but tiny still shows as a sliver (units of WIDTH).
MIN_VISIBLE = 0.6


@dataclass(frozen=True, slots=True)
class Segment:
    """A stretch of a bar: ``kind`` names its colour (a CSS class), ``x`` and ``width``
    in the SVG's units."""

    kind: str
    x: float
    width: float


@dataclass(frozen=True, slots=True)
class Bar:
    """One row of a chart: its label and its number (text, already worded), a link
    (or ""), and its segments."""

    label: str
    value: str
    segments: tuple[Segment, ...]
    url: str = ""
    note: str = ""


def _length(share: float) -> float:
    length = round(max(0.0, min(1.0, share)) * WIDTH, 2)
    return MIN_VISIBLE if 0 < length < MIN_VISIBLE else length


def bars(
    rows: Sequence[tuple[str, Decimal | int | float, str]],
    *,
    kind: str = "value",
    urls: Sequence[str] = (),
) -> list[Bar]:
    """(label, amount, amount as text) → one bar each, the largest amount the whole
    width (a negative amount counts as none); ``urls``: each row's link, if any."""
    largest = max((float(amount) for _, amount, _ in rows), default=0.0)
    found = []
    for i, (label, amount, value) in enumerate(rows):
        share = float(amount) / largest if largest > 0 else 0.0
        length = _length(share)
        segments = (Segment(kind, 0.0, length),) if length else ()
        found.append(Bar(label, value, segments, urls[i] if i < len(urls) else ""))
    return found


def stacked(
    label: str, parts: Sequence[tuple[str, int]], value: str, *, url: str = "", note: str = ""
) -> Bar:
    """One bar split into ``parts`` (kind, count), each as long as its share of their
    sum, in the order given; no segments when the sum is 0."""
    total = sum(max(0, count) for _, count in parts)
    segments = []
    x = 0.0
    for kind, count in parts:
        if total <= 0 or count <= 0:
            continue
        length = min(_length(count / total), round(WIDTH - x, 2))
        segments.append(Segment(kind, round(x, 2), length))
        x += length
    return Bar(label, value, tuple(segments), url, note)
