"""The OpenAPI document's paths: one operation per route, with its parameters, its body
and its answers; :func:`document` puts them together with the schemas."""

from __future__ import annotations

from typing import Any

from ... import __version__
from ...students.filters import (
    MAX_FIELD,
    MAX_PAGE,
    MAX_Q,
    MAX_WORDS,
    PER_PAGE,
    SORTS,
)
from ..export import SEPARATORS
from ..routes.sync_input import (
    MAX_FAILED,
    MAX_NUMBER,
    MAX_RUNS,
    PAGE_FAILED,
    PAGE_RUNS,
)
from ..routes.sync_page import MAX_CHANGES_PAGE
from ..views.sync_changes import PER_PAGE as CHANGES_PER_PAGE
from .parts import (
    ID,
    IDPERSON_PATH,
    OK,
    PRINTABLE,
    RUN_BODY,
    RUN_ID,
    STATE,
    SYNC,
    json_content,
    operation,
    query_param,
)
from .schemas import SCHEMAS
from .users import USER_PATHS, USER_SCHEMAS

_DATA = {"$ref": "#/components/schemas/Data"}

#: The student pages answer JSON to a bearer token or ``Accept: application/json``.
_NEGOTIATES = (
    "JSON for a bearer token or `Accept: application/json`; a browser gets the HTML page "
    "(and, without a session, a redirect to /login)."
)
#: ``?run_id=`` on a student: up to 15 digits (422 past that; an unknown run is 404).
MAX_DETAIL_RUN = 10**15 - 1
_TRIMMED = (
    f"spaces around it are ignored (at most {MAX_FIELD} characters after that); empty: not given"
)
_STUDENT_QUERY = [
    query_param(
        "q",
        {"type": "string", "maxLength": MAX_Q},
        f"search, any case: each word (the {MAX_WORDS} longest count; words are cut at "
        "spaces, '-', '.' and ',') starts a word of the name or the idperson; runs of "
        f"spaces count as one (at most {MAX_Q} characters after that)",
    ),
    query_param(
        "unit",
        {"type": "string", "maxLength": MAX_FIELD, "pattern": f"^{PRINTABLE}$"},
        f"only this unit; {_TRIMMED}",
    ),
    query_param(
        "kelas",
        {"type": "string", "maxLength": MAX_FIELD, "pattern": f"^{PRINTABLE}$"},
        f"only this class; {_TRIMMED}",
    ),
    query_param("status", STATE, "payment state: Lunas, Belum Lunas, Belum Sinkron"),
    query_param(
        "sort",
        {"type": "string", "enum": list(SORTS), "default": SORTS[0]},
        "by name, by arrears (descending or ascending), or most recently synced first",
    ),
    query_param(
        "page",
        {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1},
        f"{PER_PAGE} students a page",
    ),
]


