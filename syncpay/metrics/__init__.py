"""Prometheus metrics, with no dependency (this package imports nothing of syncpay's
but its version).

- ``exposition``: counters, gauges and histograms with labels, a registry, the text
  exposition format 0.0.4 (what ``GET /metrics`` answers); nothing syncpay-specific.
- ``events``: syncpay's metrics in the process-wide :data:`REGISTRY`, counted as things
  happen (`JOB_EVENTS`, the worker's observer; `payment_api_request`).
- ``scrape``: values that live in the database (queue depth, active runs) read at scrape
  time by :func:`collect_database` into metrics built for that one answer, and the
  process's own (:func:`collect_process`).

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

from .events import (
    API_BUCKETS,
    JOB_BUCKETS,
    JOB_DURATION,
    JOB_EVENTS,
    JOBS_FAILED,
    JOBS_PROCESSED,
    JOBS_RETRIED,
    PAYMENT_API_DURATION,
    PAYMENT_API_REQUESTS,
    REGISTRY,
    JobEvents,
    job_ran,
    job_settled,
    payment_api_request,
)
from .exposition import (
    CONTENT_TYPE,
    Counter,
    Gauge,
    Histogram,
    Metric,
    Registry,
    format_value,
    render,
)
from .scrape import START_TIME, Source, collect_backup, collect_database, collect_process

__all__ = [
    "API_BUCKETS",
    "CONTENT_TYPE",
    "JOBS_FAILED",
    "JOBS_PROCESSED",
    "JOBS_RETRIED",
    "JOB_BUCKETS",
    "JOB_DURATION",
    "JOB_EVENTS",
    "PAYMENT_API_DURATION",
    "PAYMENT_API_REQUESTS",
    "REGISTRY",
    "START_TIME",
    "Counter",
    "Gauge",
    "Histogram",
    "JobEvents",
    "Metric",
    "Registry",
    "Source",
    "collect_backup",
    "collect_database",
    "collect_process",
    "format_value",
    "job_ran",
    "job_settled",
    "payment_api_request",
    "render",
]
