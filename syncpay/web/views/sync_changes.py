"""The students a run changed (``/admin/sync-pembayaran/runs/{run_id}/changes``): the
view-model of ``sync_changes.html`` and the route's JSON, from the run's change summary
(:class:`~syncpay.sync.records.RunChanges`) and a page of its changed students."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from ...sync.records import CHANGE_COUNTERS, ChangedStudent, Run, RunChanges
from ..format import STATE_BADGE, STATE_LABEL, number, rupiah
from ..i18n import language, text
from .siswa_list import SYNC_PAGE, student_url

__all__ = ["ChangesPage", "changes_context", "changes_json", "changes_url", "summary_words"]

#: Students on one page of the list.
PER_PAGE = 100


def changes_url(run_id: int, page: int = 1) -> str:
    base = f"{SYNC_PAGE}/runs/{run_id}/changes"
    return base if page <= 1 else f"{base}?{urlencode({'page': page})}"


@dataclass(frozen=True, slots=True)
class ChangesPage:
    """What the route read: the run, how many students it changed, one page of them."""

    run: Run
    total: int
    page: int
    students: Sequence[ChangedStudent]

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // PER_PAGE))


def summary_words(request: web.Request, changes: RunChanges | None) -> list[str]:
    """The run's summary in the page's language (the sync page's words), a line each."""
    if changes is None:
        return [text(request, "js.sync.changes.unknown")]
    lang = language(request)
    counts = {name: number(getattr(changes, name), lang) for name in CHANGE_COUNTERS}
    return [
        text(request, "js.sync.changes.summary", **counts),
        text(
            request,
            "js.sync.changes.total",
            before=rupiah(changes.tunggakan_before),
            after=rupiah(changes.tunggakan_after),
        ),
    ]


def _state(lunas: bool | None) -> str:
    if lunas is None:
        return "belum_sinkron"
    return "lunas" if lunas else "belum_lunas"


def _moved(before: Decimal | None, after: Decimal) -> dict[str, Any]:
    return {
        "before": rupiah(before),
        "after": rupiah(after),
        "up": before is not None and after > before,
        "down": before is not None and after < before,
    }


def _row(request: web.Request, student: ChangedStudent) -> dict[str, Any]:
    c = student.change
    states = {}
    for side, lunas in (("before", c.lunas_before), ("after", c.lunas_after)):
        state = _state(lunas)
        states[side] = {"label": text(request, STATE_LABEL[state]), "badge": STATE_BADGE[state]}
    return {
        "idperson": student.idperson,
        "nama": student.nama,
        "url": student_url(student.idperson),
        "tunggakan": _moved(c.tunggakan_before, c.tunggakan_after),
        "kelebihan": _moved(c.kelebihan_before, c.kelebihan_after),
        "state": states,
        "state_changed": c.lunas_before != c.lunas_after,
    }


def changes_context(request: web.Request, data: ChangesPage) -> dict[str, Any]:
    run_id = data.run.id
    return {
        "run": run_id,
        "back": SYNC_PAGE,
        "summary": summary_words(request, data.run.changes),
        "known": data.run.changes is not None,
        "count": number(data.total, language(request)),
        "rows": [_row(request, s) for s in data.students],
        "page": number(data.page, language(request)),
        "pages": number(data.pages, language(request)),
        "paged": data.pages > 1,
        "prev": changes_url(run_id, data.page - 1) if data.page > 1 else None,
        "next": changes_url(run_id, data.page + 1) if data.page < data.pages else None,
    }


def changes_json(data: ChangesPage) -> dict[str, Any]:
    changes = data.run.changes
    return {
        "run_id": data.run.id,
        "changes": None if changes is None else changes.to_json(),
        "total": data.total,
        "page": data.page,
        "per_page": PER_PAGE,
        "students": [s.to_json() for s in data.students],
    }
