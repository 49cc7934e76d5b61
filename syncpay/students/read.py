"""Reading a roster source: a CSV file (:func:`read_csv`) or the roster API
(:func:`fetch_api`, :func:`api_rows`), as (line or item number, raw row) pairs for the
import (``students/importing.py``). ``RosterError``: the source cannot be read at all.
"""

from __future__ import annotations

import _csv
import asyncio
import csv
import io
import json
import operator
from collections.abc import Iterator
from os import PathLike
from pathlib import Path

import aiohttp

from ..roster_columns import ROSTER_COLUMNS
from ..sync.sources import (
    ACCEPT_ENCODING,
    BadEncoding,
    TooLarge,
    describe_url,
    read_capped,
    redirect_error,
)
from ..text import clean
from .rows import REQUIRED, column_of

__all__ = ["RosterError", "api_rows", "fetch_api", "read_csv"]

#: Columns whose values repeat from student to student (the CSV reader shares them).
_REPEATED = frozenset(ROSTER_COLUMNS) - {"idperson", "nama", "phone", "lahirtanggal"}
#: At most this many distinct values are shared (values that never repeat cost more).
_SHARED_MAX = 10_000


class RosterError(Exception):
    """The source cannot be read at all (one line naming the file or URL and why)."""


# --------------------------------------------------------------------------- CSV


def _delimiter(header_line: str) -> str:
    """The separator the header line uses most: ``,`` ``;`` or a tab."""
    counts = {sep: header_line.count(sep) for sep in (",", ";", "\t")}
    best = max(counts, key=lambda sep: counts[sep])
    return best if counts[best] else ","


