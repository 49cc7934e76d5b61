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
without its block raises :class:`TemplateError` naming the template and line, when the
template is compiled. HTML built in Python goes through :func:`h` or :func:`Markup` and
is inserted as it is.
"""

from __future__ import annotations

import functools
import html
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any, Protocol

from ..text import SURROGATE

# A Path, or a zipfile.Path when running from syncpay.pyz.
TEMPLATES = resources.files("syncpay") / "web" / "templates"

#: The page language's text for a key, with named values (``Catalogs.text`` for a page).
Translate = Callable[..., str]


class Markup(str):
    """Text that is already HTML (inserted without escaping)."""

    __slots__ = ()


class TemplateError(Exception):
    """A template that cannot be compiled: its name and line are in the message."""

    def __init__(self, template: str, line: int, message: str) -> None:
        super().__init__(f"template {template}, line {line}: {message}")
        self.template = template
        self.line = line


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


# --- rendering: a compiled template is a tuple of nodes -------------------------------


@dataclass(frozen=True)
class _Env:
    translate: Translate
    load: Callable[[str], Template]


class _Node(Protocol):
    def write(self, scope: Mapping[str, Any], out: list[str], env: _Env) -> None: ...


def _write_all(nodes: Sequence[_Node], scope: Mapping[str, Any], out: list[str], env: _Env) -> None:
    for node in nodes:
        node.write(scope, out, env)


@dataclass(frozen=True)
class Loop:
    """``loop`` inside a ``{% for %}``: ``index`` (1-based), ``first``, ``last``."""

    index: int
    length: int

    @property
    def first(self) -> bool:
        return self.index == 1

    @property
    def last(self) -> bool:
        return self.index == self.length


class _Scope(Mapping[str, Any]):
    """A loop's own names in front of the enclosing context."""

    def __init__(self, names: dict[str, Any], parent: Mapping[str, Any]) -> None:
        self.names = names
        self.parent = parent

    def __getitem__(self, key: str) -> Any:
        if key in self.names:
            return self.names[key]
        return self.parent[key]

    def __iter__(self) -> Iterator[str]:
        yield from self.names
        yield from (k for k in self.parent if k not in self.names)

    def __len__(self) -> int:
        return sum(1 for _ in self)


@dataclass(frozen=True)
class _Text:
    text: str

    def write(self, scope: Mapping[str, Any], out: list[str], env: _Env) -> None:
        out.append(self.text)


@dataclass(frozen=True)
class _Value:
    path: str

    def write(self, scope: Mapping[str, Any], out: list[str], env: _Env) -> None:
        out.append(escape(_lookup(scope, self.path)))


@dataclass(frozen=True)
class _Words:
    key: str
    values: tuple[tuple[str, str], ...]

    def write(self, scope: Mapping[str, Any], out: list[str], env: _Env) -> None:
        if self.values:
            named = {name: _lookup(scope, path) for name, path in self.values}
            out.append(escape(env.translate(self.key, **named)))
        else:
            out.append(escape(env.translate(self.key)))


@dataclass(frozen=True)
class _Test:
    path: str
    negate: bool

    def holds(self, scope: Mapping[str, Any]) -> bool:
        return bool(_lookup(scope, self.path)) != self.negate


@dataclass(frozen=True)
class _If:
    branches: tuple[tuple[_Test, tuple[_Node, ...]], ...]
    otherwise: tuple[_Node, ...]

    def write(self, scope: Mapping[str, Any], out: list[str], env: _Env) -> None:
        for test, body in self.branches:
            if test.holds(scope):
                _write_all(body, scope, out, env)
                return
        _write_all(self.otherwise, scope, out, env)


@dataclass(frozen=True)
class _For:
    name: str
    path: str
    body: tuple[_Node, ...]
    otherwise: tuple[_Node, ...]

    def write(self, scope: Mapping[str, Any], out: list[str], env: _Env) -> None:
        found = _lookup(scope, self.path)
        items = list(found) if isinstance(found, Iterable) else []
        if not items:
            _write_all(self.otherwise, scope, out, env)
            return
        for index, item in enumerate(items, 1):
            inner = _Scope({self.name: item, "loop": Loop(index, len(items))}, scope)
            _write_all(self.body, inner, out, env)


@dataclass(frozen=True)
class _Include:
    name: str

    def write(self, scope: Mapping[str, Any], out: list[str], env: _Env) -> None:
        _write_all(env.load(self.name).nodes, scope, out, env)


# --- compiling ------------------------------------------------------------------------

_TAG = re.compile(r"\{\{(.*?)\}\}|\{%(.*?)%\}", re.S)
_PATH = r"[A-Za-z_][\w\-]*(?:\.[\w\-]+)*"
_VALUE = re.compile(_PATH)
_WORDS = re.compile(r"_:([A-Za-z_][\w.\-]*)((?:\s+[A-Za-z_]\w*=" + _PATH + r")*)")
_NAMED = re.compile(r"([A-Za-z_]\w*)=(" + _PATH + ")")
_TEST = re.compile(r"(not\s+)?(" + _PATH + ")")
_FOR = re.compile(r"([A-Za-z_]\w*)\s+in\s+(" + _PATH + ")")
_INCLUDE = re.compile(r"""(["'])([\w\-][\w.\-/]*)\1""")
_ENDS = {"if": "endif", "for": "endfor"}


@dataclass(frozen=True)
class _Token:
    kind: str  # "text", "value" or "tag"
    text: str
    line: int


def _alone(source: str, start: int, end: int) -> bool:
    """Whether source[start:end] is the only thing on its line but white space."""
    before = source[source.rfind("\n", 0, start) + 1 : start]
    after_end = source.find("\n", end)
    after = source[end : len(source) if after_end < 0 else after_end]
    return not before.strip() and not after.strip()


