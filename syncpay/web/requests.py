"""Reading a request: what it wants back (:func:`wants_json`), its body within a time and
size limit (:func:`read_body`, :func:`read_form`, :func:`check_size`) and the checks of
its text (:func:`check_text`, :func:`text_problem`)."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import MultiDictProxy

from ..text import SURROGATE, clean, is_clean
from .errors import ApiError, is_json_handler
from .i18n import text

#: Seconds a request's body may take to arrive (bodies are small: 256 KiB at most). The
#: head has its own limit (``HEADER_TIMEOUT`` in app.py).
BODY_TIMEOUT = 15.0


def wants_json(request: web.Request) -> bool:
    """Answer this request in JSON (a JSON route, a script, or a fetch() asking JSON)?"""
    if is_json_handler(request.match_info.handler):
        return True
    if request.headers.get("Authorization", "").startswith("Bearer "):
        return True
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


def check_size(request: web.Request) -> None:
    """Refuse a body announced larger than the app's limit before anything reads it,
    whether or not the route reads bodies (413; a chunked body is measured as read)."""
    length = request.content_length
    limit = request.client_max_size
    if length is not None and limit and length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=length)


def _slow_body(request: web.Request) -> ApiError:
    return ApiError(408, text(request, "error.slow_body"))


async def read_body(request: web.Request) -> bytes:
    """The request's body; a client that does not send the whole of it within
    :data:`BODY_TIMEOUT` seconds is answered 408."""
    try:
        async with asyncio.timeout(BODY_TIMEOUT):
            return await request.read()
    except TimeoutError:
        raise _slow_body(request) from None


async def read_form(
    request: web.Request,
) -> MultiDictProxy[str | bytes | bytearray | web.FileField]:
    """The request's form fields. A body that is not the form its Content-Type claims (a
    multipart type without its boundary, a broken part, an unknown charset) is a 400, not
    a server error; one that does not arrive within :data:`BODY_TIMEOUT` seconds a 408."""
    try:
        async with asyncio.timeout(BODY_TIMEOUT):
            return await request.post()
    except TimeoutError:
        raise _slow_body(request) from None
    except (ValueError, LookupError, RuntimeError, HttpProcessingError):
        raise ApiError(400, text(request, "error.invalid")) from None


def text_problem(request: web.Request, value: str, field: str) -> str | None:
    """Why a request's text ``value`` (in ``field``) is refused, in the request's
    language, or None: a lone surrogate or a control character (see `check_text`)."""
    if is_clean(value):
        return None
    key = "error.text_unicode" if SURROGATE.search(value) else "error.text_control"
    return text(request, key, field=clean(field or "?", 40))


def check_text(request: web.Request, value: Any, field: str = "") -> None:
    """Refuse (422, naming the field) a request whose text cannot be stored or shown as
    it is: a lone surrogate (``"\\ud800"`` is valid JSON, but no UTF-8 file, page or
    database takes it) or a control character, in any string of ``value`` (a parsed
    JSON body, form fields, a WebSocket message), keys included. Every reader of a
    request's fields calls this once, where it parses them."""
    if isinstance(value, str):
        refused = text_problem(request, value, field)
        if refused is not None:
            raise ApiError(422, refused)
    elif isinstance(value, dict):
        for name, item in value.items():
            name = str(name)
            check_text(request, name, name if not field else f"{field}.{name}")
            check_text(request, item, name if not field else f"{field}.{name}")
    elif isinstance(value, list):
        for item in value:
            check_text(request, item, field)
