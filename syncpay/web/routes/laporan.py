"""The report: ``GET /admin/laporan`` (HTML; JSON with ``Accept: application/json`` or a
bearer token) and ``GET /admin/laporan/export.csv`` (its table as CSV). Any role may
read them. ``?unit=`` shows one unit (an exact name; empty: the whole school); a value
too long or with a control character is a 422 with one line.

The route reads its request, asks the library (``sp.students.report``) and hands the
data to the view (``web/views/laporan.py``); how the sums are read is in
``syncpay/students/report.py``.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ...students.filters import MAX_FIELD
from ..auth import scope_of
from ..errors import ApiError, json_capable, json_ok
from ..export import csv_response, csv_route, read_separator
from ..i18n import text
from ..keys import SYNCPAY
from ..pages import fill, page
from ..requests import text_problem, wants_json
from ..views.laporan import (
    BASE,
    EXPORT,
    report_context,
    report_csv_header,
    report_csv_name,
    report_csv_rows,
    report_json,
)

__all__ = ["MAX_UNIT", "read_unit", "routes"]

routes = web.RouteTableDef()

#: The longest ``?unit=`` (the student list's bound for a filter).
MAX_UNIT = MAX_FIELD


def read_unit(request: web.Request) -> tuple[str | None, str | None]:
    """``?unit=`` (the last one given, spaces around it ignored; empty: the whole
    school) and why it is refused, or None: a control character or more than
    :data:`MAX_UNIT` characters."""
    values = request.query.getall("unit", [])
    raw = values[-1] if values else ""
    refused = text_problem(request, raw, "unit")  # before trimming: a tab or CR is refused
    if refused is not None:
        return None, refused
    unit = raw.strip(" ")
    if len(raw) > MAX_UNIT:
        return None, text(request, "siswa.err.too_long", field="unit", max=MAX_UNIT)
    return unit or None, None


@routes.get(BASE)
@json_capable
async def laporan(request: web.Request) -> web.Response:
    unit, refused = read_unit(request)
    students = request.app[SYNCPAY].students
    if wants_json(request):
        if refused is not None:
            raise ApiError(422, refused)
        body: dict[str, Any] = report_json(await students.report(unit, scope=scope_of(request)))
        return json_ok(**body)
    report = await students.report(unit, scope=scope_of(request))
    choices = await students.choices(scope=scope_of(request))
    errors = [refused] if refused is not None else []
    return page(
        request,
        text(request, "laporan.title"),
        fill(request, "laporan.html", report_context(request, report, choices.units, errors)),
        styles=["laporan.css"],
        status=422 if errors else 200,
    )


@routes.get(EXPORT)
@csv_route
async def laporan_export(request: web.Request) -> web.StreamResponse:
    """The report's table as CSV (``web/export.py``: UTF-8 with a BOM, ``;`` or
    ``?sep=,``), the same lines as the page for the same ``?unit=``."""
    unit, refused = read_unit(request)
    if refused is not None:
        raise ApiError(422, refused)
    read_separator(request)
    report = await request.app[SYNCPAY].students.report(unit, scope=scope_of(request))
    return await csv_response(
        request,
        report_csv_name(unit),
        report_csv_header(request),
        report_csv_rows(request, report),
    )