def _tokens(source: str) -> list[_Token]:
    tokens: list[_Token] = []
    pos = 0
    for match in _TAG.finditer(source):
        start, end = match.start(), match.end()
        line = source.count("\n", 0, start) + 1
        is_tag = match.group(2) is not None
        text = source[pos:start]
        if is_tag and _alone(source, start, end):
            text = text[: text.rfind("\n") + 1]  # its indentation goes
            newline = source.find("\n", end)
            end = len(source) if newline < 0 else newline + 1
        if text:
            tokens.append(_Token("text", text, line))
        if is_tag:
            tokens.append(_Token("tag", match.group(2).strip(), line))
        else:
            tokens.append(_Token("value", match.group(1).strip(), line))
        pos = end
    if pos < len(source):
        tokens.append(_Token("text", source[pos:], source.count("\n", 0, pos) + 1))
    return tokens


def _split(tag: str) -> tuple[str, str]:
    """A tag's first word and the rest."""
    parts = tag.split(None, 1)
    return (parts[0] if parts else ""), (parts[1].strip() if len(parts) > 1 else "")


@dataclass
class _Stop:
    """The tag that ended a block: its first word, the rest, and its line."""

    word: str
    rest: str
    line: int


class _Parser:
    def __init__(self, name: str, source: str) -> None:
        self.name = name
        self.tokens = _tokens(source)
        self.at = 0

    def fail(self, line: int, message: str) -> TemplateError:
        return TemplateError(self.name, line, message)

    def parse(self) -> tuple[_Node, ...]:
        nodes, _ = self.block((), None)
        return nodes

    def block(
        self, stops: tuple[str, ...], opener: _Token | None
    ) -> tuple[tuple[_Node, ...], _Stop]:
        """Nodes up to a tag in ``stops`` (the end of the template when there are none)."""
        nodes: list[_Node] = []
        while self.at < len(self.tokens):
            token = self.tokens[self.at]
            self.at += 1
            if token.kind == "text":
                nodes.append(_Text(token.text))
            elif token.kind == "value":
                nodes.append(self.value(token))
            else:
                word, rest = _split(token.text)
                if word in stops:
                    return tuple(nodes), _Stop(word, rest, token.line)
                nodes.append(self.tag(token, word, rest))
        if opener is not None:
            word = opener.text.split()[0]
            raise self.fail(opener.line, f"{{% {word} %}} is never closed by {{% {_ENDS[word]} %}}")
        return tuple(nodes), _Stop("", "", 0)

    def value(self, token: _Token) -> _Node:
        if _VALUE.fullmatch(token.text):
            return _Value(token.text)
        words = _WORDS.fullmatch(token.text)
        if words:
            named = tuple((m.group(1), m.group(2)) for m in _NAMED.finditer(words.group(2)))
            return _Words(words.group(1), named)
        raise self.fail(token.line, f"cannot read {{{{ {token.text} }}}}")

    def tag(self, token: _Token, word: str, rest: str) -> _Node:
        if word == "if":
            return self.if_block(token, rest)
        if word == "for":
            return self.for_block(token, rest)
        if word == "include":
            found = _INCLUDE.fullmatch(rest)
            if not found or ".." in found.group(2):
                raise self.fail(token.line, f'{{% include {rest} %}}: expected a "name.html"')
            return _Include(found.group(2))
        if word in ("elif", "else", "endif", "endfor"):
            raise self.fail(token.line, f"{{% {word} %}} without its {{% if %}} or {{% for %}}")
        raise self.fail(token.line, f"unknown tag {{% {token.text} %}}")

    def test(self, line: int, rest: str) -> _Test:
        found = _TEST.fullmatch(rest)
        if not found:
            raise self.fail(line, f"cannot read the condition {rest!r}")
        return _Test(found.group(2), found.group(1) is not None)

    def bare(self, stop: _Stop) -> None:
        if stop.rest:
            raise self.fail(stop.line, f"unexpected {stop.rest!r} after {{% {stop.word} %}}")

    def if_block(self, token: _Token, rest: str) -> _Node:
        branches = []
        test = self.test(token.line, rest)
        otherwise: tuple[_Node, ...] = ()
        while True:
            body, stop = self.block(("elif", "else", "endif"), token)
            branches.append((test, body))
            if stop.word != "elif":
                break
            test = self.test(stop.line, stop.rest)
        if stop.word == "else":
            self.bare(stop)
            otherwise, stop = self.block(("endif",), token)
        self.bare(stop)
        return _If(tuple(branches), otherwise)

    def for_block(self, token: _Token, rest: str) -> _Node:
        found = _FOR.fullmatch(rest)
        if not found:
            raise self.fail(token.line, f"expected {{% for item in items %}}, not {rest!r}")
        body, stop = self.block(("else", "endfor"), token)
        otherwise: tuple[_Node, ...] = ()
        if stop.word == "else":
            self.bare(stop)
            otherwise, stop = self.block(("endfor",), token)
        self.bare(stop)
        return _For(found.group(1), found.group(2), body, otherwise)


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
        self.nodes = _Parser(name, source).parse()
        self.load = load or template

    def render(self, context: Mapping[str, Any], translate: Translate) -> Markup:
        out: list[str] = []
        _write_all(self.nodes, context, out, _Env(translate, self.load))
        return Markup("".join(out))


@functools.cache
def template(name: str) -> Template:
    """Template ``name`` from the templates folder, compiled (once)."""
    return Template((TEMPLATES / name).read_text(encoding="utf-8"), name)


def render(name: str, context: Mapping[str, Any], translate: Translate) -> Markup:
    """Fill template ``name`` from ``context``; ``{{ _:key … }}`` through ``translate``
    (called as ``translate(key, **values)``)."""
    return template(name).render(context, translate)