def _csv(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/csv": {"schema": {"type": "string"}}}}


#: ``?sep=`` of a CSV export (``web/export.py``).
_SEP = query_param(
    "sep",
    {"type": "string", "enum": list(SEPARATORS), "default": SEPARATORS[0]},
    "the column separator: ';' (what Excel in an Indonesian locale opens) or ','",
)


def document() -> dict[str, Any]:
    paths: dict[str, Any] = {
        "/healthz": {
            "get": {
                "summary": "Liveness and database reachability (no login)",
                "security": [],
                "responses": {
                    "200": json_content({"$ref": "#/components/schemas/Health"}, "healthy"),
                    "503": json_content({"$ref": "#/components/schemas/Health"}, "database down"),
                },
            }
        },
        f"{SYNC}/start": {
            "post": operation(
                "Start a sync run (admin: all students unless a scope is given; a scoped"
                " petugas: their own students, or a unit, class or list inside their scope,"
                " 403 outside it, 404 for one idperson outside it)",
                json_content(OK, "started"),
                (400, 401, 403, 404, 409, 419, 422),
                body={"$ref": "#/components/schemas/Scope"},
            )
        },
        f"{SYNC}/cancel": {
            "post": operation(
                "Cancel a running run (admin; a scoped petugas: only a run they started,"
                " 403 for another's)",
                json_content(OK, "cancelled"),
                (401, 403, 404, 409, 419, 422),
                body=RUN_BODY,
            )
        },
        f"{SYNC}/reset": {
            "post": operation(
                "Back to idle after a run ended (admin)",
                json_content(OK, "reset"),
                (401, 403, 409, 419),
            )
        },
        f"{SYNC}/progress": {
            "get": operation(
                "The progress object of the latest run (or ?run_id=; a scoped petugas: of"
                " their own runs only, another's is 404)",
                json_content({"$ref": "#/components/schemas/Progress"}, "progress"),
                (401, 404, 422),
                parameters=[
                    RUN_ID,
                    query_param(
                        "after_log",
                        {"type": "integer", "minimum": 0, "maximum": MAX_NUMBER},
                        "only log lines newer than this id",
                    ),
                ],
            )
        },
        f"{SYNC}/failed": {
            "get": operation(
                "The failed students of a run",
                json_content(_DATA, "failed students"),
                (401, 404, 422),
                parameters=[
                    RUN_ID,
                    query_param(
                        "limit",
                        {"type": "integer", "minimum": 1, "maximum": MAX_FAILED},
                        f"how many (default {PAGE_FAILED})",
                    ),
                    query_param(
                        "offset",
                        {"type": "integer", "minimum": 0, "maximum": MAX_NUMBER},
                        "skip this many",
                    ),
                ],
            )
        },
        f"{SYNC}/retry-failed": {
            "post": operation(
                "A new run over exactly the failed students of a run (admin; a scoped"
                " petugas: of a run they started)",
                json_content(OK, "started"),
                (400, 401, 403, 404, 409, 419, 422),
                body=RUN_BODY,
            )
        },
        f"{SYNC}/runs": {
            "get": operation(
                "Recent runs with their counts and durations",
                json_content(_DATA, "runs"),
                (401, 422),
                parameters=[
                    query_param(
                        "limit",
                        {"type": "integer", "minimum": 1, "maximum": MAX_RUNS},
                        f"how many (default {PAGE_RUNS})",
                    )
                ],
            )
        },
        f"{SYNC}/runs/{{run_id}}/changes": {
            "get": operation(
                f"The students a run changed, before and after, {CHANGES_PER_PAGE} a page",
                json_content(_DATA, "the run's change summary and a page of its changed students"),
                (401, 404, 422),
                parameters=[
                    {"name": "run_id", "in": "path", "required": True, "schema": ID},
                    query_param(
                        "page",
                        {"type": "integer", "minimum": 1, "maximum": MAX_CHANGES_PAGE},
                        "the page (default 1)",
                    ),
                ],
                description=_NEGOTIATES,
            )
        },
        f"{SYNC}/scopes": {
            "get": operation(
                "The units and classes that exist", json_content(_DATA, "scopes"), (401,)
            )
        },
        "/admin/siswa": {
            "get": operation(
                f"Students: search, filters, sorting, {PER_PAGE} a page",
                json_content({"$ref": "#/components/schemas/StudentList"}, "a page of students"),
                (401, 422),
                parameters=_STUDENT_QUERY,
                description=_NEGOTIATES,
            )
        },
        "/admin/siswa/export.csv": {
            "get": operation(
                "Students as CSV: the list's filters, search and sort, every page",
                _csv(
                    "UTF-8 with a BOM, RFC 4180; idperson, name, unit, class, state, "
                    "arrears, overpayment, billed, paid (plain numbers, '.' for cents), "
                    "last sync; streamed"
                ),
                (401, 422),
                parameters=[*_STUDENT_QUERY[:-1], _SEP],
            )
        },
        "/admin/laporan": {
            "get": operation(
                "The report: counts and summed totals per school, unit and class",
                json_content({"$ref": "#/components/schemas/Report"}, "the report"),
                (401, 422),
                parameters=[_STUDENT_QUERY[1]],
                description=_NEGOTIATES,
            )
        },
        "/admin/laporan/export.csv": {
            "get": operation(
                "The report's table as CSV (the page's lines: each unit, its classes, the total)",
                _csv(
                    "UTF-8 with a BOM, RFC 4180; level, unit, class, students, lunas, belum "
                    "lunas, belum sinkron, paid-up rate (percent), arrears, overpayment, "
                    "billed, paid (plain numbers), oldest and newest sync"
                ),
                (401, 422),
                parameters=[_STUDENT_QUERY[1], _SEP],
            )
        },
        "/admin/siswa/{idperson}": {
            "get": operation(
                "One student: totals, payment items by period, last sync",
                json_content({"$ref": "#/components/schemas/StudentDetail"}, "the student"),
                (401, 404, 422),
                parameters=[
                    IDPERSON_PATH,
                    query_param(
                        "run_id",
                        {"type": "integer", "minimum": 0, "maximum": MAX_DETAIL_RUN},
                        "also report this run (a script watching its sync now); "
                        "a run that does not exist: 404",
                    ),
                ],
                description=_NEGOTIATES,
            )
        },
        "/admin/siswa/{idperson}/sync": {
            "post": operation(
                "Sync one student now",
                json_content(OK, "started"),
                (401, 404, 409, 419),
                parameters=[IDPERSON_PATH],
            )
        },
        **USER_PATHS,
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "syncpay",
            "version": __version__,
            "description": (
                "The JSON API of syncpay. Scripts send `Authorization: Bearer <token>` "
                "(from `syncpay token:create`); browser sessions send the CSRF token in "
                "`X-CSRF-TOKEN` on every POST. Live progress also comes over the "
                "WebSocket `GET /admin/sync-pembayaran/ws` (not described here)."
            ),
        },
        "components": {
            "schemas": SCHEMAS | USER_SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "syncpay_session"},
            },
        },
        "security": [{"bearer": []}, {"session": []}],
        "paths": paths,
    }
