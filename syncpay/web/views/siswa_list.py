"""The student list (``/admin/siswa``): its links, its view-model for
``siswa_list.html``, its JSON rows and its CSV export's columns."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from aiohttp import web

from ...students.filters import MAX_Q, SORTS, STATUSES, Filters
from ...students.listing import Choices, ExportRow, Listing
from ...students.records import StudentRow
from ..dates import format_datetime, moment, zone, zone_name
from ..export import Cell, export_filename
from ..format import STATE_BADGE, STATE_LABEL, iso_utc, json_amount, number, rupiah
from ..i18n import language, reason, text

__all__ = [
    "BASE",
    "EXPORT",
    "SYNC_PAGE",
    "export_cells",
    "export_header",
    "export_name",
    "export_url",
    "list_context",
    "list_url",
    "row_json",
    "student_url",
]

BASE = "/admin/siswa"
EXPORT = BASE + "/export.csv"
SYNC_PAGE = "/admin/sync-pembayaran"


def student_url(idperson: object) -> str:
    return f"{BASE}/{quote(str(idperson), safe='')}"


def list_query(filters: Filters, **changes: Any) -> dict[str, str]:
    """The URL parameters of this list (defaults left out), with ``changes``."""
    values: dict[str, Any] = {
        "q": filters.q,
        "unit": filters.unit,
        "kelas": filters.kelas,
        "status": filters.status,
        "sort": filters.sort if filters.sort != "nama" else None,
        "page": filters.page if filters.page != 1 else None,
    } | changes
    return {k: str(v) for k, v in values.items() if v not in (None, "")}


def list_url(filters: Filters, **changes: Any) -> str:
    query = urlencode(list_query(filters, **changes))
    return f"{BASE}?{query}" if query else BASE


def export_url(filters: Filters) -> str:
    """The CSV export of this list: its filters, search and sort, every page."""
    query = urlencode(list_query(filters, page=None))
    return f"{EXPORT}?{query}" if query else EXPORT


def row_json(row: StudentRow) -> dict[str, Any]:
    """One student of the list's JSON answer."""
    return {
        "idperson": row.idperson,
        "nama": row.nama,
        "unit": row.unit,
        "kelas": row.kelas,
        "total_tunggakan": json_amount(row.tunggakan),
        "status": row.state,
        "synced_at": iso_utc(row.synced_at),
        "sync_error": row.sync_error,
        "url": student_url(row.idperson),
    }


@dataclass(frozen=True)
class Option:
    """One ``<option>``; ``units``: the JSON list of a class's units (else "")."""

    value: str
    label: str
    selected: bool = False
    units: str = ""


@dataclass(frozen=True)
class Row:
    """One line of the table, worded."""

    idperson: str
    nama: str
    url: str
    unit: str
    kelas: str
    tunggakan: str
    state: str
    badge: str
    state_label: str
    synced_iso: str
    synced: str
    error: str


def _options(values: list[tuple[str, str, str]], selected: str | None) -> list[Option]:
    """(value, label, units) → options; a selected value no student has (any more)
    stays visible."""
    options = [Option(v, label, v == selected, units) for v, label, units in values]
    if selected and not any(o.selected for o in options):
        options.append(Option(selected, selected, True))
    return options


def _form(request: web.Request, filters: Filters, choices: Choices) -> dict[str, Any]:
    kelas = [(k, k, json.dumps(units)) for k, units in choices.kelas.items()]
    statuses = [(s, text(request, STATE_LABEL[s]), "") for s in STATUSES]
    return {
        "action": BASE,
        "q": filters.q,
        "max_q": MAX_Q,
        "units": _options([(u, u, "") for u in choices.units], filters.unit),
        "kelas": _options(kelas, filters.kelas),
        "statuses": _options(statuses, filters.status),
        "sorts": [Option(s, text(request, f"siswa.sort.{s}"), s == filters.sort) for s in SORTS],
    }


