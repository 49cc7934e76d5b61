"""Prometheus metrics, with no dependency: counters, gauges and histograms with labels,
rendered in the text exposition format 0.0.4 (what ``GET /metrics`` answers).

Updating a metric is cheap enough for hot paths: ``JOBS_PROCESSED.labels(queue,
job_name).inc()`` is a dict lookup and an add (asyncio runs one task at a time, so no lock is
needed). One process-wide registry, :data:`REGISTRY`, holds syncpay's metrics below;
values that live in the database (queue depth, active runs) are read at scrape time by
:func:`collect_database` into metrics that are built for that one answer.

The names (all ``syncpay_…``):

- ``jobs_processed_total`` / ``jobs_failed_total`` / ``jobs_retried_total`` {queue,
  job_name}: outcomes the worker settled (done; failed for good; released to run again).
- ``job_duration_seconds`` {job_name}: how long a job's handler ran (finished or raised).

The job's label is ``job_name``, never ``job``: Prometheus gives every scraped series the
label ``job`` of its scrape configuration and would rename ours to ``exported_job``.
- ``payment_api_requests_total`` {status}: requests to the payment API by HTTP status, or
  ``timeout``, ``error`` (no answer: refused, reset…), ``malformed`` (an HTTP answer
  that could not be read: cut off, invalid) or ``cancelled`` (its job was). A 2xx whose
  body is not valid JSON counts under its status: the parser's refusal is the job's
  failure, not the API request's.
- ``payment_api_request_duration_seconds``: latency of those requests.
- at scrape time: ``queue_jobs`` {queue, state}, ``queue_oldest_pending_age_seconds``
  {queue}, ``sync_runs_active``, ``sync_run_total`` / ``sync_run_processed`` /
  ``sync_run_failed`` {run_id}, ``database_up``, ``websocket_clients``,
  ``worker_slots``, ``worker_running_jobs``, ``process_start_time_seconds``,
  ``process_uptime_seconds``, ``process_cpu_seconds_total``, ``build_info`` {version,
  python}.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import json
import math
import platform
import re
import time
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, Protocol

from ._version import __version__

__all__ = [
    "CONTENT_TYPE",
    "REGISTRY",
    "Counter",
    "Gauge",
    "Histogram",
    "JobEvents",
    "Metric",
    "Registry",
    "collect_database",
    "collect_process",
    "render",
]

#: The Content-Type of the text exposition format.
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")

#: Job durations: 5 ms … 60 s.
JOB_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
#: Payment API latencies: 5 ms … 30 s (the longest timeout one would set).
API_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


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
        buckets: Sequence[float] = JOB_BUCKETS,
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
        buckets: Sequence[float] = JOB_BUCKETS,
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


# --------------------------------------------------------------------------- syncpay's metrics

REGISTRY = Registry()

JOBS_PROCESSED = REGISTRY.counter(
    "syncpay_jobs_processed_total",
    "Jobs done and acknowledged, by queue and job.",
    ("queue", "job_name"),
)
JOBS_FAILED = REGISTRY.counter(
    "syncpay_jobs_failed_total",
    "Jobs failed for good (moved to failed_jobs), by queue and job.",
    ("queue", "job_name"),
)
JOBS_RETRIED = REGISTRY.counter(
    "syncpay_jobs_retried_total",
    "Jobs released back to the queue to run again (after an error, for a Retry-After, "
    "or given back unstarted at a stop or cancel), by queue and job.",
    ("queue", "job_name"),
)
JOB_DURATION = REGISTRY.histogram(
    "syncpay_job_duration_seconds",
    "Time a job's handler ran (until it returned or raised), by job.",
    ("job_name",),
    JOB_BUCKETS,
)
PAYMENT_API_REQUESTS = REGISTRY.counter(
    "syncpay_payment_api_requests_total",
    "Requests to the payment API by HTTP status, or timeout, error (no answer), "
    "malformed (an HTTP answer that could not be read) or cancelled.",
    ("status",),
)
PAYMENT_API_DURATION = REGISTRY.histogram(
    "syncpay_payment_api_request_duration_seconds",
    "Latency of the payment API requests (from sending to the whole answer or the error).",
    (),
    API_BUCKETS,
)

#: When this process started (wall clock) and its monotonic twin for the up time.
START_TIME = time.time()
_START_MONOTONIC = time.monotonic()


class _Job(Protocol):
    @property
    def queue(self) -> str: ...

    @property
    def raw_payload(self) -> str: ...


class _Payload(Protocol):
    @property
    def job(self) -> str: ...


_SETTLED = {"ack": JOBS_PROCESSED, "fail": JOBS_FAILED, "release": JOBS_RETRIED}


def job_settled(kind: str, job: _Job, payload: _Payload | None) -> None:
    """The worker settled ``job``: ``kind`` is ack, fail or release."""
    counter = _SETTLED.get(kind)
    if counter is not None:
        name = payload.job if payload is not None else _job_name(job.raw_payload)
        counter.labels(job.queue, name).inc()


def _job_name(raw: str) -> str:
    """The job name of a payload the worker did not parse (a job given back unstarted)."""
    try:
        name = json.loads(raw).get("job")
    except (TypeError, ValueError, AttributeError):
        return "unknown"
    return name if isinstance(name, str) and name else "unknown"


def job_ran(name: str, started: float) -> None:
    """A job's handler ended; ``started`` is its ``time.perf_counter()`` at the start."""
    JOB_DURATION.labels(name).observe(time.perf_counter() - started)


