"""HTML from small templates, every value escaped unless built as :class:`Markup`.

Templates live in ``syncpay/web/templates/``. ``{{ name }}`` inserts a value (dotted
names reach into dicts and attributes), escaped; ``{{ _:key }}`` inserts the page
language's text for ``key`` from the message catalogue, escaped. HTML built in Python
goes through :func:`h` or :func:`Markup` and is inserted as it is.
"""

from __future__ import annotations

import functools
import html
import json
import re
from collections.abc import Callable, Iterable, Mapping
from importlib import resources
from typing import Any

from ..text import SURROGATE

# A Path, or a zipfile.Path when running from syncpay.pyz.
TEMPLATES = resources.files("syncpay") / "web" / "templates"
_FIELD = re.compile(r"\{\{\s*(_:)?([A-Za-z_][\w.\-]*)\s*\}\}")


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


def join(parts: Iterable[object]) -> Markup:
    return Markup("".join(escape(p) for p in parts))


def h(tag: str, attrs: Mapping[str, object] | None = None, *children: object) -> Markup:
    """``<tag attr="…">children</tag>``; attribute values and text children escaped;
    ``None``/``False`` attributes left out, ``True`` ones written bare."""
    parts = [f"<{tag}"]
    for name, value in (attrs or {}).items():
        if value is None or value is False:
            continue
        if value is True:
            parts.append(f" {name}")
        else:
            parts.append(f' {name}="{escape(value)}"')
    parts.append(">")
    if tag in ("input", "meta", "link", "br", "img", "hr"):
        return Markup("".join(parts))
    parts.extend(escape(c) for c in children)
    parts.append(f"</{tag}>")
    return Markup("".join(parts))


def json_script(element_id: str, value: object) -> Markup:
    """Data for the page's script, in a non-executed ``<script type="application/json">``
    (allowed by a CSP without inline scripts); ``<``, ``>`` and ``&`` are escaped."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    text = SURROGATE.sub("\\\\ufffd", text)  # a lone one could not be sent as UTF-8
    return Markup(f'<script type="application/json" id="{escape(element_id)}">{text}</script>')


@functools.cache
def _template(name: str) -> str:
    return (TEMPLATES / name).read_text(encoding="utf-8")


def _lookup(context: Mapping[str, Any], dotted: str) -> object:
    value: object = context
    for part in dotted.split("."):
        if isinstance(value, Mapping):
            value = value.get(part)
        else:
            value = getattr(value, part, None)
        if value is None:
            return None
    return value


def render(name: str, context: Mapping[str, Any], translate: Callable[[str], str]) -> Markup:
    """Fill template ``name`` from ``context``; ``{{ _:key }}`` through ``translate``."""

    def fill(match: re.Match[str]) -> str:
        if match.group(1):
            return escape(translate(match.group(2)))
        return escape(_lookup(context, match.group(2)))

    return Markup(_FIELD.sub(fill, _template(name)))
