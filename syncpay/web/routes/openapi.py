"""The JSON API as an OpenAPI 3.0 document (``GET /openapi.json``), for scripts and for
clients nobody here wrote. A test keeps it in step with the routes."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ... import __version__
from ...students.filters import (
    COUNT_CAP,
    MAX_FIELD,
    MAX_PAGE,
    MAX_Q,
    MAX_WORDS,
    PER_PAGE,
    SORTS,
    STATUSES,
)
from ...students.history import HISTORY_LIMIT
from ...sync.progress import SPEC_PROGRESS_FIELDS
from ...sync.records import CHANGE_COUNTERS
from ..auth import public
from ..export import SEPARATORS
from ..views.sync_changes import PER_PAGE as CHANGES_PER_PAGE
from .sync_input import (
    MAX_FAILED,
    MAX_IDPERSON,
    MAX_IDS,
    MAX_NUMBER,
    MAX_RUNS,
    MAX_UNIT,
    PAGE_FAILED,
    PAGE_RUNS,
)
from .sync_page import MAX_CHANGES_PAGE

routes = web.RouteTableDef()

SYNC = "/admin/sync-pembayaran"

_ERROR = {"$ref": "#/components/schemas/Error"}
_OK = {"$ref": "#/components/schemas/Ok"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    text = {
        400: "refused: nothing to do (no students in the scope)",
        401: "no session and no valid bearer token",
        403: "the user's role may not do this",
        404: "unknown run or student",
        409: "conflicts with the current state (a run is active, or none is)",
        419: "CSRF token missing or wrong (session clients only)",
        422: "a value in the request is not valid",
    }
    return {str(code): _json(_ERROR, text[code]) for code in codes}


def _operation(
    summary: str,
    ok: dict[str, Any],
    errors: tuple[int, ...],
    *,
    parameters: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
    secured: bool = True,
    description: str | None = None,
) -> dict[str, Any]:
    operation: dict[str, Any] = {"summary": summary, "responses": {"200": ok, **_errors(*errors)}}
    if description is not None:
        operation["description"] = description
    if parameters:
        operation["parameters"] = parameters
    if body is not None:
        operation["requestBody"] = {
            "required": False,
            "content": {"application/json": {"schema": body}},
        }
    if not secured:
        operation["security"] = []
    return operation


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        # `?limit=` (empty) is taken as not given, as an HTML form sends it.
        "allowEmptyValue": True,
        "schema": schema,
        "description": description,
    }


#: A run id, a log id, a cursor: whole numbers the routes accept up to MAX_NUMBER.
_ID = {"type": "integer", "minimum": 1, "maximum": MAX_NUMBER}
_RUN_ID = _query("run_id", _ID, "a run (default: the latest)")
#: Text a request may carry: no control character (C0, DEL, C1: a 422 names the field).
_PRINTABLE = "[^\\x00-\\x1f\\x7f-\\x9f]*"
#: A scope's unit or class: not blank, at most MAX_UNIT characters, no control
#: character; null = not given.
_NAME = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_UNIT,
    "pattern": f"^{_PRINTABLE}[^\\s\\x00-\\x1f\\x7f-\\x9f]{_PRINTABLE}$",
    "nullable": True,
}
_IDPERSON = {"type": "string", "pattern": f"^[A-Za-z0-9]{{1,{MAX_IDPERSON}}}$"}
#: A student in a path: another shape is no student (404), as an unknown one.
_IDPERSON_PATH = {"name": "idperson", "in": "path", "required": True, "schema": _IDPERSON}
_RUN_BODY = {"type": "object", "properties": {"run_id": {**_ID, "nullable": True}}}
_INT = {"type": "integer"}
_STR = {"type": "string"}
_NSTR = {"type": "string", "nullable": True}
_NINT = {"type": "integer", "nullable": True}
#: Rupiah, exact: a whole amount is an integer, one with cents a number.
_AMOUNT = {"type": "number"}
_NAMOUNT = {"type": "number", "nullable": True}
_MOMENT = {"type": "string", "format": "date-time", "nullable": True}
#: A student's payment state, from ``is_lunas`` (NULL: never synced).
_STATE = {"type": "string", "enum": list(STATUSES)}
_RUN_STATUS = {"type": "string", "enum": ["idle", "running", "completed", "cancelled"]}
#: What a run changed (issue #14); null for a run from before the feature.
_CHANGES = {
    "type": "object",
    "nullable": True,
    "description": "what the run changed so far: students that became Lunas / Belum Lunas,"
    " were synced for the first time, whose arrears rose / fell, and the sum of its synced"
    " students' arrears before and after (null: a run from before this was recorded)",
    "required": [*CHANGE_COUNTERS, "tunggakan_before", "tunggakan_after"],
    "properties": {
        **{name: {"type": "integer", "minimum": 0} for name in CHANGE_COUNTERS},
        "tunggakan_before": _AMOUNT,
        "tunggakan_after": _AMOUNT,
    },
}
_COUNT = {"type": "integer", "minimum": 0}


def _object(properties: dict[str, Any], *optional: str, **extra: Any) -> dict[str, Any]:
    """A closed object: every property required unless named in ``optional``."""
    return {
        "type": "object",
        "required": [name for name in properties if name not in optional],
        "properties": properties,
        "additionalProperties": False,
        **extra,
    }


def _totals(amount: dict[str, Any], description: str) -> dict[str, Any]:
    keys = ("tagihan", "dibayar", "tunggakan", "kelebihan")
    return _object({key: amount for key in keys}, description=description)


SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["status", "message"],
        "properties": {"status": {"type": "boolean", "enum": [False]}, "message": _STR},
    },
    "Ok": {
        "type": "object",
        "required": ["status"],
        "properties": {
            "status": {"type": "boolean", "enum": [True]},
            "message": _STR,
            "run_id": _NINT,
        },
    },
    "Scope": {
        "type": "object",
        "description": "No field: every student. A list of students excludes unit and class.",
        "properties": {
            "unit": _NAME,
            "kelas": _NAME,
            "idperson": {
                "nullable": True,
                "oneOf": [
                    _IDPERSON,
                    {"type": "array", "items": _IDPERSON, "minItems": 1, "maxItems": MAX_IDS},
                ],
            },
        },
        # Students, or a unit / class: not both (null counts as not given).
        "not": {
            "anyOf": [
                {
                    "required": ["idperson", other],
                    "properties": {
                        "idperson": {"anyOf": [_STR, {"type": "array"}]},
                        other: _STR,
                    },
                }
                for other in ("unit", "kelas")
            ]
        },
    },
    "LogLine": {
        "type": "object",
        "required": ["id", "at", "level", "message", "key", "values"],
        "properties": {
            "id": _INT,
            "at": _NSTR,
            "level": _STR,
            "message": {**_STR, "description": "the line in Indonesian"},
            "key": {
                **_NSTR,
                "description": "the line's template: the message catalogue's js.log.<key>"
                " (filled with values, in the page's language); null for a line written"
                " before keys were stored, which is shown as its message",
            },
            "values": {
                "type": "object",
                "nullable": True,
                "additionalProperties": True,
                "description": "the values of the template's {placeholders} (a student's"
                " name, an error, counts …); null when key is null",
            },
        },
    },
    "Progress": {
        "type": "object",
        "required": list(SPEC_PROGRESS_FIELDS),
        "properties": {
            "total": _INT,
            "processed": _INT,
            "failed": _INT,
            "successCount": _INT,
            "unchanged": _INT,
            "percent": {"type": "number", "minimum": 0, "maximum": 100},
            "isRunning": {"type": "boolean"},
            "status": _RUN_STATUS,
            "run_id": _NINT,
            "scope": _NSTR,
            "scope_detail": {
                "type": "object",
                "nullable": True,
                "description": "the run's scope, for a page to word in its language",
                "properties": {
                    "kind": {"type": "string", "enum": ["all", "unit", "kelas", "one", "list"]},
                    "unit": _NSTR,
                    "kelas": _NSTR,
                    "idperson": _NSTR,
                    "students": _NINT,
                },
            },
            "started_at": _NSTR,
            "finished_at": _NSTR,
            "started_by": _NSTR,
            "elapsed_seconds": _NINT,
            "eta_seconds": _NINT,
            "rate_per_second": {"type": "number"},
            "waiting_for_worker": {
                "type": "boolean",
                "description": "the run is running but no worker pool (server or `syncpay"
                " work`, on any machine) has served its queue for a few seconds: nothing"
                " works it until one starts",
            },
            "retry_waiting": {
                **_INT,
                "description": "the run's students waiting out a backoff (or a Retry-After)"
                " before their next try (looked up while eta_seconds is null or under 300;"
                " 0 otherwise)",
            },
            "next_retry_seconds": {
                **_NINT,
                "description": "seconds until the first of them is due (null: none"
                " waits); the run cannot end sooner, whatever eta_seconds says",
            },
            "logs": {"type": "array", "items": {"$ref": "#/components/schemas/LogLine"}},
            "changes": _CHANGES,
        },
    },
    "Health": {
        "type": "object",
        "required": ["status", "database", "workers"],
        "properties": {"status": _STR, "database": _STR, "workers": {"type": "object"}},
    },
    "Data": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"type": "boolean", "enum": [True]}},
        "additionalProperties": True,
    },
    "StudentRow": _object(
        {
            "idperson": _STR,
            "nama": _STR,
            "unit": _NSTR,
            "kelas": _NSTR,
            "total_tunggakan": {**_NAMOUNT, "description": "arrears; null: never synced"},
            "status": _STATE,
            "synced_at": {**_MOMENT, "description": "last sync (UTC); null: never"},
            "sync_error": {**_NSTR, "description": "why the last sync failed; null: it did not"},
            "url": {**_STR, "description": "the student's path on this server"},
        }
    ),
    "StudentList": _object(
        {
            "status": {"type": "boolean", "enum": [True]},
            "data": {
                "type": "array",
                "items": {"$ref": "#/components/schemas/StudentRow"},
                "maxItems": PER_PAGE,
            },
            "page": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE},
            "per_page": {"type": "integer", "enum": [PER_PAGE]},
            "has_next": {"type": "boolean"},
            "total": {
                "type": "integer",
                "minimum": 0,
                "description": (
                    f"students matching; absent when more than {COUNT_CAP} match "
                    "(counting stops there) and this is not the last page"
                ),
            },
        },
        "total",
    ),
    "PaymentItem": _object(
        {
            "title": _STR,
            "category": {**_STR, "description": "empty when the source names none"},
            "due": {"type": "string", "format": "date", "nullable": True},
            "is_due": {
                "type": "boolean",
                "description": "counts in the totals today (due today or earlier, or no date)",
            },
            "tagihan": {**_AMOUNT, "description": "the bill"},
            "dibayar": {**_AMOUNT, "description": "paid"},
        }
    ),
    "PaymentGroup": _object(
        {
            "period": {**_STR, "description": "the source's period, e.g. 20242025; may be empty"},
            "label": _STR,
            "totals": _totals(_AMOUNT, "over the period's items already due"),
            "not_due": {"type": "integer", "minimum": 0, "description": "items not due yet"},
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/PaymentItem"}},
        }
    ),
    "StudentDetail": _object(
        {
            "status": {"type": "boolean", "enum": [True]},
            "data": _object(
                {
                    "idperson": _STR,
                    "nama": _STR,
                    "gender": {"type": "string", "enum": ["L", "P"], "nullable": True},
                    "unit": _NSTR,
                    "kelas": _NSTR,
                    "asrama": _NSTR,
                    "kamar": _NSTR,
                    "tingkat_diniyah": _NSTR,
                    "kelas_diniyah": _NSTR,
                    "status": _STATE,
                    "synced_at": {**_MOMENT, "description": "last sync (UTC); null: never"},
                    "sync_error": _NSTR,
                    "totals": _totals(_NAMOUNT, "as stored by the last sync; null: never synced"),
                    "parse_error": {
                        **_NSTR,
                        "description": "why the stored answer could not be read (then no groups)",
                    },
                    "groups": {
                        "type": "array",
                        "description": "payment items by period, newest period first",
                        "items": {"$ref": "#/components/schemas/PaymentGroup"},
                    },
                    "history": {
                        "type": "array",
                        "description": "each sync that changed the totals or state, newest first",
                        "maxItems": HISTORY_LIMIT,
                        "items": _object(
                            {
                                "changed_at": {"type": "string", "format": "date-time"},
                                "run_id": {"type": "integer", "nullable": True},
                                "run_kept": {
                                    "type": "boolean",
                                    "description": "false: the run has been pruned since",
                                },
                                "tunggakan_before": _NAMOUNT,
                                "tunggakan_after": _AMOUNT,
                                "kelebihan_before": _NAMOUNT,
                                "kelebihan_after": _AMOUNT,
                                "status_before": _STATE,
                                "status_after": _STATE,
                            },
                            description="*_before null: never synced before",
                        ),
                    },
                    "history_more": {
                        "type": "boolean",
                        "description": "older history lines exist that are not listed",
                    },
                    "run": _object(
                        {
                            "run_id": {"type": "integer", "minimum": 1},
                            "status": {
                                "type": "string",
                                "enum": ["running", "completed", "cancelled"],
                            },
                            "total": _COUNT,
                            "processed": _COUNT,
                            "failed": _COUNT,
                        },
                        description="only with ?run_id=: that run's state",
                    ),
                },
                "run",
            ),
        }
    ),
}

#: The report (``/admin/laporan``): a group is a class, a unit or the total.
_REPORT_GROUP = {
    "unit": {**_NSTR, "description": "null: the total of the whole school, or no unit"},
    "kelas": {**_NSTR, "description": "a class; null for a unit or a total"},
    "students": _COUNT,
    **{state: _COUNT for state in STATUSES},
    "lunas_rate": {
        "type": "number",
        "minimum": 0,
        "maximum": 1,
        "nullable": True,
        "description": "lunas / (lunas + belum_lunas); null: none of them synced",
    },
    **{
        f"total_{name}": {**_NAMOUNT, "description": "summed; null: none of them synced"}
        for name in ("tagihan", "dibayar", "tunggakan", "kelebihan")
    },
    "synced_oldest": {**_MOMENT, "description": "the group's oldest last sync (UTC)"},
    "synced_newest": {**_MOMENT, "description": "the group's newest last sync (UTC)"},
}
SCHEMAS["ReportGroup"] = _object(
    _REPORT_GROUP, description="counts and the sums of the totals stored by the last syncs"
)
SCHEMAS["Report"] = _object(
    {
        "status": {"type": "boolean", "enum": [True]},
        "unit": {**_NSTR, "description": "the unit asked for (?unit=); null: the whole school"},
        "total": {"$ref": "#/components/schemas/ReportGroup"},
        "units": {
            "type": "array",
            "items": _object(
                {
                    **_REPORT_GROUP,
                    "classes": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/ReportGroup"},
                    },
                }
            ),
        },
    }
)

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
    _query(
        "q",
        {"type": "string", "maxLength": MAX_Q},
        f"search, any case: each word (the {MAX_WORDS} longest count; words are cut at "
        "spaces, '-', '.' and ',') starts a word of the name or the idperson; runs of "
        f"spaces count as one (at most {MAX_Q} characters after that)",
    ),
    _query(
        "unit",
        {"type": "string", "maxLength": MAX_FIELD, "pattern": f"^{_PRINTABLE}$"},
        f"only this unit; {_TRIMMED}",
    ),
    _query(
        "kelas",
        {"type": "string", "maxLength": MAX_FIELD, "pattern": f"^{_PRINTABLE}$"},
        f"only this class; {_TRIMMED}",
    ),
    _query("status", _STATE, "payment state: Lunas, Belum Lunas, Belum Sinkron"),
    _query(
        "sort",
        {"type": "string", "enum": list(SORTS), "default": SORTS[0]},
        "by name, by arrears (descending or ascending), or most recently synced first",
    ),
    _query(
        "page",
        {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": 1},
        f"{PER_PAGE} students a page",
    ),
]


def _csv(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/csv": {"schema": {"type": "string"}}}}


#: ``?sep=`` of a CSV export (``web/export.py``).
_SEP = _query(
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
                    "200": _json({"$ref": "#/components/schemas/Health"}, "healthy"),
                    "503": _json({"$ref": "#/components/schemas/Health"}, "database down"),
                },
            }
        },
        f"{SYNC}/start": {
            "post": _operation(
                "Start a sync run (admin); all students unless a scope is given",
                _json(_OK, "started"),
                (400, 401, 403, 409, 419, 422),
                body={"$ref": "#/components/schemas/Scope"},
            )
        },
        f"{SYNC}/cancel": {
            "post": _operation(
                "Cancel a running run (admin)",
                _json(_OK, "cancelled"),
                (401, 403, 404, 409, 419, 422),
                body=_RUN_BODY,
            )
        },
        f"{SYNC}/reset": {
            "post": _operation(
                "Back to idle after a run ended (admin)",
                _json(_OK, "reset"),
                (401, 403, 409, 419),
            )
        },
        f"{SYNC}/progress": {
            "get": _operation(
                "The progress object of the latest run (or ?run_id=)",
                _json({"$ref": "#/components/schemas/Progress"}, "progress"),
                (401, 404, 422),
                parameters=[
                    _RUN_ID,
                    _query(
                        "after_log",
                        {"type": "integer", "minimum": 0, "maximum": MAX_NUMBER},
                        "only log lines newer than this id",
                    ),
                ],
            )
        },
        f"{SYNC}/failed": {
            "get": _operation(
                "The failed students of a run",
                _json(_DATA, "failed students"),
                (401, 404, 422),
                parameters=[
                    _RUN_ID,
                    _query(
                        "limit",
                        {"type": "integer", "minimum": 1, "maximum": MAX_FAILED},
                        f"how many (default {PAGE_FAILED})",
                    ),
                    _query(
                        "offset",
                        {"type": "integer", "minimum": 0, "maximum": MAX_NUMBER},
                        "skip this many",
                    ),
                ],
            )
        },
        f"{SYNC}/retry-failed": {
            "post": _operation(
                "A new run over exactly the failed students of a run (admin)",
                _json(_OK, "started"),
                (400, 401, 403, 404, 409, 419, 422),
                body=_RUN_BODY,
            )
        },
        f"{SYNC}/runs": {
            "get": _operation(
                "Recent runs with their counts and durations",
                _json(_DATA, "runs"),
                (401, 422),
                parameters=[
                    _query(
                        "limit",
                        {"type": "integer", "minimum": 1, "maximum": MAX_RUNS},
                        f"how many (default {PAGE_RUNS})",
                    )
                ],
            )
        },
        f"{SYNC}/runs/{{run_id}}/changes": {
            "get": _operation(
                f"The students a run changed, before and after, {CHANGES_PER_PAGE} a page",
                _json(_DATA, "the run's change summary and a page of its changed students"),
                (401, 404, 422),
                parameters=[
                    {"name": "run_id", "in": "path", "required": True, "schema": _ID},
                    _query(
                        "page",
                        {"type": "integer", "minimum": 1, "maximum": MAX_CHANGES_PAGE},
                        "the page (default 1)",
                    ),
                ],
                description=_NEGOTIATES,
            )
        },
        f"{SYNC}/scopes": {
            "get": _operation("The units and classes that exist", _json(_DATA, "scopes"), (401,))
        },
        "/admin/siswa": {
            "get": _operation(
                f"Students: search, filters, sorting, {PER_PAGE} a page",
                _json({"$ref": "#/components/schemas/StudentList"}, "a page of students"),
                (401, 422),
                parameters=_STUDENT_QUERY,
                description=_NEGOTIATES,
            )
        },
        "/admin/siswa/export.csv": {
            "get": _operation(
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
            "get": _operation(
                "The report: counts and summed totals per school, unit and class",
                _json({"$ref": "#/components/schemas/Report"}, "the report"),
                (401, 422),
                parameters=[_STUDENT_QUERY[1]],
                description=_NEGOTIATES,
            )
        },
        "/admin/laporan/export.csv": {
            "get": _operation(
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
            "get": _operation(
                "One student: totals, payment items by period, last sync",
                _json({"$ref": "#/components/schemas/StudentDetail"}, "the student"),
                (401, 404, 422),
                parameters=[
                    _IDPERSON_PATH,
                    _query(
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
            "post": _operation(
                "Sync one student now",
                _json(_OK, "started"),
                (401, 404, 409, 419),
                parameters=[_IDPERSON_PATH],
            )
        },
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
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "session": {"type": "apiKey", "in": "cookie", "name": "syncpay_session"},
            },
        },
        "security": [{"bearer": []}, {"session": []}],
        "paths": paths,
    }


@routes.get("/openapi.json")
@public
async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(document(), headers={"Cache-Control": "public, max-age=300"})
