"""The metrics registry and the Prometheus text format (0.0.4), read back with a small
parser of our own that is strict about every line."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import pytest

from syncpay import metrics
from syncpay.metrics import CONTENT_TYPE, Counter, Gauge, Histogram, Registry, render

# --------------------------------------------------------------------------- a tiny parser

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SAMPLE = re.compile(rf"^({_NAME})(\{{.*\}})? (\S+)$")
_PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')
_VALUE = re.compile(r"^(?:[+-]?(?:\d+\.?\d*(?:[eE][+-]?\d+)?|\.\d+)|\+Inf|-Inf|NaN)$")


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), text)


def _labels(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    inner = text[1:-1]
    labels: dict[str, str] = {}
    pos = 0
    while pos < len(inner):
        found = _PAIR.match(inner, pos)
        assert found, f"bad label set {text!r} at {pos}"
        assert found.group(1) not in labels, f"label repeated in {text!r}"
        labels[found.group(1)] = _unescape(found.group(2))
        pos = found.end()
        if pos < len(inner):
            assert inner[pos] == ",", f"bad label set {text!r}"
            pos += 1
    return labels


def _value(text: str) -> float:
    assert _VALUE.match(text), f"bad sample value {text!r}"
    return float(text.replace("Inf", "inf"))


@dataclass
class Family:
    name: str
    kind: str = "untyped"
    help: str = ""
    samples: list[tuple[str, dict[str, str], float]] = field(default_factory=list)


def parse(text: str) -> dict[str, Family]:
    """Every line checked: HELP/TYPE before the samples, once per family; samples valid
    and belonging to the declared family; histograms cumulative and ending in +Inf with
    ``_count`` equal to the +Inf bucket."""
    assert text == "" or text.endswith("\n"), "the answer ends with a newline"
    families: dict[str, Family] = {}
    current: Family | None = None
    for line in text.splitlines():
        assert line.strip() == line and line, f"blank or padded line {line!r}"
        if line.startswith("# HELP "):
            name, _, help_text = line[7:].partition(" ")
            assert re.fullmatch(_NAME, name), line
            assert name not in families, f"family {name} declared twice"
            current = families[name] = Family(name, help=_unescape(help_text))
        elif line.startswith("# TYPE "):
            name, _, kind = line[7:].partition(" ")
            assert current is not None and current.name == name, f"TYPE without HELP: {line}"
            assert kind in ("counter", "gauge", "histogram", "summary", "untyped"), line
            assert not current.samples, "TYPE after samples"
            current.kind = kind
        else:
            assert not line.startswith("#"), f"unknown comment {line!r}"
            found = _SAMPLE.match(line)
            assert found, f"bad sample line {line!r}"
            name, labels, value = found.group(1), _labels(found.group(2)), _value(found.group(3))
            assert current is not None, f"sample before any family: {line}"
            allowed = {current.name}
            if current.kind == "histogram":
                allowed = {f"{current.name}_{s}" for s in ("bucket", "sum", "count")}
            assert name in allowed, f"{name} outside its family {current.name}"
            current.samples.append((name, labels, value))
    for family in families.values():
        if family.kind == "histogram":
            _check_histogram(family)
        if family.kind == "counter":
            assert all(v >= 0 for _, _, v in family.samples), family.name
    return families


def _check_histogram(family: Family) -> None:
    series: dict[tuple[tuple[str, str], ...], list[tuple[float, float]]] = {}
    sums: dict[tuple[tuple[str, str], ...], float] = {}
    counts: dict[tuple[tuple[str, str], ...], float] = {}
    for name, labels, value in family.samples:
        key = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        if name.endswith("_bucket"):
            series.setdefault(key, []).append((_value(labels["le"]), value))
        elif name.endswith("_sum"):
            sums[key] = value
        else:
            counts[key] = value
    assert set(series) == set(sums) == set(counts), family.name
    for key, buckets in series.items():
        bounds = [b for b, _ in buckets]
        assert bounds == sorted(bounds) and len(set(bounds)) == len(bounds), bounds
        assert bounds[-1] == math.inf, f"{family.name}{key}: the last bucket is not +Inf"
        values = [v for _, v in buckets]
        assert values == sorted(values), f"{family.name}{key}: not cumulative: {values}"
        assert counts[key] == values[-1], f"{family.name}{key}: _count != +Inf bucket"


def value_of(families: dict[str, Family], sample: str, **labels: str) -> float | None:
    for family in families.values():
        for name, got, value in family.samples:
            if name == sample and got == labels:
                return value
    return None


# --------------------------------------------------------------------------- format


def test_counter_and_gauge_render():
    registry = Registry()
    jobs = registry.counter("t_jobs_total", "Jobs done.", ("queue", "job"))
    jobs.labels("default", "sync.student").inc()
    jobs.labels("default", "sync.student").inc(2)
    jobs.labels("default", "sync.dispatch").inc()
    depth = registry.gauge("t_depth", "Queue depth.")
    depth.set(7)
    text = registry.render()
    assert text == (
        "# HELP t_jobs_total Jobs done.\n"
        "# TYPE t_jobs_total counter\n"
        't_jobs_total{queue="default",job="sync.student"} 3\n'
        't_jobs_total{queue="default",job="sync.dispatch"} 1\n'
        "# HELP t_depth Queue depth.\n"
        "# TYPE t_depth gauge\n"
        "t_depth 7\n"
    )
    families = parse(text)
    assert families["t_jobs_total"].kind == "counter"
    assert value_of(families, "t_jobs_total", queue="default", job="sync.student") == 3
    assert jobs.value("default", "sync.student") == 3
    assert jobs.value("nope", "nope") == 0


def test_label_values_and_help_are_escaped():
    registry = Registry()
    nasty = 'a "quoted" back\\slash\nnew line } , ='
    gauge = registry.gauge("t_names", 'Help with a back\\slash\nand a "quote".', ("name",))
    gauge.labels(nasty).set(1)
    gauge.labels("").set(2)
    text = registry.render()
    lines = text.splitlines()
    assert lines[0] == '# HELP t_names Help with a back\\\\slash\\nand a "quote".'
    assert lines[2] == 't_names{name="a \\"quoted\\" back\\\\slash\\nnew line } , ="} 1'
    assert len(lines) == 4  # the newline in the value did not break the line
    families = parse(text)
    assert families["t_names"].help == 'Help with a back\\slash\nand a "quote".'
    assert value_of(families, "t_names", name=nasty) == 1
    assert value_of(families, "t_names", name="") == 2


def test_histogram_is_cumulative_and_ends_in_inf():
    registry = Registry()
    hist = registry.histogram("t_seconds", "Durations.", ("job",), buckets=(0.1, 1, 10))
    for value in (0.05, 0.1, 0.5, 2, 20, 30):
        hist.labels("a").observe(value)
    hist.labels("b").observe(0.2)
    text = registry.render()
    families = parse(text)
    assert value_of(families, "t_seconds_bucket", job="a", le="0.1") == 2  # le: <= 0.1
    assert value_of(families, "t_seconds_bucket", job="a", le="1") == 3
    assert value_of(families, "t_seconds_bucket", job="a", le="10") == 4
    assert value_of(families, "t_seconds_bucket", job="a", le="+Inf") == 6
    assert value_of(families, "t_seconds_count", job="a") == 6
    assert value_of(families, "t_seconds_sum", job="a") == pytest.approx(52.65)
    assert value_of(families, "t_seconds_bucket", job="b", le="0.1") == 0
    assert value_of(families, "t_seconds_bucket", job="b", le="1") == 1
    assert value_of(families, "t_seconds_count", job="b") == 1
    assert 't_seconds_bucket{job="a",le="+Inf"} 6' in text.splitlines()


def test_histogram_without_labels_and_odd_values():
    hist = Histogram("t_h", "h", buckets=(1, 2, math.inf))
    assert hist.buckets == (1.0, 2.0)  # +Inf is always there, not twice
    hist.observe(math.nan)
    hist.observe(-5)
    hist.observe(1e300)
    text = render([hist])
    families = parse(text)
    assert value_of(families, "t_h_bucket", le="1") == 1  # -5
    assert value_of(families, "t_h_bucket", le="+Inf") == 3
    assert value_of(families, "t_h_sum") is not None and math.isnan(
        value_of(families, "t_h_sum") or 0.0
    )


def test_number_format():
    fmt = metrics.format_value
    assert [fmt(v) for v in (0, 3.0, -2, 0.25, 1e-9, 2.0**60)] == [
        "0",
        "3",
        "-2",
        "0.25",
        "1e-09",
        repr(2.0**60),
    ]
    assert (fmt(math.inf), fmt(-math.inf), fmt(math.nan)) == ("+Inf", "-Inf", "NaN")


def test_a_family_without_samples_still_has_help_and_type():
    families = parse(render([Counter("t_none_total", "Nothing yet.", ("x",))]))
    assert families["t_none_total"].kind == "counter"
    assert families["t_none_total"].samples == []
    assert render([]) == ""


def test_misuse_is_refused():
    registry = Registry()
    counter = registry.counter("t_c_total", "c", ("a",))
    with pytest.raises(ValueError):
        registry.counter("t_c_total", "again")
    hist = registry.histogram("t_h", "h")
    with pytest.raises(ValueError):
        registry.gauge("t_h_count", "clashes with the histogram's samples")
    assert registry.get("t_h") is hist
    with pytest.raises(ValueError):
        counter.labels("a", "b")  # too many values
    with pytest.raises(TypeError):
        counter.labels(500)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        counter.labels("x").inc(-1)
    for bad in ("1abc", "with space", "dash-ed", ""):
        with pytest.raises(ValueError):
            Gauge(bad, "bad name")
    for labels in (("le",), ("__reserved",), ("a", "a"), ("bad-label",)):
        with pytest.raises(ValueError):
            Histogram("t_x", "x", labels)
    for buckets in ((), (2, 1), (1, 1), (math.nan,)):
        with pytest.raises(ValueError):
            Histogram("t_x", "x", buckets=buckets)


def test_gauge_moves_both_ways_and_series_can_go():
    gauge = Gauge("t_g", "g", ("k",))
    gauge.labels("a").inc(5)
    gauge.labels("a").dec(2)
    gauge.labels("b").set(1)
    gauge.remove("b")
    assert gauge.value("a") == 3
    assert [v for v, _ in gauge.series()] == [("a",)]
    gauge.clear()
    assert gauge.series() == []


# --------------------------------------------------------------------------- syncpay's own


def test_default_registry_and_process_metrics_parse():
    text = metrics.REGISTRY.render(metrics.collect_process())
    families = parse(text)
    for name in (
        "syncpay_jobs_processed_total",
        "syncpay_jobs_failed_total",
        "syncpay_jobs_retried_total",
        "syncpay_job_duration_seconds",
        "syncpay_payment_api_requests_total",
        "syncpay_payment_api_request_duration_seconds",
        "syncpay_process_start_time_seconds",
        "syncpay_process_uptime_seconds",
        "syncpay_process_cpu_seconds_total",
        "syncpay_build_info",
    ):
        assert name in families, name
    assert families["syncpay_job_duration_seconds"].kind == "histogram"
    build = families["syncpay_build_info"].samples
    assert build[0][1]["version"] == metrics_version() and build[0][2] == 1
    uptime = value_of(families, "syncpay_process_uptime_seconds")
    assert uptime is not None and uptime >= 0
    assert CONTENT_TYPE == "text/plain; version=0.0.4; charset=utf-8"


def metrics_version() -> str:
    from syncpay import __version__

    return __version__


def test_job_settled_names_the_job_even_without_a_parsed_payload():
    @dataclass
    class Job:
        queue: str
        raw_payload: str

    @dataclass
    class Payload:
        job: str

    before = metrics.JOBS_RETRIED.value("t-queue", "t.job")
    metrics.job_settled("release", Job("t-queue", '{"job": "t.job"}'), None)
    metrics.job_settled("release", Job("t-queue", "x"), Payload("t.job"))
    assert metrics.JOBS_RETRIED.value("t-queue", "t.job") == before + 2
    unknown = metrics.JOBS_FAILED.value("t-queue", "unknown")
    metrics.job_settled("fail", Job("t-queue", "not json"), None)
    metrics.job_settled("fail", Job("t-queue", "[1]"), None)
    assert metrics.JOBS_FAILED.value("t-queue", "unknown") == unknown + 2
    metrics.job_settled("lost", Job("t-queue", "{}"), None)  # not an outcome we count
