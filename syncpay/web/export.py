"""CSV downloads, one writer for every export (the student list, the report).

:func:`csv_response` streams an answer: ``text/csv; charset=utf-8``, UTF-8 with a byte
order mark (so Excel reads the accents), an ``attachment`` with an ASCII file name,
rows written a chunk at a time as they come (never the whole file in memory; a slow
client holds the writer back instead of filling the server's memory).

The separator is ``;`` by default, what Excel opens as columns in an Indonesian locale
(where ``,`` is the decimal comma); ``?sep=,`` gives commas. Any other value is refused
with 422 before anything is sent. Quoting is RFC 4180's (a field with the separator, a
quote or a line break is quoted, quotes doubled; lines end with CRLF).

Cells are typed. Numbers (``int``, ``Decimal``) are written plain: no thousands
separator, ``.`` as the decimal point, a whole amount without decimals, a negative one
with its ``-``: they stay numbers in a spreadsheet. Text is neutralised against formula
injection: a text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return gets a ``'`` in front, so a student called ``=HYPERLINK(…)`` stays a name (a
text ``-5`` too: only numbers are numbers). ``None`` is an empty cell.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import AsyncIterable, Iterable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from aiohttp import web

from .errors import ApiError
from .i18n import text
from .middlewares import SECURITY_HEADERS

log = logging.getLogger(__name__)

__all__ = [
    "BOM",
    "SEPARATORS",
    "Cell",
    "csv_response",
    "csv_route",
    "export_filename",
    "is_csv_route",
    "number_cell",
    "read_separator",
    "text_cell",
]

#: A cell: text (neutralised), a number (written plain), or nothing.
Cell = str | int | Decimal | None
#: The separators ``?sep=`` may ask for; the first is the default.
SEPARATORS = (";", ",")
BOM = "\ufeff"
#: What a text cell may not start with (a spreadsheet would read a formula).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
#: Rows gathered before a write (and bytes, whichever comes first).
CHUNK_ROWS = 500
CHUNK_BYTES = 64 * 1024
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9]+")
MAX_NAME_PART = 40


def csv_route(handler: Any) -> Any:
    """Mark a handler that answers a CSV download (``/openapi.json`` documents it: its
    200 is ``text/csv``, its refusals are JSON to an API client)."""
    handler.__syncpay_csv__ = True
    return handler


def is_csv_route(handler: Any) -> bool:
    return bool(getattr(handler, "__syncpay_csv__", False))


def read_separator(request: web.Request) -> str:
    """``?sep=`` (the last one given): ``;`` when absent or empty (as a form sends it),
    else ``;`` or ``,``; anything else is a 422 with one line."""
    values = request.query.getall("sep", [])
    if not values or values[-1] == "":
        return SEPARATORS[0]
    if values[-1] not in SEPARATORS:
        raise ApiError(422, text(request, "export.err.sep"))
    return values[-1]


def text_cell(value: str) -> str:
    """A text cell as written: a leading ``= + - @``, tab or CR gets a ``'``."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def number_cell(value: int | Decimal) -> str:
    """``1250000``, ``-5000``, ``12.5``: a plain number a spreadsheet reads in any locale."""
    if isinstance(value, bool):  # a bool is an int: refuse to write it as a number
        raise TypeError("a CSV number cell cannot be a bool")
    if isinstance(value, int):
        return str(value)
    if not value.is_finite():
        return ""
    if value == value.to_integral_value():
        return str(int(value))
    shown = f"{value:f}"
    return shown.rstrip("0").rstrip(".") if "." in shown else shown


def _cell(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return text_cell(value)
    return number_cell(value)


def export_filename(name: str, parts: Iterable[str | None] = (), *, day: date) -> str:
    """``siswa-2026-12-06-SMP-VII_A.csv``: the export's name, the date, then each filter
    given, ASCII letters and digits only (anything else becomes ``_``), each cut to 40."""
    pieces = [name, day.isoformat()]
    for part in parts:
        cleaned = _UNSAFE_NAME.sub("_", part or "").strip("_")[:MAX_NAME_PART].strip("_")
        if cleaned:
            pieces.append(cleaned)
    return "-".join(pieces) + ".csv"


class _Buffer:
    """The text of the rows not yet sent, written by a ``csv.writer``."""

    def __init__(self, separator: str) -> None:
        self.io = io.StringIO()
        self.writer = csv.writer(self.io, delimiter=separator, quotechar='"', lineterminator="\r\n")
        self.rows = 0

    def add(self, row: Sequence[Cell]) -> None:
        self.writer.writerow([_cell(value) for value in row])
        self.rows += 1

    @property
    def full(self) -> bool:
        return self.rows >= CHUNK_ROWS or self.io.tell() >= CHUNK_BYTES

    def take(self) -> bytes:
        data = self.io.getvalue().encode("utf-8")
        self.io.seek(0)
        self.io.truncate()
        self.rows = 0
        return data


async def csv_response(
    request: web.Request,
    filename: str,
    header: Sequence[str],
    rows: AsyncIterable[Sequence[Cell]],
) -> web.StreamResponse:
    """Stream ``header`` then ``rows`` as a CSV download named ``filename`` (ASCII, see
    :func:`export_filename`). The separator is checked first: a bad ``?sep=`` is a 422
    and nothing is sent."""
    separator = read_separator(request)
    response = web.StreamResponse(
        status=200,
        headers={
            **SECURITY_HEADERS,
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )
    await response.prepare(request)
    if request.method == "HEAD":  # the headers only: no body, no rows read
        await response.write_eof()
        return response
    buffer = _Buffer(separator)
    buffer.add(list(header))
    await response.write(BOM.encode("utf-8") + buffer.take())
    try:
        async for row in rows:
            buffer.add(row)
            if buffer.full:
                await response.write(buffer.take())
    except Exception:
        # Too late for an error answer: end the connection without the body's last
        # chunk, so the client sees a broken download, never a file that looks whole.
        log.exception("%s %s: the CSV broke off", request.method, request.path)
        if request.transport is not None:
            request.transport.close()
        return response
    if buffer.rows:
        await response.write(buffer.take())
    await response.write_eof()
    return response
