"""The student pages: ``/admin/siswa`` (search, filters, sorting, pages), its CSV
export ``/admin/siswa/export.csv`` and ``/admin/siswa/{idperson}`` (payments by period,
totals, "Sinkron sekarang").

Both answer JSON to a client that asks for it (``Accept: application/json``). A route
reads its request (the list's query becomes :class:`~syncpay.students.filters.Filters`),
asks the library (``SyncPay.students``) and hands the data to a view
(``web/views/siswa_list.py``, ``siswa_detail.py``); how the list is read is in
``syncpay/students/listing.py``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ...students.filters import (
    IDPERSON,
    MAX_FIELD,
    MAX_PAGE,
    MAX_Q,
    SORTS,
    STATUSES,
    Filters,
)
from ...sync.errors import SyncError
from ...text import UNSAFE
from ..auth import current_user, scope_of
from ..errors import ApiError, json_capable, json_ok, json_route
from ..export import csv_response, csv_route
from ..format import number
from ..i18n import language, text
from ..keys import SYNCPAY
from ..live import HUB
from ..pages import fill, page
from ..requests import text_problem, wants_json
from ..views.siswa_detail import detail_context, detail_json
from ..views.siswa_list import (
    BASE,
    EXPORT,
    export_cells,
    export_header,
    export_name,
    list_context,
    row_json,
    student_url,
)

routes = web.RouteTableDef()


# --- the list's request -------------------------------------------------------------------


def read_filters(request: web.Request) -> Filters:
    """The list's parameters from the URL; each bad one is dropped with a message."""
    errors: list[str] = []
    q = " ".join(UNSAFE.sub(" ", _one(request, "q", errors)).split())
    if len(q) > MAX_Q:
        errors.append(text(request, "siswa.err.q_too_long", max=MAX_Q))
        q = ""
    fields: dict[str, str | None] = {}
    for name in ("unit", "kelas"):
        value = _one(request, name, errors)
        if len(value) > MAX_FIELD:
            errors.append(text(request, "siswa.err.too_long", field=name, max=MAX_FIELD))
            value = ""
        fields[name] = value or None
    status: str | None = _one(request, "status", errors) or None
    if status is not None and status not in STATUSES:
        errors.append(text(request, "siswa.err.status", values=", ".join(STATUSES)))
        status = None
    sort = _one(request, "sort", errors) or "nama"
    if sort not in SORTS:
        errors.append(text(request, "siswa.err.sort", values=", ".join(SORTS)))
        sort = "nama"
    return Filters(
        q=q,
        unit=fields["unit"],
        kelas=fields["kelas"],
        status=status,
        sort=sort,
        page=_page(request, errors),
        errors=tuple(errors),
    )


def _one(request: web.Request, name: str, errors: list[str]) -> str:
    """The last value of a URL parameter, trimmed. A control character in a filter (an
    exact value) is refused; in the search box it is only a gap between words."""
    values = request.query.getall(name, [])
    value = values[-1].strip() if values else ""
    refused = text_problem(request, value, name) if name != "q" else None
    if refused is not None:
        errors.append(refused)
        return ""
    return value


def _page(request: web.Request, errors: list[str]) -> int:
    page_text = _one(request, "page", errors) or "1"
    page_number = 0
    if page_text.isascii() and page_text.isdigit() and len(page_text) <= 7:
        page_number = int(page_text)
    if not 1 <= page_number <= MAX_PAGE:
        errors.append(text(request, "siswa.err.page", max=number(MAX_PAGE, language(request))))
        page_number = 1
    return page_number


def _idperson(request: web.Request) -> str:
    raw = request.match_info["idperson"]
    if not IDPERSON.fullmatch(raw):
        raise ApiError(404, text(request, "siswa.err.not_found"))
    return raw.upper()


# --- GET /admin/siswa -----------------------------------------------------------------------


