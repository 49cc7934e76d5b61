"""The UI's words: one message catalogue per language (``locale/<lang>.json``).

Indonesian is the default; ``?lang=en`` switches a session to English. The loader lives
in :mod:`syncpay.i18n` (the sync layer words its activity log from the same catalogues);
this module is the web layer's name for it, with the helpers that word a request's page
in its language (:func:`language`, :func:`text`, :func:`reason`). Below ``pages``,
``dates`` and ``security``, which all use them.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..i18n import DEFAULT, LANGUAGES, LOCALES, LOG_PREFIX, Catalogs, catalogs
from .keys import CATALOGS, SETTINGS
from .session import SESSION, Session

__all__ = [
    "DEFAULT",
    "LANGUAGES",
    "LOCALES",
    "LOG_PREFIX",
    "Catalogs",
    "catalogs",
    "language",
    "reason",
    "text",
]


def language(request: web.Request) -> str:
    """The request's language: its session's choice, else ``APP_LOCALE``."""
    session: Session = request[SESSION]
    return session.lang or request.app[SETTINGS].app_locale


def text(request: web.Request, key: str, **values: Any) -> str:
    """The UI text ``key`` in the request's language."""
    return request.app[CATALOGS].text(language(request), key, **values)


def reason(request: web.Request, stored: str | None) -> str:
    """A stored failure reason in the request's language (the sync layer's own words in
    it translated; an API's error as it came)."""
    return request.app[CATALOGS].reason_text(language(request), stored or "")
