"""Reading what a client sends to the sync routes: a body's fields (a JSON object or a
form), numbers in the body or the query, a scope's text fields and a list of ids, each
refused with a 422 in the request's language; and the limits they are held to (the
OpenAPI document states the same, from here)."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from ..errors import ApiError
from ..i18n import text
from ..requests import check_text, read_body, read_form

#: Longest values a scope may name (the roster's column widths) and most ids at once.
MAX_UNIT = 100
MAX_IDPERSON = 32
MAX_IDS = 10_000
#: Largest number accepted for ids and cursors (beyond any real run or log id).
MAX_NUMBER = 10**15
#: Failed students and recent runs shown on the page.
PAGE_FAILED = 100
PAGE_RUNS = 10
#: Most failed students and runs one request may ask for (``?limit=``).
MAX_FAILED = 1000
MAX_RUNS = 100

#: The fields the sync routes read from a body; any other is ignored, never stored, so
#: its text is not checked either (an unknown field never makes a 422).
READ_FIELDS = ("unit", "kelas", "idperson", "idpersons", "run_id")

FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _read_fields(data: dict[str, Any]) -> dict[str, Any]:
    return {name: data[name] for name in READ_FIELDS if name in data}


async def body_fields(request: web.Request) -> tuple[dict[str, Any], bool]:
    """The request's fields (JSON object or form) and whether they came from a form
    (where an empty field means "not given")."""
    if request.content_type in FORM_TYPES:
        form = await read_form(request)
        fields: dict[str, Any] = {}
        for key in set(form.keys()):
            values = [v for v in form.getall(key) if isinstance(v, str)]
            if values:
                fields[key] = values if len(values) > 1 else values[0]
        check_text(request, _read_fields(fields))
        return fields, True
    raw = await read_body(request)
    if not raw:  # no body: no fields (a blank one is not JSON: 422 below)
        return {}, False
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than json reads
        raise ApiError(422, text(request, "sync.err.bad_json")) from None
    if not isinstance(data, dict):
        raise ApiError(422, text(request, "sync.err.not_object"))
    check_text(request, _read_fields(data))
    return data, False


def number(request: web.Request, value: Any, name: str, *, minimum: int = 1) -> int:
    """``value`` (an int, or digits in a text) as a number from ``minimum`` to
    :data:`MAX_NUMBER`, else a 422 naming the field ``name``."""
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        value = int(value.strip()) if len(value.strip()) <= 16 else MAX_NUMBER + 1
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= MAX_NUMBER:
        raise ApiError(422, text(request, "sync.err.bad_number", field=name, min=minimum))
    return value


def optional_number(request: web.Request, value: Any, name: str, *, minimum: int = 1) -> int | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    return number(request, value, name, minimum=minimum)


def query_number(
    request: web.Request, name: str, *, minimum: int = 1, default: int | None = None
) -> int | None:
    values = request.query.getall(name, [])
    # The last one counts when a name is repeated (as on the student list).
    value = values[-1] if values else None
    if value is None or value == "":
        return default
    return number(request, value, name, minimum=minimum)


def query_limit(request: web.Request, default: int, maximum: int) -> int:
    """``?limit=``: ``default`` when not given, at most ``maximum``."""
    found = query_number(request, "limit", default=default)
    assert found is not None
    if found > maximum:
        raise ApiError(422, text(request, "sync.err.bad_limit", max=maximum))
    return found


def text_field(
    request: web.Request, data: dict[str, Any], name: str, maximum: int, form: bool
) -> str | None:
    value = data.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(422, text(request, "sync.err.not_text", field=name))
    value = value.strip()
    if not value:
        if form:
            return None
        raise ApiError(422, text(request, "sync.err.empty", field=name))
    if len(value) > maximum:
        raise ApiError(422, text(request, "sync.err.too_long", field=name, max=maximum))
    return value


def _one_id(request: web.Request, item: Any, form: bool) -> str | None:
    """One entry of an id list: its text, or None for an empty one in a form."""
    if not isinstance(item, str):
        raise ApiError(422, text(request, "sync.err.ids_type"))
    item = item.strip()
    if len(item) > MAX_IDPERSON:
        raise ApiError(422, text(request, "sync.err.too_long", field="idperson", max=MAX_IDPERSON))
    if not item and not form:
        raise ApiError(422, text(request, "sync.err.empty", field="idperson"))
    return item or None


def ids_field(request: web.Request, data: dict[str, Any], form: bool) -> list[str] | None:
    """``idperson`` (or ``idpersons``): one id or a list of them; None when not given."""
    value = data.get("idperson", data.get("idpersons"))
    if value is None:
        return None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        raise ApiError(422, text(request, "sync.err.ids_type"))
    if len(value) > MAX_IDS:
        raise ApiError(422, text(request, "sync.err.too_many", max=MAX_IDS))
    ids = [found for item in value if (found := _one_id(request, item, form)) is not None]
    if not ids:
        if form:
            return None
        raise ApiError(422, text(request, "sync.err.empty_list"))
    return ids
