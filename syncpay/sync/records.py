"""The sync's typed records, read from the database: a run's row (:class:`Run`), a line
of its activity log (:class:`LogLine`), a row of the runs' history (:class:`RunSummary`)
and a student that failed in a run (:class:`FailedStudent`).

Python code reads them by attribute; ``to_json()`` gives the JSON the server answers
(SPEC §6's field names, as they always were).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from ..db import Row
from .scope import Scope


@dataclass(frozen=True, slots=True)
class Run:
    """A run's row in ``sync_runs``."""

    id: int
    scope: Scope
    scope_label: str
    status: str
    total: int
    processed: int
    failed: int
    unchanged: int
    dispatched: bool
    dispatch_cursor: str | None
    sort_base: int
    started_by: str
    started_at: int
    finished_at: int | None
    cleared_at: int | None

    @property
    def succeeded(self) -> int:
        return self.processed - self.failed

    @property
    def is_running(self) -> bool:
        return self.status == "running"

    @classmethod
    def from_row(cls, row: Row) -> Run:
        return cls(
            id=int(row["id"]),
            scope=Scope.from_json(str(row["scope"])),
            scope_label=str(row["scope_label"]),
            status=str(row["status"]),
            total=int(row["total"]),
            processed=int(row["processed"]),
            failed=int(row["failed"]),
            unchanged=int(row["unchanged"]),
            dispatched=bool(row["dispatched"]),
            dispatch_cursor=row["dispatch_cursor"],
            sort_base=int(row["sort_base"]),
            started_by=str(row["started_by"]),
            started_at=int(row["started_at"]),
            finished_at=None if row["finished_at"] is None else int(row["finished_at"]),
            cleared_at=None if row["cleared_at"] is None else int(row["cleared_at"]),
        )


@dataclass(frozen=True, slots=True)
class LogLine:
    """A line of a run's activity log: its template ``key`` (``js.log.<key>`` in the
    catalogues) and ``values``, which a page words in its own language, and the
    Indonesian text as ``message``. ``key`` and ``values`` are None for a line written
    before they were stored."""

    id: int
    #: ISO 8601 UTC (``2026-12-06T10:20:00Z``).
    at: str
    level: str
    message: str
    key: str | None
    values: dict[str, Any] | None

    @classmethod
    def from_row(cls, row: Row) -> LogLine:
        """A row of ``sync_logs_latest`` / ``sync_logs_after``."""
        values = stored_values(row["message_values"])
        return cls(
            id=int(row["id"]),
            at=str(iso(int(row["at"]))),
            level=str(row["level"]),
            message=str(row["message"]),
            # A line from before key and values were stored has neither.
            key=row["message_key"] if values is not None else None,
            values=values,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "at": self.at,
            "level": self.level,
            "message": self.message,
            "key": self.key,
            "values": self.values,
        }


def iso(epoch: int | None) -> str | None:
    """An epoch second as ISO 8601 UTC (``2026-12-06T10:20:00Z``)."""
    if epoch is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch))


def stored_values(text: str | None) -> dict[str, Any] | None:
    """A stored line's values (None for a line written before they were stored)."""
    if text is None:
        return None
    try:
        values = json.loads(text)
    except ValueError:
        return None
    return values if isinstance(values, dict) else None


@dataclass(frozen=True, slots=True)
class RunSummary:
    """A row of the runs' history (newest first on the page and in ``…/runs``)."""

    run_id: int
    status: str
    scope: str
    scope_type: str
    scope_detail: dict[str, Any]
    started_by: str
    started_at: str | None
    finished_at: str | None
    duration_seconds: int
    total: int
    processed: int
    failed: int
    success_count: int
    unchanged: int
    percent: float

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "scope": self.scope,
            "scope_type": self.scope_type,
            "scope_detail": self.scope_detail,
            "started_by": self.started_by,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration_seconds": self.duration_seconds,
            "total": self.total,
            "processed": self.processed,
            "failed": self.failed,
            "successCount": self.success_count,
            "unchanged": self.unchanged,
            "percent": self.percent,
        }


@dataclass(frozen=True, slots=True)
class FailedStudent:
    """A student that failed in a run: why, after how many attempts, when (epoch)."""

    idperson: str
    nama: str | None
    reason: str | None
    attempts: int
    at: int

    @classmethod
    def from_row(cls, row: Row) -> FailedStudent:
        return cls(
            idperson=str(row["idperson"]),
            nama=row["nama"],
            reason=row["reason"],
            attempts=int(row["attempts"]),
            at=int(row["finished_at"]),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "idperson": self.idperson,
            "nama": self.nama,
            "reason": self.reason,
            "attempts": self.attempts,
            "at": self.at,
        }
