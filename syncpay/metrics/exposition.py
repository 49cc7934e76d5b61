"""The Prometheus text exposition format 0.0.4 (what ``GET /metrics`` answers), with no
dependency: counters, gauges and histograms with labels, a registry holding each name
once, and the rendering.

Updating a metric is cheap enough for hot paths: ``counter.labels(queue, job_name).inc()``
is a dict lookup and an add (asyncio runs one task at a time, so no lock is needed).
"""

from __future__ import annotations

import bisect
import itertools
import math
import re
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

#: The Content-Type of the text exposition format.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")

#: The buckets of a histogram that names none: 5 ms … 60 s.
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

# --------------------------------------------------------------------------- the format


def format_value(value: float) -> str:
    """A sample value: whole numbers without a decimal point, ``+Inf``, ``-Inf``, ``NaN``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _labels_text(names: Sequence[str], values: Sequence[str]) -> str:
    if not names:
        return ""
    pairs = ",".join(
        f'{name}="{escape_label_value(value)}"' for name, value in zip(names, values, strict=True)
    )
    return "{" + pairs + "}"


# --------------------------------------------------------------------------- metrics


class Metric:
    """A metric family: a name, a help text, label names and one child per label set."""

    kind: ClassVar[str] = "untyped"

    def __init__(self, name: str, help: str, labels: Sequence[str] = ()) -> None:
        if not _NAME.match(name):
            raise ValueError(f"invalid metric name {name!r}")
        for label in labels:
            if not _LABEL.match(label) or label.startswith("__"):
                raise ValueError(f"invalid label name {label!r} for {name}")
        if len(set(labels)) != len(labels):
            raise ValueError(f"repeated label name in {name}")
        self.name = name
        self.help = help
        self.labelnames = tuple(labels)
        self._children: dict[tuple[str, ...], Any] = {}

    def _new_child(self) -> Any:
        raise NotImplementedError

    def labels(self, *values: str) -> Any:
        """The child for these label values (in the order of the label names)."""
        child = self._children.get(values)
        if child is None:
            if len(values) != len(self.labelnames):
                raise ValueError(
                    f"{self.name} has labels {self.labelnames}, {len(values)} values given"
                )
            if not all(isinstance(v, str) for v in values):
                raise TypeError(f"{self.name}: label values must be strings, got {values!r}")
            child = self._children[values] = self._new_child()
        return child

    def remove(self, *values: str) -> None:
        self._children.pop(values, None)

    def clear(self) -> None:
        self._children.clear()

    def series(self) -> list[tuple[tuple[str, ...], Any]]:
        return list(self._children.items())

    def names(self) -> tuple[str, ...]:
        """The sample names this family writes."""
        return (self.name,)

    def render(self, out: list[str]) -> None:
        out.append(f"# HELP {self.name} {escape_help(self.help)}")
        out.append(f"# TYPE {self.name} {self.kind}")
        for values, child in self._children.items():
            self._render_child(out, values, child)

    def _render_child(self, out: list[str], values: tuple[str, ...], child: Any) -> None:
        labels = _labels_text(self.labelnames, values)
        out.append(f"{self.name}{labels} {format_value(child.value)}")


class _CounterChild:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        if amount < 0:
            raise ValueError("a counter only goes up")
        self.value += amount


class Counter(Metric):
    """A count that only goes up (name it ``…_total``)."""

    kind = "counter"

    def _new_child(self) -> _CounterChild:
        return _CounterChild()

    def inc(self, amount: float = 1.0) -> None:
        """For a counter without labels."""
        self.labels().inc(amount)

    def value(self, *values: str) -> float:
        child = self._children.get(values)
        return 0.0 if child is None else child.value


class _GaugeChild:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 0.0

    def set(self, value: float) -> None:
        self.value = float(value)

    def inc(self, amount: float = 1.0) -> None:
        self.value += amount

    def dec(self, amount: float = 1.0) -> None:
        self.value -= amount


class Gauge(Metric):
    """A value that goes up and down."""

    kind = "gauge"

    def _new_child(self) -> _GaugeChild:
        return _GaugeChild()

    def set(self, value: float) -> None:
        """For a gauge without labels."""
        self.labels().set(value)

    def value(self, *values: str) -> float:
        child = self._children.get(values)
        return 0.0 if child is None else child.value


class _HistogramChild:
    __slots__ = ("counts", "sum", "upper")

    def __init__(self, upper: tuple[float, ...]) -> None:
        self.upper = upper
        self.counts = [0] * (len(upper) + 1)  # per bucket, not cumulative; the last: +Inf
        self.sum = 0.0

    def observe(self, value: float) -> None:
        # The first bucket whose upper bound is >= value (``le``); NaN goes to +Inf.
        index = bisect.bisect_left(self.upper, value) if value == value else len(self.upper)
        self.counts[index] += 1
        self.sum += value

    @property
    def count(self) -> int:
        return sum(self.counts)


class Histogram(Metric):
    """Observations counted in buckets (``_bucket{le=…}``, cumulative), ``_sum``, ``_count``."""

    kind = "histogram"

    def __init__(
        self,
        name: str,
        help: str,
        labels: Sequence[str] = (),
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> None:
        super().__init__(name, help, labels)
        if "le" in self.labelnames:
            raise ValueError(f"{name}: 'le' is reserved for the buckets")
        upper = [float(b) for b in buckets if not math.isinf(b)]
        if not upper or any(math.isnan(b) for b in upper):
            raise ValueError(f"{name}: at least one finite bucket is needed")
        if any(b >= c for b, c in itertools.pairwise(upper)):
            raise ValueError(f"{name}: buckets must be strictly increasing")
        self.buckets = tuple(upper)

    def _new_child(self) -> _HistogramChild:
        return _HistogramChild(self.buckets)

    def observe(self, value: float) -> None:
        """For a histogram without labels."""
        self.labels().observe(value)

    def names(self) -> tuple[str, ...]:
        return (f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count")

    def _render_child(self, out: list[str], values: tuple[str, ...], child: Any) -> None:
        names = (*self.labelnames, "le")
        cumulative = 0
        for bound, count in zip((*self.buckets, math.inf), child.counts, strict=True):
            cumulative += count
            labels = _labels_text(names, (*values, format_value(bound)))
            out.append(f"{self.name}_bucket{labels} {cumulative}")
        labels = _labels_text(self.labelnames, values)
        out.append(f"{self.name}_sum{labels} {format_value(child.sum)}")
        out.append(f"{self.name}_count{labels} {cumulative}")


# --------------------------------------------------------------------------- registry


class Registry:
    """The metrics one ``/metrics`` answer shows, each name once."""

    def __init__(self) -> None:
        self._metrics: dict[str, Metric] = {}
        self._samples: set[str] = set()

    def register(self, metric: Metric) -> Metric:
        names = set(metric.names()) | {metric.name}
        if metric.name in self._metrics or names & self._samples:
            raise ValueError(f"metric {metric.name} is registered already")
        self._metrics[metric.name] = metric
        self._samples |= names
        return metric

    def counter(self, name: str, help: str, labels: Sequence[str] = ()) -> Counter:
        metric = Counter(name, help, labels)
        self.register(metric)
        return metric

    def gauge(self, name: str, help: str, labels: Sequence[str] = ()) -> Gauge:
        metric = Gauge(name, help, labels)
        self.register(metric)
        return metric

    def histogram(
        self,
        name: str,
        help: str,
        labels: Sequence[str] = (),
        buckets: Sequence[float] = DEFAULT_BUCKETS,
    ) -> Histogram:
        metric = Histogram(name, help, labels, buckets)
        self.register(metric)
        return metric

    def get(self, name: str) -> Metric:
        return self._metrics[name]

    def metrics(self) -> list[Metric]:
        return list(self._metrics.values())

    def render(self, extra: Iterable[Metric] = ()) -> str:
        """This registry's metrics, then ``extra`` (built for this one answer)."""
        return render([*self._metrics.values(), *extra])


def render(metrics: Iterable[Metric]) -> str:
    """The text exposition format (0.0.4) of ``metrics``, ending in a newline."""
    out: list[str] = []
    for metric in metrics:
        metric.render(out)
    return "\n".join(out) + "\n" if out else ""
