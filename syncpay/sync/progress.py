"""The progress object of SPEC §6: :class:`Progress`, read by attribute in Python
(``progress.percent``, ``progress.is_running``), and ``to_json()`` for the JSON answers,
the WebSocket messages and ``sync:status --json`` (SPEC's field names: ``successCount``,
``isRunning``, …)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .records import LogLine

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
        }


def percent(processed: int, total: int) -> float:
    if total <= 0:
        return 0.0
    return round(min(100.0, processed * 100.0 / total), 1)


def iso(epoch: int | None) -> str | None:
    if epoch is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))
