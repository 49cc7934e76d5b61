"""``/login`` and ``/logout``."""

from __future__ import annotations

from urllib.parse import urlsplit

from aiohttp import web

from ...accounts import MAX_PASSWORD, User, login_name
from ..auth import forget_session, public
from ..i18n import text
from ..keys import ACCOUNTS, LOGIN_LIMITER, SETTINGS
from ..middlewares import is_local_path
from ..pages import fill, page
from ..requests import read_form
from ..session import SESSION, new_csrf, new_session_id

routes = web.RouteTableDef()
HOME = "/admin/sync-pembayaran"


def safe_next(target: str | None) -> str:
    """Only a path on this site (no scheme, no host, no ``//``, no ``\\``, no control
    character) is followed after login."""
    if not target or not is_local_path(target):
        return HOME
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or target.startswith("/login"):
        return HOME
    return target


def login_page(
    request: web.Request,
    *,
    error: str | None = None,
    username: str = "",
    status: int = 200,
    next_url: str | None = None,
) -> web.Response:
    session = request[SESSION]
    body = fill(
        request,
        "login.html",
        {
            "csrf": session.csrf,
            "next": safe_next(next_url if next_url is not None else request.query.get("next")),
            "username": username,
            "error": error,
        },
    )
    return page(request, text(request, "login.title"), body, status=status, body_class="guest")


@routes.get("/login")
@public
async def login_form(request: web.Request) -> web.Response:
    if request[SESSION].user is not None:
        raise web.HTTPFound(safe_next(request.query.get("next")))
    return login_page(request)


@routes.post("/login")
@public
async def login(request: web.Request) -> web.Response:
    form = await read_form(request)
    username = str(form.get("username") or "").strip()[:191]
    password = str(form.get("password") or "")
    next_url = str(form.get("next") or "")
    if not username or not password:
        return login_page(
            request,
            error=text(request, "login.missing"),
            username=username,
            status=422,
            next_url=next_url,
        )
    if len(password) > MAX_PASSWORD:
        return login_page(
            request,
            error=text(request, "login.failed"),
            username=username,
            status=422,
            next_url=next_url,
        )
    limiter = request.app[LOGIN_LIMITER]
    address = request.remote or "?"
    # Counted per account: every spelling of a name (ADMIN, ａｄｍｉｎ) is one account.
    account = login_name(username)
    wait = limiter.retry_in(account, address)
    if wait:
        response = login_page(
            request,
            error=text(request, "login.throttled", seconds=wait),
            username=username,
            status=429,
            next_url=next_url,
        )
        response.headers["Retry-After"] = str(wait)
        return response
    accounts = request.app[ACCOUNTS]
    user = await accounts.authenticate(username, password)
    if user is None:
        limiter.failed(account, address)
        return login_page(
            request,
            error=text(request, "login.failed"),
            username=username,
            status=422,
            next_url=next_url,
        )
    limiter.succeeded(account, address)
    await start_session(request, user)
    raise web.HTTPFound(safe_next(next_url))


async def start_session(request: web.Request, user: User) -> None:
    """Log ``user`` in: a new session id and CSRF token (no session fixation)."""
    accounts = request.app[ACCOUNTS]
    session = request[SESSION]
    if session.sid is not None:
        await accounts.db.execute("session_delete", {"id": session.sid})
        await forget_session(request, session.sid)
    session.sid = new_session_id()
    session.csrf = new_csrf()
    session.user = user
    session.changed = True
    lifetime = request.app[SETTINGS].session_lifetime * 60
    await accounts.db.execute(
        "session_insert", {"id": session.sid, "user_id": user.id, "lifetime": lifetime}
    )


@routes.get("/login/once/{secret}")
@public
async def login_once(request: web.Request) -> web.Response:
    """A one-time login link (``--demo`` prints one): logs in, then never works again.
    Only a GET uses it: a HEAD (a chat app or mail filter previewing the link) is
    answered without touching it."""
    if request.method != "GET":
        return web.Response(status=200, content_type="text/plain")
    user = await request.app[ACCOUNTS].use_login_link(request.match_info["secret"])
    if user is None:
        return login_page(request, error=text(request, "login.link_used"), status=410)
    await start_session(request, user)
    raise web.HTTPFound(HOME)


@routes.post("/logout")
@public
async def logout(request: web.Request) -> web.Response:
    session = request[SESSION]
    if session.sid is not None:
        await request.app[ACCOUNTS].db.execute("session_delete", {"id": session.sid})
        await forget_session(request, session.sid)
    session.sid = None
    session.user = None
    session.csrf = new_csrf()
    session.changed = True
    raise web.HTTPFound("/login")


@routes.get("/")
@public
async def home(request: web.Request) -> web.Response:
    raise web.HTTPFound(HOME if request[SESSION].user is not None else "/login")