def read_csv(path: str | PathLike[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """The rows of a roster CSV file: (line number, {column: text}).

    UTF-8 with or without a BOM; ``,``, ``;`` or tab separated (as the header line
    shows); header names matched without case (``Unit Formal`` is ``UnitFormal``);
    unknown columns ignored; empty lines skipped. The file and its header are read
    now (``RosterError`` when it cannot be read, is not UTF-8 or has no ``idperson`` or
    ``nama`` column); the rows when iterated. Line numbers count the header as line 1;
    a row with a line break inside a quoted value is numbered by its first line.
    """
    name = str(path)
    text = _read_text(path)
    first_line = next((line for line in io.StringIO(text) if line.strip()), "")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(first_line))
    try:
        header = next((cells for cells in reader if any(c.strip() for c in cells)), None)
    except csv.Error as exc:
        raise RosterError(f"{name}: line {reader.line_num}: {exc}") from exc
    if header is None:
        raise RosterError(f"{name}: the file is empty")
    positions = _positions(name, header)
    return _rows(name, reader, reader.line_num, positions)


def _read_text(path: str | PathLike[str]) -> str:
    """The file's text (UTF-8, a BOM dropped)."""
    name = str(path)
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise RosterError(f"{name}: cannot read the file ({exc.strerror or exc})") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise RosterError(f"{name}: not UTF-8 text (line {line}); save it as 'CSV UTF-8'") from exc


def _positions(name: str, header: list[str]) -> dict[str, int]:
    """Column → its position in the header (the roster columns the header names)."""
    positions: dict[str, int] = {}
    for index, cell in enumerate(header):
        column = column_of(cell.replace("\ufeff", ""))
        if column is None:
            continue
        if column in positions:
            raise RosterError(
                f"{name}: the header has {column} twice (columns {positions[column] + 1} "
                f"and {index + 1})"
            )
        positions[column] = index
    absent = [column for column in REQUIRED if column not in positions]
    if absent:
        raise RosterError(f"{name}: no {' or '.join(absent)} column")
    return positions


def _rows(
    name: str, reader: _csv.Reader, header_line: int, positions: dict[str, int]
) -> Iterator[tuple[int, dict[str, str]]]:
    """The rows after the header, numbered by their first line."""
    columns = list(positions)  # idperson and nama at least: pick() gives a tuple
    width = max(positions.values()) + 1
    pick = operator.itemgetter(*positions.values())
    # One string per distinct value of the columns that repeat (unit, class, place…):
    # 100,000 students hold a few hundred strings there, not 800,000 (34 MB less).
    repeated = [column for column in columns if column in _REPEATED]
    seen: dict[str, str] = {}
    line = header_line
    try:
        for cells in reader:
            number, line = line + 1, reader.line_num
            if not "".join(cells).strip():
                continue  # an empty line, or ;;;;; (an empty spreadsheet row)
            if len(cells) < width:
                cells = cells + [""] * (width - len(cells))
            row = dict(zip(columns, pick(cells), strict=True))
            for column in repeated:
                value = row[column]
                shared = seen.get(value)
                if shared is not None:
                    row[column] = shared
                elif len(seen) < _SHARED_MAX:
                    seen[value] = value
            yield number, row
    except csv.Error as exc:
        raise RosterError(f"{name}: line {line + 1}: {exc}") from exc


# --------------------------------------------------------------------------- the API


def api_rows(answer: object, label: str = "the roster API") -> list[tuple[int, dict[str, object]]]:
    """The rows of a roster API answer: ``{"status": true, "data": [...]}`` or a bare
    list; (1-based item number, {column: value}), keys matched as CSV headers are."""
    items: object = answer
    if isinstance(answer, dict):
        if answer.get("status") is False:
            message = answer.get("message")
            detail = f": {clean(' '.join(str(message).split()), 200)}" if message else ""
            raise RosterError(f"{label}: the API answered status false{detail}")
        if "data" not in answer:
            raise RosterError(f"{label}: the answer has no 'data' list")
        items = answer["data"]
    if not isinstance(items, list):
        raise RosterError(f"{label}: expected a list of students, got {type(items).__name__}")
    rows: list[tuple[int, dict[str, object]]] = []
    for number, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            kind = "null" if item is None else type(item).__name__
            raise RosterError(f"{label}: item {number} of the data is a {kind}, not a student")
        row: dict[str, object] = {}
        for key, value in item.items():
            column = column_of(str(key))
            if column is not None and (column not in row or key == column):
                row[column] = value
        rows.append((number, row))
    return rows


async def fetch_api(
    url: str,
    timeout: float = 30,
    *,
    deadline: float = 300,
    max_bytes: int = 64 * 1024 * 1024,
    max_items: int = 200_000,
) -> list[tuple[int, dict[str, object]]]:
    """GET the roster API and return its rows (see :func:`api_rows`).

    ``timeout``: seconds to connect, and seconds without data while reading;
    ``deadline``: seconds for the whole fetch (a server sending a byte now and then
    cannot keep an import, and a cron job, for ever). The answer is capped while it is
    read: more than ``max_bytes`` (raw or decompressed: a gzip
    bomb is stopped at the cap) or ``max_items`` students is refused. HTTP errors, an
    unreachable server, an answer too large, not JSON or not a roster: ``RosterError``
    (one line naming the API).
    """
    label = describe_url(url)
    client_timeout = aiohttp.ClientTimeout(total=None, connect=timeout, sock_read=timeout)
    headers = {"Accept": "application/json", "Accept-Encoding": ACCEPT_ENCODING}
    whole = asyncio.timeout(deadline)
    try:
        async with (
            whole,
            aiohttp.ClientSession(timeout=client_timeout, auto_decompress=False) as session,
            session.get(url, headers=headers, allow_redirects=False) as response,
        ):
            if 300 <= response.status < 400:
                location = response.headers.get("Location")
                raise RosterError(f"{label}: {redirect_error(response.status, location, url)}")
            if response.status >= 400:
                reason = f" {clean(response.reason, 100)}" if response.reason else ""
                raise RosterError(f"{label}: HTTP {response.status}{reason}")
            body = await read_capped(response, max_bytes, "")
    except TimeoutError as exc:
        if whole.expired():
            late = f"the whole answer did not come within {deadline:g}s"
            raise RosterError(f"{label}: {late}") from exc
        raise RosterError(f"{label}: no answer within {timeout:g}s") from exc
    except (TooLarge, BadEncoding) as exc:
        raise RosterError(f"{label}: {exc}") from exc
    except (aiohttp.ClientError, ValueError) as exc:
        detail = clean(" ".join(str(exc).split()) or type(exc).__name__, 200)
        raise RosterError(f"{label}: cannot fetch the roster ({detail})") from exc
    try:
        answer = json.loads(body)
    except (ValueError, RecursionError) as exc:  # RecursionError: nested too deep
        start = clean(" ".join(body[:40].decode("utf-8", "replace").split()))
        raise RosterError(f"{label}: the answer is not JSON (it starts {start!r})") from exc
    rows = api_rows(answer, label)
    if len(rows) > max_items:
        raise RosterError(f"{label}: answer with {len(rows)} students, more than {max_items}")
    return rows
