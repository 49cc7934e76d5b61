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
from .render import Markup, h, join, json_script, render
from .session import SESSION

NAV = (
    ("/admin/siswa", "nav.siswa"),
    ("/admin/sync-pembayaran", "nav.sync"),
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
    nav = Markup("")
    account = Markup("")
    if user is not None:
        links = []
        for href, key in NAV:
            current = request.path == href or request.path.startswith(href + "/")
            links.append(
                h(
                    "a",
                    {
                        "href": href,
                        "class": "active" if current else None,
                        "aria-current": "page" if current else None,
                    },
                    text(request, key),
                )
            )
        nav = h("nav", {"class": "nav", "aria-label": text(request, "nav.label")}, join(links))
        account = join(
            [
                h(
                    "span",
                    {"class": "user", "data-role": user.role},
                    f"{user.name} · {text(request, 'role.' + user.role)}",
                ),
                h(
                    "form",
                    {"method": "post", "action": "/logout", "class": "logout"},
                    h("input", {"type": "hidden", "name": "_token", "value": session.csrf}),
                    h("button", {"type": "submit", "class": "link"}, text(request, "nav.logout")),
                ),
            ]
        )
    other = "en" if lang == "id" else "id"
    lang_links = h(
        "a",
        {"href": f"{request.path}?lang={other}", "class": "lang", "hreflang": other, "lang": other},
        "English" if other == "en" else "Bahasa Indonesia",
    )
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
            "css": join(
                h("link", {"rel": "stylesheet", "href": static_url(request, name)})
                for name in ("app.css", *styles)
            ),
            "body_class": body_class,
            "nav": nav,
            "account": account,
            "lang_links": lang_links,
            "body": body,
            "data": json_script("page-data", page_data),
            "scripts": join(
                h("script", {"src": static_url(request, name), "defer": True})
                for name in ("app.js", "dates.js", *scripts)
            ),
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
    body = join(
        [
            h("h1", {}, f"{status}"),
            h("p", {"class": "error-message"}, message),
            h("p", {}, h("a", {"href": "/admin/sync-pembayaran"}, text(request, "nav.back"))),
        ]
    )
    return page(
        request, str(status), Markup(h("section", {"class": "card error"}, body)), status=status
    )
