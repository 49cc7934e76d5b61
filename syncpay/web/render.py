"""HTML from small templates, every value escaped unless built as :class:`Markup`.

Templates live in ``syncpay/web/templates/`` and are read through
:mod:`importlib.resources` (so they work from the single-file ``syncpay.pyz`` too). Each
is compiled once, on first use, and the compiled form is cached. The syntax:

``{{ name }}``, ``{{ a.b.c }}``
    A value from the context (dotted names reach into mappings and attributes; a missing
    one is empty), HTML-escaped unless it is :class:`Markup`.
``{{ _:key }}``, ``{{ _:key n=count who=user.name }}``
    The page language's text for ``key`` from the message catalogue, escaped; named
    values (dotted names from the context) fill its ``{n}``/``{who}`` fields.
``{% if name %}…{% elif other %}…{% else %}…{% endif %}``
    By the value's truthiness (empty lists and strings, ``0``, ``None`` and a missing
    name are false); ``{% if not name %}`` negates.
``{% for item in items %}…{% else %}…{% endfor %}``
    The body once per item, with ``item`` and ``loop.index`` (1-based), ``loop.first``
    and ``loop.last`` in the context; the ``else`` part when there are no items. Blocks
    nest.
``{% include "other.html" %}``
    Another template, with the same context.

A ``{% … %}`` tag alone on its line takes the line with it (its indentation and line
break are not written). An unknown tag or expression, a block left open or an end tag
without its block raises :class:`~.templating.TemplateError` naming the template and
line, when the template is compiled (:mod:`.templating`). A value that is already HTML is
a :class:`~.markup.Markup` and is inserted as it is; HTML belongs in templates.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from typing import Any

from .markup import Markup
from .templating import Env, Node, Parser, Translate, write_all

# A Path, or a zipfile.Path when running from syncpay.pyz.
TEMPLATES = resources.files("syncpay") / "web" / "templates"


class Template:
    """A compiled template; ``{% include %}`` names are looked up through ``load``
    (the templates folder by default)."""

    def __init__(
        self,
        source: str,
        name: str = "<string>",
        load: Callable[[str], Template] | None = None,
    ) -> None:
        self.name = name
        self.nodes: Sequence[Node] = Parser(name, source).parse()
        self.load = load or template

    def render(self, context: Mapping[str, Any], translate: Translate) -> Markup:
        out: list[str] = []
        write_all(self.nodes, context, out, Env(translate, lambda name: self.load(name).nodes))
        return Markup("".join(out))


@functools.cache
def template(name: str) -> Template:
    """Template ``name`` from the templates folder, compiled (once)."""
    return Template((TEMPLATES / name).read_text(encoding="utf-8"), name)


def render(name: str, context: Mapping[str, Any], translate: Translate) -> Markup:
    """Fill template ``name`` from ``context``; ``{{ _:key … }}`` through ``translate``
    (called as ``translate(key, **values)``)."""
    return template(name).render(context, translate)
