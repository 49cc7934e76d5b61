"""The middlewares around every request but authentication (that is :mod:`.auth`): the
error policy (no traceback ever reaches a browser or a script), a path safe to put in a
link, the reverse proxy's view of the client, and the security and cache headers."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from yarl import URL

from ..sync.errors import SyncError
from .errors import ApiError, json_error
from .i18n import text
from .keys import SETTINGS
from .pages import error_page
from .requests import wants_json
from .session import SESSION

log = logging.getLogger("syncpay.web")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}

# --- errors -----------------------------------------------------------------------------

_HTTP_MESSAGES = {
    400: "error.invalid",
    404: "error.not_found",
    405: "error.method",
    413: "error.too_large",
}


def _http_message(request: web.Request, exc: web.HTTPException) -> str:
    key = _HTTP_MESSAGES.get(exc.status)
    if key is None or SESSION not in request:
        return exc.reason
    return text(request, key)


def _answer(
    request: web.Request, status: int, message: str, extra: dict[str, Any] | None = None
) -> web.Response:
    """A failure in JSON for JSON clients, as a page otherwise."""
    if wants_json(request):
        return json_error(status, message, **(extra or {}))
    return error_page(request, status, message)


def _http_answer(request: web.Request, exc: web.HTTPException) -> web.Response:
    response = _answer(request, exc.status, _http_message(request, exc))
    # A 405 names the methods the address takes (RFC 9110 §15.5.6).
    allow = exc.headers.get("Allow")
    if allow is not None:
        response.headers["Allow"] = allow
    return response


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure becomes a clean answer: JSON for JSON clients, a page otherwise."""
    try:
        return await handler(request)
    except ApiError as exc:
        return _answer(request, exc.status, exc.message, exc.extra)
    except SyncError as exc:
        return _answer(request, exc.status, exc.message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _http_answer(request, exc)
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        return _answer(request, 500, "Terjadi kesalahan pada server.")


# --- paths and the reverse proxy ---------------------------------------------------------

#: A path a browser reads as this site's: one ``/`` first, then no ``/`` or ``\\`` right
#: after it, no ``\\`` (read as ``/``) and no control character (tab and line breaks are
#: dropped by browsers, so ``/\\t/evil.example`` is ``//evil.example``) anywhere.
_LOCAL_PATH = re.compile(r"/(?![/\\])[^\\\x00-\x1f\x7f-\x9f]*")
_PATH_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def is_local_path(path: str) -> bool:
    """True when ``path`` (decoded) as a link or redirect stays on this site."""
    return _LOCAL_PATH.fullmatch(path) is not None


def local_path(path: str) -> str:
    """``path`` made a link to this site: backslashes read as ``/`` (as browsers do),
    control characters dropped, leading slashes collapsed into one."""
    if is_local_path(path):
        return path
    return "/" + _PATH_CONTROLS.sub("", path.replace("\\", "/")).lstrip("/")


@web.middleware
async def path_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Everything below sees a path that is safe to put in a link or a redirect: the
    pages' language link and the login's ``next=`` are built from ``request.path``, and
    ``//evil.example/x`` (or ``/%5Cevil.example/x``, ``/%2F%2Fevil.example/x``) must
    not become a link to another host. Such a path matches no route either way."""
    path = request.path
    if is_local_path(path):
        return await handler(request)
    safe = URL.build(path=local_path(path), query=request.rel_url.query)
    return await handler(request.clone(rel_url=safe))


@web.middleware
async def proxy_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """With ``APP_TRUST_PROXY``: the client's address and scheme as the reverse proxy saw
    them (the last X-Forwarded-For entry is the one the proxy itself added). The host is
    the ``Host`` header the proxy passes on (docs/deploy.md): ``X-Forwarded-Host`` is not
    read, since a proxy that does not set it passes on the client's own value."""
    if not request.app[SETTINGS].app_trust_proxy:
        return await handler(request)
    changes: dict[str, Any] = {}
    forwarded_for = request.headers.get("X-Forwarded-For", "")
    if forwarded_for:
        changes["remote"] = forwarded_for.split(",")[-1].strip()[:64]
    proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    if proto in ("http", "https"):
        changes["scheme"] = proto
    return await handler(request.clone(**changes) if changes else request)


# --- headers ------------------------------------------------------------------------------


@web.middleware
async def headers_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        response = exc
        _add_headers(request, response)
        raise
    _add_headers(request, response)
    return response


def _add_headers(request: web.Request, response: web.StreamResponse) -> None:
    if response.prepared:  # a WebSocket or a streamed answer: sent already
        return
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if request.path.startswith("/static/"):
        immutable = "v" in request.query and response.status == 200
        response.headers["Cache-Control"] = (
            "public, max-age=31536000, immutable" if immutable else "public, max-age=300"
        )
    else:
        response.headers.setdefault("Cache-Control", "no-store")
