"""Metrics built for one ``/metrics`` answer at scrape time: the process (up time, CPU,
build) and what lives in the database (queue depth, active runs), read through the
`Source` protocol (a ``SyncPay`` is one)."""

from __future__ import annotations

import asyncio
import platform
import time
from collections.abc import Sequence
from typing import Any, Protocol

from .._version import __version__
from .exposition import Counter, Gauge, Metric

#: When this process started (wall clock) and its monotonic twin for the up time.
START_TIME = time.time()
_START_MONOTONIC = time.monotonic()


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


def collect_backup(last_at: float | None) -> list[Metric]:
    """When the last successful backup's snapshot was taken (Unix time; 0: none known).
    Its age is ``time() - syncpay_backup_last_success_timestamp_seconds``."""
    gauge = Gauge(
        "syncpay_backup_last_success_timestamp_seconds",
        "When the last successful backup of the database was taken (Unix time; 0: none).",
    )
    gauge.set(0 if last_at is None else round(last_at, 3))
    return [gauge]
