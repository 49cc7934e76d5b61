"""syncpay's own metrics, counted as things happen, in the process-wide `REGISTRY`:
the jobs a worker settled and ran (`JOB_EVENTS`, the worker's observer) and the payment
API requests (`payment_api_request`)."""

from __future__ import annotations

import json
import time
from typing import Protocol

from .exposition import DEFAULT_BUCKETS, Registry

#: Job durations: 5 ms … 60 s.
JOB_BUCKETS = DEFAULT_BUCKETS
#: Payment API latencies: 5 ms … 30 s (the longest timeout one would set).
API_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

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

    def pool_stopped(self, name: str, reason: str, stats: object) -> None:
        """Nothing to count: the counters above already hold every job the pool settled."""


#: The one observer a pool needs (it holds no state: the counters are process-wide).
JOB_EVENTS = JobEvents()


def payment_api_request(status: str, started: float) -> None:
    """One payment API request ended (``started``: its ``time.perf_counter()``)."""
    PAYMENT_API_REQUESTS.labels(status).inc()
    PAYMENT_API_DURATION.labels().observe(time.perf_counter() - started)
