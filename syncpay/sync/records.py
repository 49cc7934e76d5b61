"""The sync's typed records, read from the database: a run's row (:class:`Run`), a line
of its activity log (:class:`LogLine`), a row of the runs' history (:class:`RunSummary`),
a student that failed in a run (:class:`FailedStudent`), what a run changed
(:class:`RunChanges`) and of whom (:class:`StudentChange`, :class:`ChangedStudent`).

Python code reads them by attribute; ``to_json()`` gives the JSON the server answers
(SPEC §6's field names, as they always were).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
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
    #: What the run changed (None for a run from before migration 0015).
    changes: RunChanges | None = None

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
            changes=RunChanges.from_row(row),
        )


def to_decimal(value: Any) -> Decimal | None:
    """A money column's value (DECIMAL on MySQL, a number or text on SQLite)."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return value
    try:
        return Decimal(str(value))
    except InvalidOperation:
        return None


def json_amount(value: Decimal | None) -> int | float | None:
    """An amount in a JSON answer: a number (a whole one as an integer), like the
    students' totals."""
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def _lunas(value: Any) -> bool | None:
    return None if value is None else bool(int(value))


#: The counters of a run's change summary, in the order pages show them.
CHANGE_COUNTERS = (
    "became_lunas",
    "became_belum_lunas",
    "first_synced",
    "arrears_up",
    "arrears_down",
)


@dataclass(frozen=True, slots=True)
class RunChanges:
    """What a run changed (issue #14): how many of its students became Lunas, became
    Belum Lunas, were synced for the first time, had their arrears rise or fall, and the
    sum of its synced students' arrears before and after (a never-synced student counts
    0 before; an unchanged one adds the same to both)."""

    became_lunas: int = 0
    became_belum_lunas: int = 0
    first_synced: int = 0
    arrears_up: int = 0
    arrears_down: int = 0
    tunggakan_before: Decimal = Decimal(0)
    tunggakan_after: Decimal = Decimal(0)

    @classmethod
    def from_row(cls, row: Row) -> RunChanges | None:
        """A ``sync_runs`` row's summary; None when its columns are NULL (a run from
        before migration 0015, or a row read without them)."""
        if row.get("became_lunas") is None:
            return None
        return cls(
            became_lunas=int(row["became_lunas"]),
            became_belum_lunas=int(row["became_belum_lunas"]),
            first_synced=int(row["first_synced"]),
            arrears_up=int(row["arrears_up"]),
            arrears_down=int(row["arrears_down"]),
            tunggakan_before=to_decimal(row["tunggakan_before"]) or Decimal(0),
            tunggakan_after=to_decimal(row["tunggakan_after"]) or Decimal(0),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            **{name: getattr(self, name) for name in CHANGE_COUNTERS},
            "tunggakan_before": json_amount(self.tunggakan_before),
            "tunggakan_after": json_amount(self.tunggakan_after),
        }


@dataclass(frozen=True, slots=True)
class StudentChange:
    """A student's totals and state before and after one sync (``*_before`` None: never
    synced before, Belum Sinkron)."""

    tunggakan_before: Decimal | None
    tunggakan_after: Decimal
    kelebihan_before: Decimal | None
    kelebihan_after: Decimal
    lunas_before: bool | None
    lunas_after: bool

    @property
    def changed(self) -> bool:
        """Whether the state or an amount differs (what makes a history row)."""
        return (
            self.lunas_before != self.lunas_after
            or self.tunggakan_before != self.tunggakan_after
            or self.kelebihan_before != self.kelebihan_after
        )

    def counters(self) -> dict[str, int]:
        """The run counters this change adds 1 to (issue #14's definitions)."""
        if self.lunas_before is None:
            return {"first_synced": 1}
        counted: dict[str, int] = {}
        if self.lunas_before != self.lunas_after:
            counted["became_lunas" if self.lunas_after else "became_belum_lunas"] = 1
        before = self.tunggakan_before or Decimal(0)
        if self.tunggakan_after != before:
            counted["arrears_up" if self.tunggakan_after > before else "arrears_down"] = 1
        return counted

    def as_params(self) -> dict[str, Any]:
        """The columns of ``siswa_history`` / ``sync_run_items`` (amounts as text)."""

        def text(value: Decimal | None) -> str | None:
            return None if value is None else str(value)

        def flag(value: bool | None) -> int | None:
            return None if value is None else int(value)

        return {
            "tunggakan_before": text(self.tunggakan_before),
            "tunggakan_after": text(self.tunggakan_after),
            "kelebihan_before": text(self.kelebihan_before),
            "kelebihan_after": text(self.kelebihan_after),
            "lunas_before": flag(self.lunas_before),
            "lunas_after": flag(self.lunas_after),
        }

    @classmethod
    def from_row(cls, row: Row) -> StudentChange:
        return cls(
            tunggakan_before=to_decimal(row["tunggakan_before"]),
            tunggakan_after=to_decimal(row["tunggakan_after"]) or Decimal(0),
            kelebihan_before=to_decimal(row["kelebihan_before"]),
            kelebihan_after=to_decimal(row["kelebihan_after"]) or Decimal(0),
            lunas_before=_lunas(row["lunas_before"]),
            lunas_after=bool(_lunas(row["lunas_after"])),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "tunggakan_before": json_amount(self.tunggakan_before),
            "tunggakan_after": json_amount(self.tunggakan_after),
            "kelebihan_before": json_amount(self.kelebihan_before),
            "kelebihan_after": json_amount(self.kelebihan_after),
            "lunas_before": self.lunas_before,
            "lunas_after": self.lunas_after,
        }


@dataclass(frozen=True, slots=True)
class ChangedStudent:
    """A student a run changed, with before → after (a row of the run's changes list;
    ``nama`` None when the student has left the roster since)."""

    idperson: str
    nama: str | None
    change: StudentChange

    @classmethod
    def from_row(cls, row: Row) -> ChangedStudent:
        return cls(
            idperson=str(row["idperson"]), nama=row["nama"], change=StudentChange.from_row(row)
        )

    def to_json(self) -> dict[str, Any]:
        return {"idperson": self.idperson, "nama": self.nama, **self.change.to_json()}


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
    #: What the run changed (None for a run from before migration 0015).
    changes: RunChanges | None = None

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
            "changes": None if self.changes is None else self.changes.to_json(),
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
