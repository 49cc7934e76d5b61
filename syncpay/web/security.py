"""Who may call what: sessions and bearer tokens, roles, CSRF, login throttling, security
headers and the error policy (no traceback ever reaches a browser or a script).

Every route needs a logged-in user unless its handler is marked :func:`public`;
:func:`admin_only` routes need the ``admin`` role. Unauthenticated HTML requests are
redirected to ``/login``; JSON routes (:func:`~syncpay.web.errors.json_route`) answer 401.
Every POST needs the session's CSRF token (``X-CSRF-TOKEN`` header or ``_token`` field)
unless it carries a bearer token; a wrong or missing one is 419.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import MultiDictProxy
from yarl import URL

from ..accounts import User, token_hash
from ..sync.runs import SyncError
from ..text import SURROGATE, clean, is_clean
from .errors import ApiError, is_json_handler, json_error
from .i18n import language as language  # re-exported: routes import it from here
from .i18n import reason as reason  # re-exported: routes import it from here
from .i18n import text
from .keys import ACCOUNTS, RECENT_USERS, SETTINGS, SIGNER
from .live import HUB
from .session import COOKIE, SESSION, Session, set_cookie

log = logging.getLogger("syncpay.web")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})

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


# --- marking handlers -------------------------------------------------------------------


def public(handler: Any) -> Any:
    """No login needed (the login page, health checks, static files)."""
    handler.__syncpay_access__ = "public"
    return handler


def admin_only(handler: Any) -> Any:
    """Only users (or tokens) with the ``admin`` role."""
    handler.__syncpay_access__ = "admin"
    return handler


def access_of(handler: Any) -> str:
    return str(getattr(handler, "__syncpay_access__", "user"))


def wants_json(request: web.Request) -> bool:
    """Answer this request in JSON (a JSON route, a script, or a fetch() asking JSON)?"""
    if is_json_handler(request.match_info.handler):
        return True
    if request.headers.get("Authorization", "").startswith("Bearer "):
        return True
    accept = request.headers.get("Accept", "")
    return "application/json" in accept and "text/html" not in accept


def require_admin(request: web.Request) -> User:
    user = request[SESSION].user
    if user is None:
        raise ApiError(401, text(request, "error.unauthenticated"))
    if not user.is_admin:
        raise ApiError(403, text(request, "error.forbidden"))
    return user


def current_user(request: web.Request) -> User:
    user = request[SESSION].user
    if user is None:
        raise ApiError(401, text(request, "error.unauthenticated"))
    return user


# --- middlewares ------------------------------------------------------------------------


def _error_page(request: web.Request, status: int, message: str) -> web.Response:
    from .pages import error_page  # the page layout needs the request's session

    return error_page(request, status, message)


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


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure becomes a clean answer: JSON for JSON clients, a page otherwise."""
    try:
        return await handler(request)
    except ApiError as exc:
        if wants_json(request):
            return json_error(exc.status, exc.message, **exc.extra)
        return _error_page(request, exc.status, exc.message)
    except SyncError as exc:
        if wants_json(request):
            return json_error(exc.status, exc.message)
        return _error_page(request, exc.status, exc.message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        message = _http_message(request, exc)
        if wants_json(request):
            response = json_error(exc.status, message)
        else:
            response = _error_page(request, exc.status, message)
        # A 405 names the methods the address takes (RFC 9110 §15.5.6).
        allow = exc.headers.get("Allow")
        if allow is not None:
            response.headers["Allow"] = allow
        return response
    except Exception:
        log.exception("%s %s failed", request.method, request.path)
        if wants_json(request):
            return json_error(500, "Terjadi kesalahan pada server.")
        return _error_page(request, 500, "Terjadi kesalahan pada server.")


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


def _login_redirect(request: web.Request) -> web.HTTPFound:
    target = request.path_qs if request.method == "GET" else "/admin/sync-pembayaran"
    if not is_local_path(request.path):
        target = "/admin/sync-pembayaran"
    return web.HTTPFound(f"/login?next={quote(target, safe='/')}")


@web.middleware
async def session_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Load the session (or the bearer token's user), check access and CSRF, and write
    the session cookie back when it changed."""
    app = request.app
    signer = app[SIGNER]
    cookie = request.cookies.get(COOKIE)
    session = Session.from_cookie(signer.unsign(cookie) if cookie else None)
    request[SESSION] = session
    check_size(request)
    settings = app[SETTINGS]
    bearer = request.headers.get("Authorization", "")
    # /metrics checks its own bearer token (METRICS_TOKEN), not an API token.
    via_token = bearer[:7].lower() == "bearer " and request.path != "/metrics"
    if via_token:
        session.user = await _token_user(request, bearer[7:].strip())
        session.changed = False
        if session.user is None:
            return json_error(401, text(request, "error.bad_token"))
    elif session.sid is not None:
        session.user = await _session_user(request, session, settings.session_lifetime * 60)
    lang = request.query.get("lang")
    if lang in ("id", "en") and lang != session.lang and not via_token:
        session.lang = lang
        session.changed = True

    route = request.match_info.route
    static = isinstance(getattr(route, "resource", None), web.StaticResource)
    access = "public" if static else access_of(request.match_info.handler)
    if access != "public" and session.user is None:
        if wants_json(request) or request.path.endswith("/ws"):
            return json_error(401, text(request, "error.unauthenticated"))
        raise _login_redirect(request)
    if access == "admin" and session.user is not None and not session.user.is_admin:
        raise ApiError(403, text(request, "error.forbidden"))
    if request.method in UNSAFE and not via_token:
        await _check_csrf(request, session)

    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if session.changed and not via_token:
            set_cookie(exc, request, signer, session)
        raise
    if session.changed and not via_token and not response.prepared:
        # An anonymous visitor gets a cookie only from pages (for the forms' CSRF token).
        if session.sid is not None or cookie or response.content_type == "text/html":
            set_cookie(response, request, signer, session)
    return response


async def _session_user(request: web.Request, session: Session, lifetime: int) -> User | None:
    recent = request.app[RECENT_USERS]
    key = f"s:{session.sid}"
    user = recent.get(key)
    if isinstance(user, User):
        return user
    accounts = request.app[ACCOUNTS]
    row = await accounts.db.fetch_one("session_user", {"id": session.sid})
    if row is None:  # logged out, expired, or the user was removed
        session.sid = None
        session.changed = True
        return None
    if int(row["now"]) - int(row["last_seen_at"]) >= 60:
        await accounts.db.execute("session_touch", {"id": session.sid, "lifetime": lifetime})
    user = User(int(row["id"]), str(row["name"]), str(row["role"]))
    recent.put(key, user)
    return user


async def _token_user(request: web.Request, token: str) -> User | None:
    recent = request.app[RECENT_USERS]
    key = f"t:{token_hash(token)}"
    user = recent.get(key)
    if isinstance(user, User):
        return user
    user = await request.app[ACCOUNTS].token_user(token)
    if user is not None:
        recent.put(key, user)
    return user


def signed_in_check(
    request: web.Request,
) -> tuple[str | None, Callable[[], Awaitable[bool]] | None]:
    """Who a long-lived answer (a page's WebSocket) belongs to, and a check that their
    session or token still counts — asked of the database itself (not the short memory
    of :class:`RecentUsers`), without extending the session: an open page does not
    keep a session alive, and an expiry, a revocation or a logout on another server
    ends it."""
    db = request.app[ACCOUNTS].db
    bearer = request.headers.get("Authorization", "")
    if bearer[:7].lower() == "bearer ":
        hashed = token_hash(bearer[7:].strip())

        async def token_alive() -> bool:
            return await db.fetch_one("token_by_hash", {"token_hash": hashed}) is not None

        return f"t:{hashed}", token_alive
    sid = request[SESSION].sid
    if sid is None:
        return None, None

    async def session_alive() -> bool:
        return await db.fetch_one("session_user", {"id": sid}) is not None

    return f"s:{sid}", session_alive


def check_size(request: web.Request) -> None:
    """Refuse a body announced larger than the app's limit before anything reads it,
    whether or not the route reads bodies (413; a chunked body is measured as read)."""
    length = request.content_length
    limit = request.client_max_size
    if length is not None and limit and length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=length)


async def forget_session(request: web.Request, sid: str | None) -> None:
    """A logout or a new login here: the old session id is no longer anyone's, and the
    pages it had open lose their live socket."""
    if sid is not None:
        request.app[RECENT_USERS].forget(f"s:{sid}")
        if HUB in request.app:
            await request.app[HUB].end(f"s:{sid}")


#: Seconds a request's body may take to arrive (bodies are small: 256 KiB at most). The
#: head has its own limit (``HEADER_TIMEOUT`` in app.py).
BODY_TIMEOUT = 15.0


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


async def _check_csrf(request: web.Request, session: Session) -> None:
    sent = request.headers.get("X-CSRF-TOKEN")
    if sent is None and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        form = await read_form(request)
        value = form.get("_token")
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent.encode(), session.csrf.encode()):
        raise ApiError(419, text(request, "error.csrf"))
