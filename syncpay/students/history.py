"""Each student's history: one :class:`Change` per sync that changed the student's
arrears, overpayment or state (table ``siswa_history``, written by the sync in the
transaction that stores the new totals; an unchanged sync adds nothing).

A change keeps its date and numbers when its run is pruned (``SYNC_PRUNE_DAYS``):
``run_id`` stays and :attr:`Change.run_kept` says whether the run is still there. The
lines are kept for ``SYNC_HISTORY_DAYS`` (the daily clean-up, ``maintenance.py``), and
when the student is removed from the roster (``siswa_removed``): an import that brings
the student back shows them again.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from ..db import Database
from .records import state_of, to_decimal

__all__ = ["HISTORY_LIMIT", "Change", "History", "read_history"]

#: The most lines a student page shows (the newest); it says so when there are more.
HISTORY_LIMIT = 100


def _amount(value: Any) -> Decimal:
    found = to_decimal(value)
    return Decimal(0) if found is None else found


@dataclass(frozen=True, slots=True)
class Change:
    """One sync's change of a student's totals. ``*_before`` None and ``state_before``
    ``belum_sinkron``: the student had never been synced."""

    id: int
    changed_at: datetime
    run_id: int | None
    #: Whether the run is still kept (pruned runs leave their changes behind).
    run_kept: bool
    tunggakan_before: Decimal | None
    tunggakan_after: Decimal
    kelebihan_before: Decimal | None
    kelebihan_after: Decimal
    state_before: str
    state_after: str

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Change:
        run_id = row["run_id"]
        return cls(
            id=int(row["id"]),
            changed_at=datetime.fromtimestamp(int(row["changed_at"]), UTC),
            run_id=None if run_id is None else int(run_id),
            run_kept=row["run_found"] is not None,
            tunggakan_before=to_decimal(row["tunggakan_before"]),
            tunggakan_after=_amount(row["tunggakan_after"]),
            kelebihan_before=to_decimal(row["kelebihan_before"]),
            kelebihan_after=_amount(row["kelebihan_after"]),
            state_before=state_of(row["lunas_before"]),
            state_after=state_of(row["lunas_after"]),
        )


@dataclass(frozen=True, slots=True)
class History:
    """A student's newest changes (newest first, at most ``limit``); ``more``: older
    ones exist that are not in ``changes``."""

    changes: tuple[Change, ...]
    more: bool
    limit: int

    def oldest_first(self) -> tuple[Change, ...]:
        return tuple(reversed(self.changes))


async def read_history(db: Database, idperson: str, limit: int = HISTORY_LIMIT) -> History:
    """The newest ``limit`` changes of one student (``idperson`` as stored: upper case),
    read from the (idperson, id) index; one more is asked for to know if there are more."""
    limit = max(1, min(limit, 1000))
    rows = await db.fetch_all("siswa_history_of", {"idperson": idperson, "limit": limit + 1})
    changes = tuple(Change.from_row(row) for row in rows[:limit])
    return History(changes, more=len(rows) > limit, limit=limit)
