"""The OpenAPI document's building blocks: an answer, the error answers, an operation, a
query parameter, and the small schemas (ids, names, amounts, states, the run's changes)
the named schemas and the paths share, with the limits the routes check."""

from __future__ import annotations

from typing import Any

from ...students.filters import (
    STATUSES,
)
from ...sync.records import CHANGE_COUNTERS
from ..routes.sync_input import (
    MAX_IDPERSON,
    MAX_NUMBER,
    MAX_UNIT,
)

SYNC = "/admin/sync-pembayaran"

ERROR = {"$ref": "#/components/schemas/Error"}
OK = {"$ref": "#/components/schemas/Ok"}


def json_content(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def error_answers(*codes: int) -> dict[str, Any]:
    text = {
        400: "refused: nothing to do (no students in the scope)",
        401: "no session and no valid bearer token",
        403: "the user's role may not do this",
        404: "unknown run, student or user",
        409: "conflicts with the current state (a run is active, or none is; the last admin)",
        419: "CSRF token missing or wrong (session clients only)",
        422: "a value in the request is not valid",
    }
    return {str(code): json_content(ERROR, text[code]) for code in codes}


def operation(
    summary: str,
    ok: dict[str, Any],
    errors: tuple[int, ...],
    *,
    parameters: list[dict[str, Any]] | None = None,
    body: dict[str, Any] | None = None,
    secured: bool = True,
    description: str | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "summary": summary,
        "responses": {"200": ok, **error_answers(*errors)},
    }
    if description is not None:
        spec["description"] = description
    if parameters:
        spec["parameters"] = parameters
    if body is not None:
        spec["requestBody"] = {
            "required": False,
            "content": {"application/json": {"schema": body}},
        }
    if not secured:
        spec["security"] = []
    return spec


def query_param(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
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
ID = {"type": "integer", "minimum": 1, "maximum": MAX_NUMBER}
RUN_ID = query_param("run_id", ID, "a run (default: the latest)")
#: Text a request may carry: no control character (C0, DEL, C1: a 422 names the field).
PRINTABLE = "[^\\x00-\\x1f\\x7f-\\x9f]*"
#: A scope's unit or class: not blank, at most MAX_UNIT characters, no control
#: character; null = not given.
NAME = {
    "type": "string",
    "minLength": 1,
    "maxLength": MAX_UNIT,
    "pattern": f"^{PRINTABLE}[^\\s\\x00-\\x1f\\x7f-\\x9f]{PRINTABLE}$",
    "nullable": True,
}
IDPERSON = {"type": "string", "pattern": f"^[A-Za-z0-9]{{1,{MAX_IDPERSON}}}$"}
#: A student in a path: another shape is no student (404), as an unknown one.
IDPERSON_PATH = {"name": "idperson", "in": "path", "required": True, "schema": IDPERSON}
RUN_BODY = {"type": "object", "properties": {"run_id": {**ID, "nullable": True}}}
INT = {"type": "integer"}
STR = {"type": "string"}
NSTR = {"type": "string", "nullable": True}
NINT = {"type": "integer", "nullable": True}
#: Rupiah, exact: a whole amount is an integer, one with cents a number.
AMOUNT = {"type": "number"}
NAMOUNT = {"type": "number", "nullable": True}
MOMENT = {"type": "string", "format": "date-time", "nullable": True}
#: A student's payment state, from ``is_lunas`` (NULL: never synced).
STATE = {"type": "string", "enum": list(STATUSES)}
RUN_STATUS = {"type": "string", "enum": ["idle", "running", "completed", "cancelled"]}
#: What a run changed (issue #14); null for a run from before the feature.
CHANGES = {
    "type": "object",
    "nullable": True,
    "description": "what the run changed so far: students that became Lunas / Belum Lunas,"
    " were synced for the first time, whose arrears rose / fell, and the sum of its synced"
    " students' arrears before and after (null: a run from before this was recorded)",
    "required": [*CHANGE_COUNTERS, "tunggakan_before", "tunggakan_after"],
    "properties": {
        **{name: {"type": "integer", "minimum": 0} for name in CHANGE_COUNTERS},
        "tunggakan_before": AMOUNT,
        "tunggakan_after": AMOUNT,
    },
}
COUNT = {"type": "integer", "minimum": 0}


def object_of(properties: dict[str, Any], *optional: str, **extra: Any) -> dict[str, Any]:
    """A closed object: every property required unless named in ``optional``."""
    return {
        "type": "object",
        "required": [name for name in properties if name not in optional],
        "properties": properties,
        "additionalProperties": False,
        **extra,
    }


def totals_of(amount: dict[str, Any], description: str) -> dict[str, Any]:
    keys = ("tagihan", "dibayar", "tunggakan", "kelebihan")
    return object_of({key: amount for key in keys}, description=description)
