"""The template language of :mod:`.render` (its syntax is documented there): a
template's text compiled into nodes — text, values, words, ``if``, ``for`` and
``include`` — which write themselves with a context. Compiling raises
:class:`TemplateError` naming the template and line of what cannot be read."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from .markup import escape

#: The page language's text for a key, with named values (``Catalogs.text`` for a page).
Translate = Callable[..., str]


class TemplateError(Exception):
    """A template that cannot be compiled: its name and line are in the message."""

    def __init__(self, template: str, line: int, message: str) -> None:
        super().__init__(f"template {template}, line {line}: {message}")
        self.template = template
        self.line = line


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
class Env:
    """What nodes write with besides the context: the words, and the included templates'
    nodes by name."""

    translate: Translate
    load: Callable[[str], Sequence[Node]]


class Node(Protocol):
    def write(self, scope: Mapping[str, Any], out: list[str], env: Env) -> None: ...


def write_all(nodes: Sequence[Node], scope: Mapping[str, Any], out: list[str], env: Env) -> None:
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

    def write(self, scope: Mapping[str, Any], out: list[str], env: Env) -> None:
        out.append(self.text)


@dataclass(frozen=True)
class _Value:
    path: str

    def write(self, scope: Mapping[str, Any], out: list[str], env: Env) -> None:
        out.append(escape(_lookup(scope, self.path)))


@dataclass(frozen=True)
class _Words:
    key: str
    values: tuple[tuple[str, str], ...]

    def write(self, scope: Mapping[str, Any], out: list[str], env: Env) -> None:
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
    branches: tuple[tuple[_Test, tuple[Node, ...]], ...]
    otherwise: tuple[Node, ...]

    def write(self, scope: Mapping[str, Any], out: list[str], env: Env) -> None:
        for test, body in self.branches:
            if test.holds(scope):
                write_all(body, scope, out, env)
                return
        write_all(self.otherwise, scope, out, env)


@dataclass(frozen=True)
class _For:
    name: str
    path: str
    body: tuple[Node, ...]
    otherwise: tuple[Node, ...]

    def write(self, scope: Mapping[str, Any], out: list[str], env: Env) -> None:
        found = _lookup(scope, self.path)
        items = list(found) if isinstance(found, Iterable) else []
        if not items:
            write_all(self.otherwise, scope, out, env)
            return
        for index, item in enumerate(items, 1):
            inner = _Scope({self.name: item, "loop": Loop(index, len(items))}, scope)
            write_all(self.body, inner, out, env)


@dataclass(frozen=True)
class _Include:
    name: str

    def write(self, scope: Mapping[str, Any], out: list[str], env: Env) -> None:
        write_all(env.load(self.name), scope, out, env)


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


class Parser:
    def __init__(self, name: str, source: str) -> None:
        self.name = name
        self.tokens = _tokens(source)
        self.at = 0

    def fail(self, line: int, message: str) -> TemplateError:
        return TemplateError(self.name, line, message)

    def parse(self) -> tuple[Node, ...]:
        nodes, _ = self.block((), None)
        return nodes

    def block(
        self, stops: tuple[str, ...], opener: _Token | None
    ) -> tuple[tuple[Node, ...], _Stop]:
        """Nodes up to a tag in ``stops`` (the end of the template when there are none)."""
        nodes: list[Node] = []
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

    def value(self, token: _Token) -> Node:
        if _VALUE.fullmatch(token.text):
            return _Value(token.text)
        words = _WORDS.fullmatch(token.text)
        if words:
            named = tuple((m.group(1), m.group(2)) for m in _NAMED.finditer(words.group(2)))
            return _Words(words.group(1), named)
        raise self.fail(token.line, f"cannot read {{{{ {token.text} }}}}")

    def tag(self, token: _Token, word: str, rest: str) -> Node:
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

    def if_block(self, token: _Token, rest: str) -> Node:
        branches = []
        test = self.test(token.line, rest)
        otherwise: tuple[Node, ...] = ()
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

    def for_block(self, token: _Token, rest: str) -> Node:
        found = _FOR.fullmatch(rest)
        if not found:
            raise self.fail(token.line, f"expected {{% for item in items %}}, not {rest!r}")
        body, stop = self.block(("else", "endfor"), token)
        otherwise: tuple[Node, ...] = ()
        if stop.word == "else":
            self.bare(stop)
            otherwise, stop = self.block(("endfor",), token)
        self.bare(stop)
        return _For(found.group(1), found.group(2), body, otherwise)
