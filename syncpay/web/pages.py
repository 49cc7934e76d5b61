"""The page frame every HTML page shares: head, navigation, account, language links."""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from typing import Any

from aiohttp import web

from .dates import zone_name
from .errors import REASONS
from .i18n import language, text
from .keys import CATALOGS, STATIC_VERSIONS
from .markup import Markup, json_script
from .render import render
from .session import SESSION

#: The menu: (address, catalogue key, for admins only).
NAV = (
    ("/admin/siswa", "nav.siswa", False),
    ("/admin/sync-pembayaran", "nav.sync", False),
    ("/admin/laporan", "nav.laporan", False),
    ("/admin/users", "nav.users", True),
)


def static_url(request: web.Request, name: str) -> str:
    """``/static/<name>?v=<content hash>`` (cached for a year, busted on change)."""
    version = request.app[STATIC_VERSIONS].get(name)
    return f"/static/{name}?v={version}" if version else f"/static/{name}"


def fill(request: web.Request, name: str, context: Mapping[str, Any]) -> Markup:
    """Template ``name`` (see :mod:`.render`) filled from ``context``, its
    ``{{ _:key … }}`` words in the request's language."""
    return render(name, context, functools.partial(text, request))


def page(
    request: web.Request,
    title: str,
    body: Markup,
    *,
    scripts: Sequence[str] = (),
    styles: Sequence[str] = (),
    data: dict[str, Any] | None = None,
    status: int = 200,
    body_class: str = "",
) -> web.Response:
    """A whole HTML page around ``body`` (HTML built with :mod:`.render`)."""
    session = request[SESSION]
    lang = language(request)
    user = session.user
    other = "en" if lang == "id" else "id"
    page_data = {
        "lang": lang,
        "messages": request.app[CATALOGS].client(lang),
        "timeZone": zone_name(),  # dates.js writes times in the server's zone, as dates.py
    } | (data or {})
    html = fill(
        request,
        "layout.html",
        {
            "lang": lang,
            "csrf": session.csrf,
            "title": title,
            "styles": [static_url(request, name) for name in ("app.css", *styles)],
            "body_class": body_class,
            "user": user,
            "role": None if user is None else text(request, "role." + user.role),
            "nav": [
                {
                    "href": href,
                    "label": text(request, key),
                    "current": request.path == href or request.path.startswith(href + "/"),
                }
                for href, key, admins in NAV
                if not admins or (user is not None and user.is_admin)
            ],
            "other": {
                "lang": other,
                "href": f"{request.path}?lang={other}",
                "name": "English" if other == "en" else "Bahasa Indonesia",
            },
            "body": body,
            "data": json_script("page-data", page_data),
            "scripts": [static_url(request, name) for name in ("app.js", "dates.js", *scripts)],
        },
    )
    return web.Response(
        text=html,
        status=status,
        reason=REASONS.get(status),
        content_type="text/html",
        charset="utf-8",
    )


def error_page(request: web.Request, status: int, message: str) -> web.Response:
    if SESSION not in request:  # failed before the session was read
        return web.Response(text=f"{status}: {message}\n", status=status)
    body = fill(request, "error.html", {"status": status, "message": message})
    return page(request, str(status), body, status=status)
