"""The progress read model: SPEC §6's progress object (:class:`Progress`) and the runs'
history (:class:`~.records.RunSummary`), built from the database.

:class:`Progress` is read by attribute in Python (``progress.percent``,
``progress.is_running``); ``to_json()`` gives the JSON answers, the WebSocket messages
and ``sync:status --json`` (SPEC's field names: ``successCount``, ``isRunning``, …).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..db import Database
from ..queue.worker import serving
from .activity import read_log
from .records import LogLine, Run, RunChanges, RunSummary, iso

#: The sliding window for the rate and the ETA (seconds).
RATE_WINDOW = 30
#: Seconds a run may go without any worker pool serving its queue before its progress
#: says ``waiting_for_worker`` (a pool writes its presence at once when it starts).
WORKER_GRACE = 3
#: The wait for the next retry is looked up only while the estimate is shorter than this
#: (seconds) or unknown: a longer estimate covers any backoff, and the lookup reads every
#: student the run still waits for (cheap near the end, where it matters).
RETRY_CHECK_BELOW = 300

#: The progress object's fields fixed by SPEC §6 (the object carries a few more).
SPEC_PROGRESS_FIELDS = (
    "total",
    "processed",
    "failed",
    "successCount",
    "percent",
    "isRunning",
    "status",
    "run_id",
    "started_at",
    "finished_at",
    "started_by",
    "eta_seconds",
    "rate_per_second",
    "logs",
    "changes",
)


@dataclass(frozen=True, slots=True)
class Progress:
    """A run's progress (the latest run's, or ``idle()`` before the first run)."""

    total: int = 0
    processed: int = 0
    failed: int = 0
    success_count: int = 0
    unchanged: int = 0
    percent: float = 0.0
    is_running: bool = False
    #: ``idle``, ``running``, ``completed`` or ``cancelled``.
    status: str = "idle"
    run_id: int | None = None
    #: The scope's Indonesian label, and what a page needs to word it (``Scope.detail``).
    scope: str | None = None
    scope_detail: dict[str, Any] | None = None
    #: ISO 8601 UTC.
    started_at: str | None = None
    finished_at: str | None = None
    started_by: str | None = None
    elapsed_seconds: int = 0
    eta_seconds: int | None = None
    rate_per_second: float = 0.0
    #: No worker pool serves the run's queue (for a few seconds already).
    waiting_for_worker: bool = False
    #: Students waiting out a retry's backoff, and the seconds until the first is due.
    retry_waiting: int = 0
    next_retry_seconds: int | None = None
    #: The activity log, newest first.
    logs: tuple[LogLine, ...] = ()
    #: What the run changed so far (None: idle, or a run from before migration 0015).
    changes: RunChanges | None = None

    @classmethod
    def idle(cls) -> Progress:
        """Before any run (or after the tables were emptied)."""
        return cls()

    def with_logs(self, logs: Iterable[LogLine]) -> Progress:
        """The same progress with other log lines (newest first)."""
        return dataclasses.replace(self, logs=tuple(logs))

    def to_json(self) -> dict[str, Any]:
        """SPEC §6's object, field for field as the server has always answered it."""
        return {
            "total": self.total,
            "processed": self.processed,
            "failed": self.failed,
            "successCount": self.success_count,
            "unchanged": self.unchanged,
            "percent": self.percent,
            "isRunning": self.is_running,
            "status": self.status,
            "run_id": self.run_id,
            "scope": self.scope,
            "scope_detail": self.scope_detail,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "started_by": self.started_by,
            "elapsed_seconds": self.elapsed_seconds,
            "eta_seconds": self.eta_seconds,
            "rate_per_second": self.rate_per_second,
            "waiting_for_worker": self.waiting_for_worker,
            "retry_waiting": self.retry_waiting,
            "next_retry_seconds": self.next_retry_seconds,
            "logs": [line.to_json() for line in self.logs],
            "changes": None if self.changes is None else self.changes.to_json(),
        }


def percent(processed: int, total: int) -> float:
    if total <= 0:
        return 0.0
    return round(min(100.0, processed * 100.0 / total), 1)


async def _rate(db: Database, run: Run, now: int) -> float:
    """Students counted per second over the last :data:`RATE_WINDOW` seconds."""
    if not run.is_running:
        return 0.0
    window = max(1, min(RATE_WINDOW, now - run.started_at))
    recent = int(
        await db.fetch_value("sync_items_recent_count", {"run_id": run.id, "window": window})
    )
    return recent / window


async def _retry_wait(db: Database, queue: str, run: Run) -> tuple[int, int | None]:
    """Students waiting out a backoff, and the seconds until the first is due: the run
    cannot end before then."""
    wait = await db.fetch_one("sync_run_retry_wait", {"run_id": run.id, "queue": queue})
    if wait is None or not int(wait["n"] or 0):
        return 0, None
    return int(wait["n"]), max(0, int(wait["wait"]))


async def read_progress(db: Database, queue: str, run: Run, after_log: int = 0) -> Progress:
    """The progress of ``run``, whose jobs go to ``queue``; with ``after_log``, only the
    log lines written after that id."""
    now = int(await db.fetch_value("sync_now"))
    rate = await _rate(db, run, now)
    remaining = max(0, run.total - run.processed)
    eta = round(remaining / rate) if rate > 0 and run.is_running else None
    # Nobody works a run when no pool (here or elsewhere) serves its queue.
    waiting_for_worker = (
        run.is_running and now - run.started_at >= WORKER_GRACE and not await serving(db, queue)
    )
    retry_waiting, next_retry = 0, None
    if run.is_running and remaining and (eta is None or eta < RETRY_CHECK_BELOW):
        retry_waiting, next_retry = await _retry_wait(db, queue, run)
    return Progress(
        total=run.total,
        processed=run.processed,
        failed=run.failed,
        success_count=run.succeeded,
        unchanged=run.unchanged,
        percent=percent(run.processed, run.total),
        is_running=run.is_running,
        status=run.status,
        run_id=run.id,
        scope=run.scope_label,
        scope_detail=run.scope.detail(),
        started_at=iso(run.started_at),
        finished_at=iso(run.finished_at),
        started_by=run.started_by,
        elapsed_seconds=(run.finished_at or now) - run.started_at,
        eta_seconds=eta,
        rate_per_second=round(rate, 2),
        waiting_for_worker=waiting_for_worker,
        retry_waiting=retry_waiting,
        next_retry_seconds=next_retry,
        logs=await read_log(db, run.id, after_log),
        changes=run.changes,
    )


async def read_history(db: Database, runs: list[Run]) -> list[RunSummary]:
    """``runs`` as rows of the runs' history, with their counts and durations."""
    now = int(await db.fetch_value("sync_now")) if runs else 0
    return [
        RunSummary(
            run_id=run.id,
            status=run.status,
            scope=run.scope_label,
            scope_type=run.scope.kind,
            scope_detail=run.scope.detail(),
            started_by=run.started_by,
            started_at=iso(run.started_at),
            finished_at=iso(run.finished_at),
            duration_seconds=max(0, (run.finished_at or now) - run.started_at),
            total=run.total,
            processed=run.processed,
            failed=run.failed,
            success_count=run.succeeded,
            unchanged=run.unchanged,
            percent=percent(run.processed, run.total),
            changes=run.changes,
        )
        for run in runs
    ]