def _rows(request: web.Request, listing: Listing) -> list[Row]:
    labels = {state: text(request, key) for state, key in STATE_LABEL.items()}
    rows = []
    for row in listing.rows:
        rows.append(
            Row(
                idperson=row.idperson,
                nama=row.nama,
                url=student_url(row.idperson),
                unit=row.unit or "—",
                kelas=row.kelas or "—",
                tunggakan=rupiah(row.tunggakan),
                state=row.state,
                badge=STATE_BADGE[row.state],
                state_label=labels[row.state],
                synced_iso=iso_utc(row.synced_at) or "",
                synced=format_datetime(request, row.synced_at),
                error=reason(request, row.sync_error) if row.sync_error else "",
            )
        )
    return rows


def _count(request: web.Request, listing: Listing, filters: Filters) -> dict[str, Any]:
    """What ``#siswa-count`` says: which case, and its numbers worded."""
    lang = language(request)
    past_end = not listing.rows and filters.page > 1 and bool(listing.total or listing.offset)
    return {
        "past_end": past_end,
        "none": not listing.rows and not past_end,
        "first": number(listing.first, lang),
        "last": number(listing.last, lang),
        "total": None if listing.total is None else number(listing.total, lang),
        "more": number(max(listing.count_cap, listing.last), lang),
    }


def _pager(request: web.Request, listing: Listing, filters: Filters) -> dict[str, Any]:
    lang = language(request)
    prev = ""
    if filters.page > 1:
        target = filters.page - 1
        if listing.pages is not None and target > listing.pages:
            target = listing.pages
        prev = list_url(filters, page=target if target > 1 else None)
    return {
        "prev": prev,
        "next": list_url(filters, page=filters.page + 1) if listing.has_next else "",
        "page": number(filters.page, lang),
        "pages": None if listing.pages is None else number(listing.pages, lang),
    }


# --- the CSV export ---------------------------------------------------------------------

#: The export's columns: their headers' catalogue keys.
EXPORT_COLUMNS = (
    "siswa.col.idperson",
    "siswa.col.nama",
    "siswa.col.unit",
    "siswa.col.kelas",
    "siswa.col.status",
    "siswa.total.tunggakan",
    "siswa.total.kelebihan",
    "siswa.total.tagihan",
    "siswa.total.dibayar",
    "siswa.export.synced",
)


def export_header(request: web.Request) -> list[str]:
    """The headers in the page's language (the last sync's names the times' zone)."""
    return [text(request, key, zone=zone_name()) for key in EXPORT_COLUMNS]


def export_name(filters: Filters, now: datetime | None = None) -> str:
    """``siswa-2026-12-06-SMP-VII_A.csv``: today in the pages' zone, then the filters."""
    day = (now or datetime.now(zone())).astimezone(zone()).date()
    parts = [filters.unit, filters.kelas, filters.status, filters.q]
    return export_filename("siswa", parts, day=day)


def _instant(value: datetime | None) -> str | None:
    """``2026-12-06 14:05:09`` in the pages' zone: a text every spreadsheet reads."""
    found = moment(value)
    return None if found is None else found.astimezone(zone()).strftime("%Y-%m-%d %H:%M:%S")


async def export_cells(
    request: web.Request, chunks: AsyncIterator[Sequence[ExportRow]]
) -> AsyncIterator[Sequence[Cell]]:
    """The export's rows: text as stored, the state in the page's language, the amounts
    as numbers (empty for a student never synced)."""
    labels = {state: text(request, key) for state, key in STATE_LABEL.items()}
    async for chunk in chunks:
        for row in chunk:
            yield (
                row.idperson,
                row.nama,
                row.unit,
                row.kelas,
                labels[row.state],
                row.tunggakan,
                row.kelebihan,
                row.tagihan,
                row.dibayar,
                _instant(row.synced_at),
            )


def list_context(
    request: web.Request, filters: Filters, listing: Listing, choices: Choices
) -> dict[str, Any]:
    """The view-model of ``siswa_list.html``."""
    return {
        "sync_page": SYNC_PAGE,
        "export_url": export_url(filters),
        "errors": list(filters.errors),
        "form": _form(request, filters, choices),
        "count": _count(request, listing, filters),
        "rows": _rows(request, listing),
        "pager": _pager(request, listing, filters),
    }