@routes.get(BASE)
@json_capable
async def siswa_list(request: web.Request) -> web.Response:
    filters = read_filters(request)
    students = request.app[SYNCPAY].students
    if wants_json(request):
        if filters.errors:
            raise ApiError(422, filters.errors[0])
        listing = await students.list(filters, scope=scope_of(request))
        body: dict[str, Any] = {
            "data": [row_json(row) for row in listing.rows],
            "page": filters.page,
            "per_page": listing.per_page,
            "has_next": listing.has_next,
        }
        if listing.total is not None:
            body["total"] = listing.total
        return json_ok(**body)
    listing = await students.list(filters, scope=scope_of(request))
    choices = await students.choices(scope=scope_of(request))
    return page(
        request,
        text(request, "siswa.title"),
        fill(request, "siswa_list.html", list_context(request, filters, listing, choices)),
        scripts=["siswa.js"],
        styles=["siswa.css"],
        status=422 if filters.errors else 200,
    )


# --- GET /admin/siswa/export.csv (before {idperson}, which would take its name) --------------


@routes.get(EXPORT)
@csv_route
async def siswa_export(request: web.Request) -> web.StreamResponse:
    """Every student the list shows for the same filters, search and sort (all pages),
    streamed as CSV (``web/export.py``; ``?sep=,`` for commas). A refused filter or
    separator is a 422 with one line, as on the list's JSON."""
    filters = read_filters(request)
    if filters.errors:
        raise ApiError(422, filters.errors[0])
    students = request.app[SYNCPAY].students
    rows = export_cells(request, students.export(filters, scope=scope_of(request)))
    return await csv_response(request, export_name(filters), export_header(request), rows)


# --- GET /admin/siswa/{idperson} ------------------------------------------------------------


@routes.get(BASE + "/{idperson}")
@json_capable
async def siswa_detail(request: web.Request) -> web.Response:
    sp = request.app[SYNCPAY]
    # A student outside a scoped officer's scope is not found, exactly as an unknown one.
    detail = await sp.students.detail(_idperson(request), scope=scope_of(request))
    if detail is None:
        raise ApiError(404, text(request, "siswa.err.not_found"))
    if wants_json(request):
        data = detail_json(request, detail)
        run = await _run(request)
        if run is not None:
            data["run"] = run
        return json_ok(data=data)
    student = detail.student
    return page(
        request,
        student.nama,
        fill(request, "siswa_detail.html", detail_context(request, detail)),
        scripts=["siswa.js"],
        styles=["siswa.css"],
        data={"siswa": {"idperson": student.idperson, "url": student_url(student.idperson)}},
    )


async def _run(request: web.Request) -> dict[str, Any] | None:
    """For a script watching its "sync now": the state of the run ``?run_id=`` names
    (the last one counts when a name is repeated, as on the list and the sync routes)."""
    run_ids = request.query.getall("run_id", [])
    run_id = run_ids[-1] if run_ids else ""
    if not run_id:
        return None
    if not (run_id.isascii() and run_id.isdigit() and len(run_id) <= 15):
        raise ApiError(422, text(request, "siswa.err.run_id"))
    progress = await request.app[SYNCPAY].progress(int(run_id))
    return {
        "run_id": progress.run_id,
        "status": progress.status,
        "total": progress.total,
        "processed": progress.processed,
        "failed": progress.failed,
    }


# --- POST /admin/siswa/{idperson}/sync ------------------------------------------------------


@routes.post(BASE + "/{idperson}/sync")
@json_route
async def sync_now(request: web.Request) -> web.Response:
    user = current_user(request)
    idperson = _idperson(request)
    sp = request.app[SYNCPAY]
    if not await sp.students.exists(idperson, scope=scope_of(request)):
        raise ApiError(404, text(request, "siswa.err.not_found"))
    try:
        run = await sp.start(idpersons=[idperson], started_by=user.name)
    except SyncError as exc:
        raise ApiError(exc.status, text(request, exc.key, **exc.values)) from None
    request.app[HUB].nudge()
    return json_ok(text(request, "siswa.sync.started"), run_id=run.id)
