"""The CSV writer every export uses (syncpay/web/export.py), in-process: cells (numbers
plain, text neutralised against formula injection), RFC 4180 quoting with ``;`` and
``,``, the BOM, a bad separator refused before anything is sent, the file name, and rows
written in chunks as they come."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import ClientPayloadError, web
from aiohttp.test_utils import TestClient, TestServer

from syncpay.web import export
from syncpay.web.errors import ApiError
from syncpay.web.export import Cell, csv_response, export_filename, number_cell, text_cell

HOSTILE = ["=1+2", "+1", "-1", "@SUM(A1)", "\tx", "\rx", '=HYPERLINK("http://x")']


def test_number_cells_are_plain_numbers() -> None:
    assert number_cell(1_250_000) == "1250000"
    assert number_cell(Decimal("1250000.00")) == "1250000"
    assert number_cell(Decimal("-5000.00")) == "-5000"
    assert number_cell(Decimal("12.50")) == "12.5"
    assert number_cell(Decimal("0.05")) == "0.05"
    assert number_cell(Decimal("0E-2")) == "0"
    with pytest.raises(TypeError):
        number_cell(True)


@pytest.mark.parametrize("value", HOSTILE)
def test_text_starting_like_a_formula_is_neutralised(value: str) -> None:
    assert text_cell(value) == "'" + value


def test_ordinary_text_is_left_alone() -> None:
    for value in ("Ani", "a=b", "1-2", " =x", "", "O'Brien"):
        assert text_cell(value) == value


def test_file_name_is_ascii_with_the_date_and_filters() -> None:
    day = date(2026, 12, 6)
    assert export_filename("siswa", ["SMP", "VII A"], day=day) == "siswa-2026-12-06-SMP-VII_A.csv"
    assert export_filename("siswa", [None, ""], day=day) == "siswa-2026-12-06.csv"
    hostile = export_filename("siswa", ['"; x=é/../\r\n', "ñ" * 90, "a" * 90], day=day)
    assert hostile == "siswa-2026-12-06-x-" + "a" * 40 + ".csv"
    assert hostile.isascii()


async def _rows(items: Sequence[Sequence[Cell]]) -> AsyncIterator[Sequence[Cell]]:
    for item in items:
        yield item


async def _download(rows: list[list[Cell]], query: str = "") -> tuple[int, Any, bytes]:
    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            return await csv_response(request, "t-2026-12-06.csv", ["Nama", "Uang"], _rows(rows))
        except ApiError as exc:
            return web.Response(status=exc.status, text=exc.message)

    app = web.Application()
    app.router.add_get("/x.csv", handler)
    # text() needs the catalogues and a session: the 422 case stubs its words.
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/x.csv" + query)
        return response.status, response.headers, await response.read()


def _parse(body: bytes, separator: str) -> list[list[str]]:
    assert body.startswith(b"\xef\xbb\xbf")
    text = body.decode("utf-8").removeprefix("\ufeff")
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=separator))


@pytest.mark.parametrize("separator", [";", ","])
async def test_round_trip_with_either_separator(separator: str) -> None:
    rows: list[list[Cell]] = [
        ['Ani; "Nur", Hasanah', Decimal("1250000.00")],
        ["Line\nbreak", -5000],
        [None, Decimal("12.50")],
        *[[name, 1] for name in HOSTILE],
    ]
    query = "" if separator == ";" else "?sep=,"
    status, headers, body = await _download(rows, query)
    assert status == 200
    assert headers["Content-Type"] == "text/csv; charset=utf-8"
    assert headers["Content-Disposition"] == 'attachment; filename="t-2026-12-06.csv"'
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert body.count(b"\r\n") >= len(rows) + 1  # CRLF line ends (one inside a field)
    parsed = _parse(body, separator)
    assert parsed[0] == ["Nama", "Uang"]
    assert parsed[1] == ['Ani; "Nur", Hasanah', "1250000"]
    assert parsed[2] == ["Line\nbreak", "-5000"]  # a negative number stays a number
    assert parsed[3] == ["", "12.5"]
    assert [row[0] for row in parsed[4:]] == ["'" + name for name in HOSTILE]


async def test_a_bad_separator_is_refused_before_anything_is_sent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(export, "text", lambda request, key, **values: key)
    for query in ("?sep=%09", "?sep=|", "?sep=;;", "?sep=%20", "?sep=,&sep=x"):
        status, _, body = await _download([["a", 1]], query)
        assert (status, body) == (422, b"export.err.sep"), query
    status, _, _ = await _download([["a", 1]], "?sep=x&sep=,")  # the last one counts
    assert status == 200
    status, _, body = await _download([["a", 1]], "?sep=")  # empty: not given (a form)
    assert status == 200 and b"a;1" in body


async def test_rows_are_written_in_chunks_as_they_come(monkeypatch: pytest.MonkeyPatch) -> None:
    writes: list[int] = []
    original = web.StreamResponse.write

    async def counting(self: web.StreamResponse, data: bytes) -> None:
        writes.append(len(data))
        await original(self, data)

    monkeypatch.setattr(web.StreamResponse, "write", counting)
    rows: list[list[Cell]] = [[f"siswa {i}", i] for i in range(3 * export.CHUNK_ROWS + 7)]
    status, _, body = await _download(rows)
    assert status == 200
    assert len(_parse(body, ";")) == len(rows) + 1
    # the header, three full chunks, the rest: never the whole file at once
    assert len(writes) >= 5
    assert max(writes) < len(body) / 2


async def test_a_failure_after_the_start_breaks_the_download_off() -> None:
    """Too late for an error answer: the client gets a broken transfer, never a file
    that looks whole (nor an error page written into the CSV)."""

    async def failing() -> AsyncIterator[Sequence[Cell]]:
        for i in range(2 * export.CHUNK_ROWS):
            yield [f"siswa {i}", i]
        raise RuntimeError("the database went away")

    async def handler(request: web.Request) -> web.StreamResponse:
        return await csv_response(request, "t.csv", ["Nama", "Uang"], failing())

    app = web.Application()
    app.router.add_get("/x.csv", handler)
    async with TestClient(TestServer(app)) as client:
        response = await client.get("/x.csv")
        assert response.status == 200
        with pytest.raises(ClientPayloadError):
            await response.read()


async def test_head_sends_the_headers_and_reads_no_rows() -> None:
    async def untouched() -> AsyncIterator[Sequence[Cell]]:
        raise AssertionError("a HEAD request read the rows")
        yield ["never"]

    async def handler(request: web.Request) -> web.StreamResponse:
        return await csv_response(request, "t.csv", ["Nama"], untouched())

    app = web.Application()
    app.router.add_get("/x.csv", handler)
    async with TestClient(TestServer(app)) as client:
        response = await client.head("/x.csv")
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
