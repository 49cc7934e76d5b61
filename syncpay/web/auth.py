"""Who may call what: sessions and bearer tokens, roles and CSRF.

Every route needs a logged-in user unless its handler is marked :func:`public`;
:func:`admin_only` routes need the ``admin`` role, :func:`officer_or_admin` ones an
admin or a scoped petugas. Unauthenticated HTML requests are
redirected to ``/login``; JSON routes (:func:`~syncpay.web.errors.json_route`) answer 401.
Every POST needs the session's CSRF token (``X-CSRF-TOKEN`` header or ``_token`` field)
unless it carries a bearer token; a wrong or missing one is 419. (Login throttling is
:mod:`.throttle`; the other middlewares are :mod:`.middlewares`.)
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from aiohttp import web

from ..accounts import User, token_hash
from ..officers import OfficerScope
from .errors import ApiError, json_error
from .i18n import text
from .keys import ACCOUNTS, RECENT_USERS, SETTINGS, SIGNER
from .live import HUB
from .middlewares import Handler, is_local_path
from .requests import check_size, read_form, wants_json
from .session import COOKIE, SESSION, Session, set_cookie

UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})

# --- marking handlers -------------------------------------------------------------------


def public(handler: Any) -> Any:
    """No login needed (the login page, health checks, static files)."""
    handler.__syncpay_access__ = "public"
    return handler


def admin_only(handler: Any) -> Any:
    """Only users (or tokens) with the ``admin`` role."""
    handler.__syncpay_access__ = "admin"
    return handler


def officer_or_admin(handler: Any) -> Any:
    """Admins, and a scoped petugas (issue #15: their own students and runs; the handler
    holds them to it); any other user is 403."""
    handler.__syncpay_access__ = "officer"
    return handler


def access_of(handler: Any) -> str:
    return str(getattr(handler, "__syncpay_access__", "user"))


def require_admin(request: web.Request) -> User:
    user = request[SESSION].user
    if user is None:
        raise ApiError(401, text(request, "error.unauthenticated"))
    if not user.is_admin:
        raise ApiError(403, text(request, "error.forbidden"))
    return user


def scope_of(request: web.Request) -> OfficerScope | None:
    """The students the request's user sees: None (every student) unless a scoped
    petugas (issue #15). The read model filters by it; a student outside is a 404."""
    user = request[SESSION].user
    return user.sees if user is not None else None


def current_user(request: web.Request) -> User:
    user = request[SESSION].user
    if user is None:
        raise ApiError(401, text(request, "error.unauthenticated"))
    return user


# --- the session middleware ---------------------------------------------------------------


def _login_redirect(request: web.Request) -> web.HTTPFound:
    target = request.path_qs if request.method == "GET" else "/admin/sync-pembayaran"
    if not is_local_path(request.path):
        target = "/admin/sync-pembayaran"
    return web.HTTPFound(f"/login?next={quote(target, safe='/')}")


def _bearer(request: web.Request) -> str | None:
    """The request's bearer token, if it authenticates with one. /metrics checks its own
    bearer token (METRICS_TOKEN), not an API token."""
    header = request.headers.get("Authorization", "")
    if header[:7].lower() != "bearer " or request.path == "/metrics":
        return None
    return header[7:].strip()


def _choose_language(request: web.Request, session: Session) -> None:
    lang = request.query.get("lang")
    if lang in ("id", "en") and lang != session.lang:
        session.lang = lang
        session.changed = True


async def _check_access(request: web.Request, session: Session) -> web.StreamResponse | None:
    """An answer refusing the request (or raises one), or None when it may go on."""
    route = request.match_info.route
    static = isinstance(getattr(route, "resource", None), web.StaticResource)
    access = "public" if static else access_of(request.match_info.handler)
    if access != "public" and session.user is None:
        if wants_json(request) or request.path.endswith("/ws"):
            return json_error(401, text(request, "error.unauthenticated"))
        raise _login_redirect(request)
    user = session.user
    if access == "admin" and user is not None and not user.is_admin:
        raise ApiError(403, text(request, "error.forbidden"))
    if access == "officer" and user is not None and not (user.is_admin or user.scoped):
        raise ApiError(403, text(request, "error.forbidden"))
    return None


@web.middleware
async def session_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Load the session (or the bearer token's user), check access and CSRF, and write
    the session cookie back when it changed."""
    signer = request.app[SIGNER]
    cookie = request.cookies.get(COOKIE)
    session = Session.from_cookie(signer.unsign(cookie) if cookie else None)
    request[SESSION] = session
    check_size(request)
    token = _bearer(request)
    if token is not None:
        session.user = await _token_user(request, token)
        session.changed = False
        if session.user is None:
            return json_error(401, text(request, "error.bad_token"))
    else:
        if session.sid is not None:
            lifetime = request.app[SETTINGS].session_lifetime * 60
            session.user = await _session_user(request, session, lifetime)
        _choose_language(request, session)
    refused = await _check_access(request, session)
    if refused is not None:
        return refused
    if token is not None:
        return await handler(request)
    if request.method in UNSAFE:
        await _check_csrf(request, session)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if session.changed:
            set_cookie(exc, request, signer, session)
        raise
    # An anonymous visitor gets a cookie only from pages (for the forms' CSRF token).
    wanted = session.sid is not None or cookie or response.content_type == "text/html"
    if session.changed and not response.prepared and wanted:
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
    user = User.from_row(row)  # with the user's scope: a change counts within RecentUsers' ttl
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


# --- sessions seen from elsewhere -----------------------------------------------------------


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


async def forget_session(request: web.Request, sid: str | None) -> None:
    """A logout or a new login here: the old session id is no longer anyone's, and the
    pages it had open lose their live socket."""
    if sid is not None:
        request.app[RECENT_USERS].forget(f"s:{sid}")
        if HUB in request.app:
            await request.app[HUB].end(f"s:{sid}")
