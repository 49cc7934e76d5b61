"""Named SQL queries: ``queries/<dialect>/<area>.sql``, the same names in each dialect.

A file holds blocks headed ``-- name: some_name``. Parameters are written
``:name``; a parameter whose value is a list or tuple expands to one placeholder
per item (for ``IN (:ids)``). ``{jobs}`` stands for the configured queue table.
Each dialect turns ``:name`` into its own positional placeholder at load time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

# A Path, or a zipfile.Path when running from syncpay.pyz.
QUERY_DIR = resources.files("syncpay") / "db" / "queries"

_HEADER = re.compile(r"^--\s*name:\s*([a-z_][a-z0-9_]*)\s*$", re.MULTILINE)
# A comment or a quoted string literal (both left alone), or a :param (not ::cast, not
# inside a word).
_TOKEN = re.compile(r"--[^\n]*|'(?:[^']|'')*'|(?<![:\w]):([A-Za-z_][A-Za-z0-9_]*)")
_VALUES = re.compile(r"\bVALUES\s*\(", re.IGNORECASE)


class QueryError(Exception):
    """A query file or a call to a query is wrong (a programming error)."""


@dataclass(frozen=True, slots=True)
class Query:
    """One named query, split around its parameters."""

    name: str
    text: str
    # The SQL between parameters: len(parts) == len(params) + 1.
    parts: tuple[str, ...]
    params: tuple[str, ...]
    placeholder: str
    _cache: dict[tuple[int, ...], str] = field(default_factory=dict, compare=False, repr=False)
    _values: list[tuple[str, str, tuple[str, ...], str]] = field(
        default_factory=list, compare=False, repr=False
    )

    def bind(self, values: Mapping[str, Any] | None) -> tuple[str, list[Any]]:
        """SQL with positional placeholders and the flat argument list."""
        values = values or {}
        args: list[Any] = []
        sizes: list[int] = []
        for name in self.params:
            try:
                value = values[name]
            except KeyError:
                raise QueryError(f"query {self.name!r} needs parameter {name!r}") from None
            if isinstance(value, (list, tuple, set, frozenset)):
                items = list(value)
                if not items:
                    # IN () is not valid SQL; NULL matches nothing.
                    items = [None]
                sizes.append(len(items))
                args.extend(items)
            else:
                sizes.append(0)
                args.append(value)
        key = tuple(sizes)
        sql = self._cache.get(key)
        if sql is None:
            pieces = [self.parts[0]]
            for size, part in zip(sizes, self.parts[1:], strict=True):
                pieces.append(", ".join([self.placeholder] * size) if size else self.placeholder)
                pieces.append(part)
            sql = "".join(pieces)
            if len(self._cache) < 64:
                self._cache[key] = sql
        return sql, args

    def bind_many(self, rows: Sequence[Mapping[str, Any]]) -> tuple[str, list[Any]]:
        """A multi-row INSERT: the ``VALUES (...)`` group repeated once per row.

        Text after the group (``ON CONFLICT ...``) is kept; it may not take parameters.
        """
        head, group_sql, group_params, tail = self._values_group()
        sql = head + ", ".join([group_sql] * len(rows)) + tail
        args: list[Any] = []
        for row in rows:
            args.extend([row[name] for name in group_params])
        return sql, args

    def inline_many(
        self, rows: Sequence[Mapping[str, Any]], literal: Callable[[Any], str], budget: int
    ) -> Iterator[str]:
        """Multi-row statements (an INSERT, or an UPDATE from a derived table: the first
        ``VALUES (…)`` group repeats per row) with the values written into the SQL text
        by ``literal`` (the dialect's own, complete quoting of one value), each at most about
        ``budget`` characters long (a longer row goes alone). For the ``%s`` style only.

        A driver that quotes parameters quotes each one in Python; for MySQL that was most
        of ``push_many``'s time (issue #16). The text is final: run it without arguments.
        """
        if self.placeholder != "%s":
            raise QueryError(f"query {self.name!r}: inline_many needs the %s placeholder style")
        head, group_sql, group_params, tail = self._values_group()
        # The compiled pieces double every literal % (pyformat); the text sent is final.
        head, tail = head % (), tail % ()
        batch: list[str] = []
        size = 0
        for row in rows:
            values = group_sql % tuple([literal(row[name]) for name in group_params])
            if batch and size + len(values) > budget:
                yield head + ",".join(batch) + tail
                batch, size = [], 0
            batch.append(values)
            size += len(values) + 1
        if batch:
            yield head + ",".join(batch) + tail

    def _values_group(self) -> tuple[str, str, tuple[str, ...], str]:
        if self._values:
            return self._values[0]
        match = _VALUES.search(self.text)
        if match is None:
            raise QueryError(f"query {self.name!r} has no VALUES (...) group")
        start = match.end() - 1
        depth = 0
        end = start
        for end in range(start, len(self.text)):
            char = self.text[end]
            depth += (char == "(") - (char == ")")
            if depth == 0:
                break
        head, group, tail = self.text[:start], self.text[start : end + 1], self.text[end + 1 :]
        for piece in (head, tail):
            if _compile_parts(piece, self.placeholder)[1]:
                raise QueryError(f"query {self.name!r}: parameters outside the VALUES group")
        group_parts, group_params = _compile_parts(group, self.placeholder)
        escape = (lambda text: text.replace("%", "%%")) if self.placeholder == "%s" else str
        result = (
            escape(head),
            self.placeholder.join(group_parts),
            tuple(group_params),
            escape(tail),
        )
        self._values.append(result)
        return result


def _compile_parts(text: str, placeholder: str) -> tuple[list[str], list[str]]:
    parts: list[str] = []
    params: list[str] = []
    last = 0
    for match in _TOKEN.finditer(text):
        if match.group(1) is None:
            continue
        parts.append(text[last : match.start()])
        params.append(match.group(1))
        last = match.end()
    parts.append(text[last:])
    if placeholder == "%s":
        # pyformat drivers treat a bare % as the start of a placeholder.
        parts = [part.replace("%", "%%") for part in parts]
    return parts, params


def parse_queries(source: str, placeholder: str, tables: Mapping[str, str]) -> dict[str, Query]:
    """Split a query file into named queries."""
    queries: dict[str, Query] = {}
    headers = list(_HEADER.finditer(source))
    for index, header in enumerate(headers):
        end = headers[index + 1].start() if index + 1 < len(headers) else len(source)
        name = header.group(1)
        body = source[header.end() : end].strip().rstrip(";").strip()
        if not body:
            raise QueryError(f"query {name!r} is empty")
        if name in queries:
            raise QueryError(f"query {name!r} is defined twice")
        for key, table in tables.items():
            body = body.replace("{" + key + "}", table)
        parts, params = _compile_parts(body, placeholder)
        queries[name] = Query(name, body, tuple(parts), tuple(params), placeholder)
    return queries


def load_queries(dialect: str, placeholder: str, tables: Mapping[str, str]) -> dict[str, Query]:
    """Every query of a dialect: all ``queries/<dialect>/*.sql`` files (one per area)."""
    queries: dict[str, Query] = {}
    files = [p for p in (QUERY_DIR / dialect).iterdir() if p.name.endswith(".sql")]
    for path in sorted(files, key=lambda p: p.name):
        found = parse_queries(path.read_text(encoding="utf-8"), placeholder, tables)
        twice = found.keys() & queries.keys()
        if twice:
            raise QueryError(f"{path.name}: queries defined twice: {', '.join(sorted(twice))}")
        queries.update(found)
    return queries
