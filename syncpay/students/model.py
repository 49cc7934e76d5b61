"""``SyncPay.students``: the student list and pages, read through the library object
(the web layer never reaches the database itself)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import date

from ..config import Settings
from ..db import Database
from ..officers import OfficerScope
from ..sync.parsers import Parser, parser_for
from .detail import Detail
from .filters import COUNT_CAP, PER_PAGE, Filters
from .history import HISTORY_LIMIT, History, read_history
from .listing import (
    EXPORT_CHUNK,
    Choices,
    ExportRow,
    Listing,
    export_students,
    filter_choices,
    list_students,
)
from .records import StudentRecord
from .report import Report, read_report

__all__ = ["Students"]


class Students:
    """The students of one database. ``per_page`` and ``count_cap``: the list's page
    size, and where its counting stops; ``export_chunk``: students per read of an export."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.parser: Parser = parser_for(settings)
        self.per_page = PER_PAGE
        self.count_cap = COUNT_CAP
        self.export_chunk = EXPORT_CHUNK
        self.history_limit = HISTORY_LIMIT

    # ``scope``: an officer's scope (``User.sees``); the answers then hold that officer's
    # students only, and a student outside it is not found (None), as an unknown one.

    async def list(self, filters: Filters, *, scope: OfficerScope | None = None) -> Listing:
        """The page ``filters.page`` of the students matching ``filters``."""
        return await list_students(
            self.db, filters, per_page=self.per_page, count_cap=self.count_cap, scope=scope
        )

    async def choices(self, *, scope: OfficerScope | None = None) -> Choices:
        """The units and classes the filter offers."""
        return await filter_choices(self.db, scope)

    def export(
        self, filters: Filters, *, scope: OfficerScope | None = None
    ) -> AsyncIterator[Sequence[ExportRow]]:
        """Every student the list shows for ``filters`` (all its pages, in its order), in
        chunks of at most ``export_chunk``, read from the database as they are consumed."""
        return export_students(self.db, filters, chunk=self.export_chunk, scope=scope)

    async def detail(
        self, idperson: str, *, today: date | None = None, scope: OfficerScope | None = None
    ) -> Detail | None:
        """One student with the payment items by period and the history of their totals,
        or None when there is none (``idperson`` as stored: upper case)."""
        row = await self.db.fetch_one("siswa_detail", {"idperson": idperson})
        if row is None or (scope is not None and not scope.covers(row)):
            return None
        student = StudentRecord.from_row(row)
        history = await self.history(student.idperson)
        return Detail.of(student, self.parser, today or date.today(), history)

    async def history(self, idperson: str, *, scope: OfficerScope | None = None) -> History:
        """The newest changes of one student's totals (newest first, at most
        ``history_limit``), also of a student removed from the roster meanwhile
        (``idperson`` as stored: upper case)."""
        if scope is not None and not await self.exists(idperson, scope=scope):
            return History((), more=False, limit=self.history_limit)  # outside: nothing
        return await read_history(self.db, idperson, self.history_limit)

    async def report(self, unit: str | None = None, *, scope: OfficerScope | None = None) -> Report:
        """The report: counts and stored totals per class, unit and school (or of
        ``unit`` only: an exact name); see ``report.py``."""
        return await read_report(self.db, unit, scope)

    async def exists(self, idperson: str, *, scope: OfficerScope | None = None) -> bool:
        """Whether the roster has this student (``idperson`` as stored: upper case), in
        ``scope`` when given."""
        rows = await self.db.fetch_all("roster_find", {"ids": [idperson]})
        return bool(rows) and (scope is None or scope.covers(rows[0]))
