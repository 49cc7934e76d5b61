"""The roster import (``siswa:import``): bring the ``siswa`` table in step with a source.

An import is one transaction: it upserts by ``idperson`` (new students are inserted,
changed ones updated, unchanged ones left alone), reports the students that are in the
database but not in the source, and with ``prune`` removes them. A crash half-way
writes nothing. Only the roster columns are written; the sync columns (``pembayaran``,
the totals, ``is_lunas``, ``synced_at``, ``sync_error``) belong to the sync.

Pruning is guarded and can be undone:

- with any invalid row, nothing is removed (a row that could not be read says nothing
  about whether its student left): the valid rows import, ``prune_refused`` says why;
- nothing is removed either when the students to remove are more than ``max_remove``
  percent (10) of those in the table before the import, unless ``force`` (a truncated
  file looks like a roster where most students left);
- a removed student is moved, whole (payment answer and totals too), to
  ``siswa_removed`` (migration 0012); an import that lists the idperson again moves the
  row back before comparing it (``restored``).
"""

from __future__ import annotations

import logging
import operator
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from os import PathLike
from pathlib import Path

from ..db import Database, DatabaseError, Row, Tx
from ..roster_columns import ROSTER_COLUMNS
from ..sync.sources import describe_url
from .read import RosterError, fetch_api, read_csv
from .rows import Student, idperson_named, quoted, validate_row

log = logging.getLogger("syncpay.roster")

__all__ = [
    "CHUNK_SIZE",
    "MAX_REMOVE_PERCENT",
    "ImportReport",
    "import_api",
    "import_csv",
    "import_rows",
]

#: Students per round trip (one lookup and one multi-row upsert each).
CHUNK_SIZE = 500
#: ``prune`` removes at most this percentage of the students without ``force``.
MAX_REMOVE_PERCENT = 10.0


