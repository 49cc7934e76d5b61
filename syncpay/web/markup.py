"""Text that is HTML and text that is not: :class:`Markup` is inserted as it is, every
other value escaped (:func:`escape`); :func:`json_script` carries data to a page's
script. The templates (:mod:`.render`) insert values through these."""

from __future__ import annotations

import html
import json

from ..text import SURROGATE


class Markup(str):
    """Text that is already HTML (inserted without escaping)."""

    __slots__ = ()


def escape(value: object) -> Markup:
    if isinstance(value, Markup):
        return value
    if value is None:
        return Markup("")
    text = str(value)
    if not text.isprintable():  # quick: False for every lone surrogate (and line breaks)
        # One in stored data (saved before text was cleaned at the boundary) cannot be
        # encoded as UTF-8: it would turn the whole page into a server error.
        text = SURROGATE.sub("\ufffd", text)
    return Markup(html.escape(text, quote=True))


def json_script(element_id: str, value: object) -> Markup:
    """Data for the page's script, in a non-executed ``<script type="application/json">``
    (allowed by a CSP without inline scripts); ``<``, ``>`` and ``&`` are escaped."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = SURROGATE.sub("\\\\ufffd", text)  # a lone one could not be sent as UTF-8
    return Markup(f'<script type="application/json" id="{escape(element_id)}">{text}</script>')