class JobEvents:
    """What a worker pool reports (its observer interface, ``queue.worker.WorkerObserver``),
    counted into the metrics above. Subscribed where a pool is made (``SyncPay.worker``,
    ``syncpay work``): the worker itself knows nothing of metrics."""

    def job_settled(self, kind: str, job: _Job, payload: _Payload | None) -> None:
        job_settled(kind, job, payload)

    def job_ran(self, name: str, started: float) -> None:
        job_ran(name, started)


#: The one observer a pool needs (it holds no state: the counters are process-wide).
JOB_EVENTS = JobEvents()


def payment_api_request(status: str, started: float) -> None:
    """One payment API request ended (``started``: its ``time.perf_counter()``)."""
    PAYMENT_API_REQUESTS.labels(status).inc()
    PAYMENT_API_DURATION.labels().observe(time.perf_counter() - started)


# --------------------------------------------------------------------------- scrape time


def collect_process() -> list[Metric]:
    """Up time, start time, CPU time and the build."""
    start = Gauge("syncpay_process_start_time_seconds", "When the process started (Unix time).")
    start.set(START_TIME)
    uptime = Gauge("syncpay_process_uptime_seconds", "Seconds since the process started.")
    uptime.set(round(time.monotonic() - _START_MONOTONIC, 3))
    cpu = Counter("syncpay_process_cpu_seconds_total", "CPU time the process used (user + system).")
    cpu.inc(round(time.process_time(), 3))
    build = Gauge("syncpay_build_info", "The running syncpay (always 1).", ("version", "python"))
    build.labels(__version__, platform.python_version()).set(1)
    return [start, uptime, cpu, build]


class _Database(Protocol):
    async def fetch_all(self, name: str, /) -> list[Any]: ...


class _Settings(Protocol):
    @property
    def db_queue(self) -> str: ...


class _ActiveRun(Protocol):
    @property
    def id(self) -> Any: ...

    @property
    def total(self) -> int: ...

    @property
    def processed(self) -> int: ...

    @property
    def failed(self) -> int: ...


class _Runs(Protocol):
    async def active(self) -> Sequence[_ActiveRun]: ...


class Source(Protocol):
    """What :func:`collect_database` reads (a ``SyncPay`` is one): its database, its
    settings (the configured queue) and its runs."""

    @property
    def db(self) -> _Database: ...

    @property
    def settings(self) -> _Settings: ...

    @property
    def sync(self) -> _Runs: ...


async def collect_database(sp: Source, timeout: float = 5.0) -> list[Metric]:
    """Queue depth and active runs, read from the database now; ``syncpay_database_up`` is
    0 (and the rest left out) when it does not answer within ``timeout`` seconds."""
    up = Gauge("syncpay_database_up", "Whether the database answered this scrape (1) or not (0).")
    try:
        depth, runs = await asyncio.wait_for(_read_database(sp), timeout)
    except Exception:
        up.set(0)
        return [up]
    up.set(1)
    return [up, *depth, *runs]


async def _read_database(sp: Source) -> tuple[list[Metric], list[Metric]]:
    rows = await sp.db.fetch_all("metrics_queue_depth")
    jobs = Gauge("syncpay_queue_jobs", "Jobs in the queue by state.", ("queue", "state"))
    oldest = Gauge(
        "syncpay_queue_oldest_pending_age_seconds",
        "Age of the oldest pending job (ready, not reserved), counted from when it became "
        "available (its push, or the end of its retry delay); 0 when none is pending.",
        ("queue",),
    )
    seen = {str(row["queue"]) for row in rows}
    # The configured queue always shows, empty or not.
    if sp.settings.db_queue not in seen:
        rows = [*rows, {"queue": sp.settings.db_queue}]
    for row in rows:
        queue = str(row["queue"])
        for state in ("pending", "delayed", "reserved"):
            jobs.labels(queue, state).set(int(row.get(state) or 0))
        oldest.labels(queue).set(max(0, int(row.get("oldest_pending_seconds") or 0)))

    active = await sp.sync.active()
    count = Gauge("syncpay_sync_runs_active", "Sync runs with status running.")
    count.set(len(active))
    total = Gauge("syncpay_sync_run_total", "Students in a running sync run.", ("run_id",))
    processed = Gauge(
        "syncpay_sync_run_processed", "Students a running sync run has finished.", ("run_id",)
    )
    failed = Gauge(
        "syncpay_sync_run_failed", "Students a running sync run could not sync.", ("run_id",)
    )
    for run in active:
        run_id = str(run.id)
        total.labels(run_id).set(run.total)
        processed.labels(run_id).set(run.processed)
        failed.labels(run_id).set(run.failed)
    return [jobs, oldest], [count, total, processed, failed]