@dataclass
class ImportReport:
    """What an import did. ``invalid``: (line or item number, reason), skipped rows.
    ``missing``: idpersons in the database but not in the source (moved to
    ``siswa_removed`` when ``pruned`` counts them). ``restored``: students of the source
    brought back from ``siswa_removed`` (also counted as updated or unchanged).
    ``prune_refused``: why ``prune`` removed nothing, when it was refused."""

    inserted: int = 0
    updated: int = 0
    unchanged: int = 0
    invalid: list[tuple[int, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    pruned: int = 0
    #: The file or API the rows came from (for the summary).
    source: str = ""
    #: What a position in ``invalid`` counts: ``line`` (CSV) or ``item`` (API).
    unit: str = "line"
    restored: int = 0
    prune_refused: str | None = None

    @property
    def imported(self) -> int:
        """Valid rows: inserted, updated or unchanged."""
        return self.inserted + self.updated + self.unchanged

    def summary(self) -> str:
        """``Imported siswa.csv: 18 inserted, 1 updated, 0 unchanged, 1 invalid, 2 missing
        from the source (kept; use --prune to remove)``."""
        missing = f"{len(self.missing)} missing from the source"
        if self.pruned:
            missing += " (removed)"
        elif self.missing and self.prune_refused:
            missing += " (kept: --prune refused)"
        elif self.missing:
            missing += " (kept; use --prune to remove)"
        where = f" {self.source}" if self.source else ""
        restored = f"; {self.restored} restored (removed earlier)" if self.restored else ""
        return (
            f"Imported{where}: {self.inserted} inserted, {self.updated} updated, "
            f"{self.unchanged} unchanged, {len(self.invalid)} invalid, {missing}{restored}"
        )


@dataclass
class _Checked:
    students: list[Student]
    invalid: list[tuple[int, str]]
    #: Every idperson the source names (upper case), valid rows or not: a student whose
    #: row is bad this time is not "missing" (and never pruned).
    seen: set[str]


def _check(rows: Iterable[tuple[int, Mapping[str, object]]], unit: str) -> _Checked:
    students: list[Student] = []
    invalid: list[tuple[int, str]] = []
    first: dict[str, int] = {}
    today = date.today()
    for number, raw in rows:
        result = validate_row(raw, today=today)
        if isinstance(result, str):
            invalid.append((number, result))
            named = idperson_named(raw)
            if named is not None:  # a bad row's student is not "missing"
                first.setdefault(named, number)
            continue
        seen_on = first.setdefault(result.idperson, number)
        if seen_on != number:
            reason = f"duplicate idperson {quoted(result.idperson)}, first seen on {unit} {seen_on}"
            invalid.append((number, reason))
            continue
        students.append(result)
    return _Checked(students, invalid, set(first))


def _prune_refusal(
    invalid: int, missing: int, before: int, force: bool, max_remove: float
) -> str | None:
    """Why ``prune`` must remove nothing, or None."""
    if invalid:
        rows = "1 row" if invalid == 1 else f"{invalid} rows"
        return (
            f"{rows} could not be read; nothing was removed (fix them, or import without --prune)"
        )
    if not force and missing * 100 > max_remove * before:
        share = missing * 100 / before if before else 100.0
        return (
            f"--prune would remove {missing} of {before} students ({share:.0f}%), more than "
            f"--max-remove {max_remove:g}%; nothing was removed (check the source, or add "
            "--force)"
        )
    return None


def _stored(value: object) -> str | None:
    """A database value as :meth:`Student.as_row` writes it."""
    if value is None:
        return None
    if isinstance(value, date):
        return value.isoformat()[:10]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


_COMPARED = operator.itemgetter(*ROSTER_COLUMNS[1:])


def _differs(old: Row, new: Mapping[str, str | None]) -> bool:
    """Whether any roster column (but idperson) of the stored row differs."""
    if _COMPARED(old) == _COMPARED(new):  # the usual case, at C speed
        return False
    return any(_stored(old.get(column)) != new[column] for column in ROSTER_COLUMNS[1:])


async def import_rows(
    db: Database,
    rows: Iterable[tuple[int, Mapping[str, object]]],
    *,
    prune: bool = False,
    force: bool = False,
    max_remove: float = MAX_REMOVE_PERCENT,
    source: str = "",
    unit: str = "line",
    chunk_size: int = CHUNK_SIZE,
) -> ImportReport:
    """Bring ``siswa`` in step with ``rows`` ((line or item number, raw row) pairs) in
    one transaction; see the module's docstring. Every row is read and checked before
    the transaction starts, so a source that fails half-way (``RosterError``) writes
    nothing either.

    With ``prune``, students not in the source are moved to ``siswa_removed``, unless a
    row was invalid or (without ``force``) they are more than ``max_remove`` percent of
    the students: then nothing is removed and ``prune_refused`` says why. A source that
    names no student at all is refused (``RosterError``) rather than emptying the table.
    """
    checked = _check(rows, unit)
    label = source or "the source"
    if prune and not checked.seen:
        raise RosterError(f"{label} has no students; refusing to remove every student (prune)")
    plan = _Plan(checked, prune, force, max_remove, source, unit, chunk_size)
    report = await db.transact(plan.write)
    if report.inserted or report.updated or report.pruned:
        try:
            await db.fetch_all("roster_analyze")
        except DatabaseError as exc:  # the import is in; only the planner's figures are old
            log.warning("statistics of siswa not refreshed after the import: %s", exc)
    return report


@dataclass(frozen=True)
class _Plan:
    """One import's checked rows and options; :meth:`write` is its transaction."""

    checked: _Checked
    prune: bool
    force: bool
    max_remove: float
    source: str
    unit: str
    chunk_size: int

    async def write(self, tx: Tx) -> ImportReport:
        # Runs again from the start if the transaction is retried: no state outside.
        report = ImportReport(
            invalid=list(self.checked.invalid), source=self.source, unit=self.unit
        )
        any_removed = await _any_removed(tx)
        students = self.checked.students
        for start in range(0, len(students), self.chunk_size):
            chunk = students[start : start + self.chunk_size]
            await _upsert(tx, chunk, report, restore=any_removed)
        stored = [str(row["idperson"]) for row in await tx.fetch_all("roster_idpersons")]
        seen = self.checked.seen
        report.missing = [idperson for idperson in stored if idperson.upper() not in seen]
        if self.prune:
            before = len(stored) - report.inserted - report.restored
            report.prune_refused = _prune_refusal(
                len(self.checked.invalid), len(report.missing), before, self.force, self.max_remove
            )
            if report.prune_refused is None:
                await self._remove(tx, report)
        return report

    async def _remove(self, tx: Tx, report: ImportReport) -> None:
        """Move the missing students to ``siswa_removed``."""
        for start in range(0, len(report.missing), self.chunk_size):
            ids = report.missing[start : start + self.chunk_size]
            await tx.execute("roster_remove_forget", {"ids": ids})
            await tx.execute("roster_remove_keep", {"ids": ids})
            report.pruned += await tx.execute("roster_delete", {"ids": ids})


async def _any_removed(tx: Tx) -> bool:
    """Whether ``siswa_removed`` exists and keeps a student (one an import may restore)."""
    applied = await tx.fetch_all("roster_soft_removal")
    if not (applied and applied[0]["n"]):
        return False
    kept = await tx.fetch_all("roster_removed_count")
    return bool(kept and kept[0]["n"])


async def _upsert(tx: Tx, chunk: list[Student], report: ImportReport, *, restore: bool) -> None:
    """Insert or update one chunk of students, counting each in ``report``."""
    ids = [s.idperson for s in chunk]
    if restore:  # back from an earlier prune, with their payment data
        restored = await tx.execute("roster_restore", {"ids": ids})
        if restored:
            report.restored += restored
            await tx.execute("roster_restore_forget", {"ids": ids})
    found = await tx.fetch_all("roster_find", {"ids": ids})
    existing = {str(row["idperson"]).upper(): row for row in found}
    writes: list[dict[str, str | None]] = []
    for student in chunk:
        new = student.as_row()
        old = existing.get(student.idperson)
        if old is None:
            report.inserted += 1
            writes.append(new)
        elif _differs(old, new):
            report.updated += 1
            writes.append(new)
        else:
            report.unchanged += 1
    if writes:
        await tx.insert_many("roster_upsert", writes)


async def import_csv(
    db: Database,
    path: str | PathLike[str],
    prune: bool = False,
    *,
    force: bool = False,
    max_remove: float = MAX_REMOVE_PERCENT,
) -> ImportReport:
    """Import a roster CSV file (see :func:`read_csv` and :func:`import_rows`)."""
    rows = read_csv(path)
    return await import_rows(
        db,
        rows,
        prune=prune,
        force=force,
        max_remove=max_remove,
        source=Path(path).name,
        unit="line",
    )


async def import_api(
    db: Database,
    url: str,
    prune: bool = False,
    timeout: float = 30,
    *,
    force: bool = False,
    max_remove: float = MAX_REMOVE_PERCENT,
) -> ImportReport:
    """Import the roster from the roster API (see :func:`fetch_api`)."""
    rows = await fetch_api(url, timeout)
    return await import_rows(
        db,
        rows,
        prune=prune,
        force=force,
        max_remove=max_remove,
        source=describe_url(url),
        unit="item",
    )
