"""Multi-row INSERTs for MySQL / MariaDB with their values in the SQL text.

aiomysql quotes each parameter in Python, character by character: for a push of 10,000
jobs (40,000 parameters) that was most of the push's time (issue #16). Here a value
becomes SQL text in C: :func:`sql_literal`, used by ``_MysqlTx.insert_many``
(``db/mysql.py``) through :meth:`Query.inline_many <syncpay.db.queries.Query.inline_many>`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import aiomysql

from .queries import Query

#: Rows in one multi-row INSERT at most.
MAX_ROWS_PER_INSERT = 1000
#: Characters of SQL in one multi-row INSERT (a row longer than that goes alone): far
#: below max_allowed_packet (16 MiB by default since MariaDB 10.2), text being written
#: in hex, twice its UTF-8 size.
MAX_INSERT_CHARS = 4 << 20


def sql_literal(value: Any, escape: Callable[[Any], str]) -> str:
    """One value as SQL text, made in C rather than by the driver's quoting. A string
    without a quote, a backslash or a NUL is quoted as it is (nothing in it can end the
    literal or escape, whatever the SQL mode); any other string is hex with its
    character set (``_utf8mb4 X'…'``). Integers and NULL as such; anything else as the
    driver quotes it (``escape``: the connection's)."""
    kind = type(value)
    if kind is str:
        if "'" in value or "\\" in value or "\0" in value:
            return f"_utf8mb4 X'{value.encode('utf-8').hex()}'"
        return f"'{value}'"
    if kind is int:
        return int.__repr__(value)
    if value is None:
        return "NULL"
    return escape(value)


async def insert_inline(
    cursor: aiomysql.Cursor, query: Query, rows: Sequence[Mapping[str, Any]]
) -> int:
    """Run ``query`` (a multi-row INSERT, or an UPDATE from a derived table whose
    ``VALUES (…)`` group repeats per row) for ``rows``, on ``cursor``, in statements of at
    most :data:`MAX_ROWS_PER_INSERT` rows and about :data:`MAX_INSERT_CHARS`; the rows
    the statements changed."""
    literal = functools.partial(sql_literal, escape=cursor.connection.escape)
    changed = 0
    for start in range(0, len(rows), MAX_ROWS_PER_INSERT):
        chunk = rows[start : start + MAX_ROWS_PER_INSERT]
        for sql in query.inline_many(chunk, literal, MAX_INSERT_CHARS):
            changed += int(await cursor.execute(sql))
    return changed
