"""Payment sources against real servers: the simulator, a small odd API, MariaDB."""

from __future__ import annotations

import asyncio
import datetime as dt
import gzip
import json
import os
import secrets
import socket
import time
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from email.utils import format_datetime
from typing import Any

import aiohttp
import pymysql
import pytest
from aiohttp import web

from syncpay.config import Settings, load_settings
from syncpay.simulator import Simulator, SimulatorOptions
from syncpay.students import RosterError, fetch_api
from syncpay.sync.sources import (
    HttpSource,
    MysqlSource,
    PaymentSource,
    RateLimits,
    SimulatorSource,
    SourceError,
    describe_size,
    describe_url,
    open_source,
    parse_retry_after,
)

IDS = [str(2025000001 + i) for i in range(2000)]
FAULTS = {
    "error_rate": 0.1,
    "fail_rate": 0.1,
    "timeout_rate": 0.1,
    "rate_limit_rate": 0.1,
    "malformed_rate": 0.1,
    "reset_rate": 0.1,
    "not_found_rate": 0.1,
}
MYSQL = {
    "PAYMENT_DB_HOST": os.environ.get("SYNCPAY_TEST_DB_HOST", "127.0.0.1"),
    "PAYMENT_DB_PORT": os.environ.get("SYNCPAY_TEST_DB_PORT", "3306"),
    "PAYMENT_DB_USERNAME": os.environ.get("SYNCPAY_TEST_DB_USERNAME", "root"),
    "PAYMENT_DB_PASSWORD": os.environ.get("SYNCPAY_TEST_DB_PASSWORD", ""),
}
FLAT_QUERY = (
    "SELECT idperiode, judul, nama_unit, jml_kredit, jml_debet, tgl_jurnal FROM jurnal "
    "WHERE idperson = :idperson ORDER BY id"
)


def settings(**values: str) -> Settings:
    return load_settings(values, environ={}, env_file=None)


def first_of(options: SimulatorOptions, category: str) -> str:
    return next(i for i in IDS if options.category(i) == category)


async def fetch_error(source: PaymentSource, idperson: str) -> SourceError:
    with pytest.raises(SourceError) as caught:
        await source.fetch(idperson)
    return caught.value


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- HttpSource


@pytest.mark.parametrize("shape", ["flat", "nested"])
async def test_success_returns_the_exact_body(shape: str) -> None:
    async with Simulator(SimulatorOptions(seed=2, shape=shape)) as sim:
        source = HttpSource(sim.payments_url, None, 5, 0, 4)
        try:
            for idperson in IDS[:5]:
                text = await source.fetch(idperson)
                assert text == sim.answer_text(idperson)
                assert json.loads(text) == sim.answer(idperson)
            assert isinstance(source, PaymentSource)
            assert sim.payments_url in source.describe()
        finally:
            await source.close()
        await source.close()  # idempotent


async def test_each_fault_becomes_the_right_source_error() -> None:
    options = SimulatorOptions(seed=5, retry_after=30, hang=2.0, **FAULTS)
    async with Simulator(options) as sim:
        async with HttpSource(sim.payments_url, timeout=0.5, retry_after_max=3) as source:
            error = await fetch_error(source, first_of(options, "error_once"))
            assert (error.reason, error.status, error.permanent) == ("HTTP 500", 500, False)
            assert error.retry_after is None
            assert await source.fetch(first_of(options, "error_once"))  # second time: fine

            fail = first_of(options, "fail")
            for _ in range(2):
                error = await fetch_error(source, fail)
                assert (error.reason, error.status, error.permanent) == ("HTTP 500", 500, False)

            missing = first_of(options, "not_found")
            error = await fetch_error(source, missing)
            assert (error.reason, error.status, error.permanent) == (
                "HTTP 404 Not Found",
                404,
                True,
            )
            assert str(error) == "HTTP 404 Not Found"

            limited = first_of(options, "rate_limited_once")
            error = await fetch_error(source, limited)
            assert error.status == 429 and not error.permanent
            assert error.retry_after == 3.0  # 30 s asked, capped at retry_after_max
            assert error.reason == "HTTP 429, retry after 3s"
            assert await source.fetch(limited) == sim.answer_text(limited)

            malformed = first_of(options, "malformed_once")
            text = await source.fetch(malformed)  # a 200: the parser judges the body
            with pytest.raises(ValueError):
                json.loads(text)
            assert sim.answer_text(malformed).startswith(text)

            reset = first_of(options, "reset_once")
            error = await fetch_error(source, reset)
            assert (error.reason, error.status, error.permanent) == (
                "connection reset by the API",
                None,
                False,
            )
            assert await source.fetch(reset) == sim.answer_text(reset)

            slow = first_of(options, "timeout_once")
            started = time.monotonic()
            error = await fetch_error(source, slow)
            assert time.monotonic() - started < 1.5
            assert (error.reason, error.status, error.permanent) == (
                "timeout after 0.5s",
                None,
                False,
            )
            assert await source.fetch(slow) == sim.answer_text(slow)


async def test_a_reset_on_a_reused_connection_is_reported_too() -> None:
    options = SimulatorOptions(seed=6, reset_rate=0.5)
    async with Simulator(options) as sim, HttpSource(sim.payments_url) as source:
        await source.fetch(first_of(options, "ok"))  # the pool now holds a connection
        error = await fetch_error(source, first_of(options, "reset_once"))
        assert error.reason == "connection reset by the API"
        assert sim.stats()["by_status"] == {"200": 1, "reset": 1}  # no hidden re-send


async def test_rate_limit_holds() -> None:
    async with Simulator(SimulatorOptions()) as sim:
        async with HttpSource(sim.payments_url, rate=20, concurrency=30) as source:
            started = time.monotonic()
            await asyncio.gather(*(source.fetch(i) for i in IDS[:30]))
            elapsed = time.monotonic() - started
    assert elapsed >= 1.3  # 30 requests 1/20 s apart: 1.45 s
    assert elapsed < 10


async def test_rate_limit_is_shared_by_the_sources_of_one_api() -> None:
    """Sources given one owner's RateLimits share the API's budget."""
    limits = RateLimits()
    async with Simulator(SimulatorOptions()) as sim:
        a = HttpSource(sim.payments_url, rate=20, concurrency=15, limits=limits)
        b = HttpSource(sim.payments_url, rate=20, concurrency=15, limits=limits)
        try:
            started = time.monotonic()
            await asyncio.gather(*(a.fetch(i) for i in IDS[:15]), *(b.fetch(i) for i in IDS[15:30]))
            elapsed = time.monotonic() - started
        finally:
            await a.close()
            await b.close()
    assert elapsed >= 1.3


async def test_concurrency_cap_holds() -> None:
    async with Simulator(SimulatorOptions(latency=0.2)) as sim:
        async with HttpSource(sim.payments_url, concurrency=4) as source:
            started = time.monotonic()
            texts = await asyncio.gather(*(source.fetch(i) for i in IDS[:20]))
            elapsed = time.monotonic() - started
        assert texts == [sim.answer_text(i) for i in IDS[:20]]
        assert sim.stats()["max_concurrent"] <= 4
        assert elapsed >= 0.9  # 5 rounds of 0.2 s


async def test_bearer_token_is_sent() -> None:
    async with Simulator(SimulatorOptions(token="rahasia")) as sim:
        async with HttpSource(sim.payments_url, token="rahasia") as source:
            assert await source.fetch("2025000001") == sim.answer_text("2025000001")
            assert "rahasia" not in source.describe()
        async with HttpSource(sim.payments_url) as source:
            error = await fetch_error(source, "2025000001")
            assert (error.reason, error.status, error.permanent) == (
                "HTTP 401 Unauthorized",
                401,
                True,
            )


@pytest.fixture
async def odd_api() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """An API with statuses and headers the simulator does not make; records requests."""
    seen: list[dict[str, Any]] = []
    future = format_datetime(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=20), usegmt=True)
    answers: dict[str, tuple[int, dict[str, str]]] = {
        "503": (503, {"Retry-After": "7"}),
        "503date": (503, {"Retry-After": future}),
        "503bad": (503, {"Retry-After": "soon"}),
        "502": (502, {"Retry-After": "7"}),  # only 429/503 carry a Retry-After
        "429": (429, {}),
        "408": (408, {}),
        "403": (403, {}),
        "410": (410, {}),
    }

    async def handle(request: web.Request) -> web.StreamResponse:
        seen.append(
            {
                "path": request.raw_path,
                "accept": request.headers.get("Accept"),
                "authorization": request.headers.get("Authorization"),
            }
        )
        key = request.match_info["key"]
        if key == "moved":
            raise web.HTTPFound(str(request.url.with_path("/x/bytes")))
        if key == "bytes":  # a BOM and a byte that is not UTF-8: kept, replaced
            return web.Response(body=b'\xef\xbb\xbf{"nama": "\xff"}')
        if key in answers:
            status, headers = answers[key]
            return web.Response(status=status, headers=headers, text="nope")
        return web.Response(text="{}")

    app = web.Application()
    app.router.add_get("/x/{key}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/x/{{idperson}}", seen
    finally:
        await runner.cleanup()


async def test_headers_quoting_and_other_statuses(
    odd_api: tuple[str, list[dict[str, Any]]],
) -> None:
    url, seen = odd_api
    async with HttpSource(url, token="t0k3n", retry_after_max=300) as source:
        assert await source.fetch("a/b c?d") == "{}"
        assert seen[-1] == {
            "path": "/x/a%2Fb%20c%3Fd",
            "accept": "application/json",
            "authorization": "Bearer t0k3n",
        }
        assert await source.fetch("bytes") == '\ufeff{"nama": "\ufffd"}'
        error = await fetch_error(source, "moved")  # issue #12, item 20: not followed
        location = url.replace("{idperson}", "bytes")
        assert (error.reason, error.status, error.permanent) == (
            f"the API answered a redirect (302 to {location}); syncpay does not follow redirects",
            302,
            True,
        )
        assert seen[-1]["path"] == "/x/moved"

        error = await fetch_error(source, "503")
        assert (error.reason, error.retry_after, error.permanent) == (
            "HTTP 503, retry after 7s",
            7.0,
            False,
        )
        error = await fetch_error(source, "503date")
        assert error.retry_after is not None and 15 <= error.retry_after <= 20
        error = await fetch_error(source, "503bad")
        assert (error.reason, error.retry_after) == ("HTTP 503", None)
        error = await fetch_error(source, "502")
        assert (error.reason, error.retry_after, error.permanent) == ("HTTP 502", None, False)
        error = await fetch_error(source, "429")  # no header: the job's backoff decides
        assert (error.reason, error.status, error.retry_after) == ("HTTP 429", 429, None)
        error = await fetch_error(source, "408")
        assert (error.reason, error.permanent) == ("HTTP 408", False)
        error = await fetch_error(source, "403")
        assert (error.reason, error.permanent) == ("HTTP 403 Forbidden", True)
        error = await fetch_error(source, "410")
        assert (error.reason, error.permanent) == ("HTTP 410 Gone", True)


async def test_connection_refused_is_not_permanent() -> None:
    port = free_port()
    async with HttpSource(f"http://127.0.0.1:{port}/p/{{idperson}}") as source:
        error = await fetch_error(source, "1")
    assert error.reason.startswith(f"cannot connect to the API at 127.0.0.1:{port}")
    assert error.status is None and not error.permanent


def test_parse_retry_after() -> None:
    now = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(" 120 ", cap=60) == 60.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after("Thu, 01 Jan 2026 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Thu, 01 Jan 2026 11:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("Thu, 01 Jan 2026 13:00:00 GMT", now=now, cap=300) == 300.0
    for bad in (None, "", "soon", "-5", "1e9x"):
        assert parse_retry_after(bad) is None


def test_http_source_refuses_a_template_without_placeholder() -> None:
    with pytest.raises(ValueError, match="PAYMENT_API_URL"):
        HttpSource("http://127.0.0.1/payments")


# --------------------------------------------------------------------------- MysqlSource


def _connect(database: str | None = None) -> pymysql.connections.Connection:
    return pymysql.connect(
        host=MYSQL["PAYMENT_DB_HOST"],
        port=int(MYSQL["PAYMENT_DB_PORT"]),
        user=MYSQL["PAYMENT_DB_USERNAME"],
        password=MYSQL["PAYMENT_DB_PASSWORD"],
        database=database,
        autocommit=True,
        connect_timeout=5,
    )


@pytest.fixture(scope="module")
def finance_db() -> Iterator[str]:
    """A database of our own holding a flat-shaped ``jurnal`` table; dropped at the end."""
    try:
        conn = _connect()
    except pymysql.err.OperationalError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"MariaDB unreachable: {exc}")
        pytest.skip(f"MariaDB unreachable: {exc}")
    name = f"syncpay_src_{secrets.token_hex(4)}"
    try:
        with conn.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
            cursor.execute(f"USE `{name}`")
            cursor.execute(
                """CREATE TABLE jurnal (
                    id INT AUTO_INCREMENT PRIMARY KEY,
                    idperson VARCHAR(32) NOT NULL,
                    idperiode VARCHAR(8) NOT NULL,
                    judul VARCHAR(100) NOT NULL,
                    nama_unit VARCHAR(50) NULL,
                    jml_kredit DECIMAL(15, 2) NOT NULL,
                    jml_debet DECIMAL(15, 2) NOT NULL,
                    tgl_jurnal DATE NOT NULL,
                    dicatat DATETIME NULL
                )"""
            )
            cursor.executemany(
                "INSERT INTO jurnal (idperson, idperiode, judul, nama_unit, jml_kredit,"
                " jml_debet, tgl_jurnal, dicatat) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    ("2025000001", "20252026", "SPP Juli", "Formal", 350000, 350000,
                     "2025-07-01", "2025-07-03 08:15:00"),
                    ("2025000001", "20252026", "SPP Agustus", "Formal", 350000, 0,
                     "2025-08-01", None),
                    ("2025000001", "20252026", "Uang Makan Juli", "Pondok", 400000.5, 400000,
                     "2025-07-01", "2025-07-03 08:16:00.500"),
                    ("2025000002", "20252026", "Daftar Ulang", "Pondok", 750000, 800000,
                     "2025-07-01", None),
                ],
            )  # fmt: skip
        yield name
    finally:
        with conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


def mysql_settings(database: str, query: str = FLAT_QUERY, **extra: str) -> Settings:
    return settings(
        PAYMENT_SOURCE="mysql",
        PAYMENT_DB_DATABASE=database,
        PAYMENT_DB_QUERY=query,
        **(MYSQL | extra),
    )


async def test_mysql_rows_become_flat_json(finance_db: str) -> None:
    async with MysqlSource(mysql_settings(finance_db)) as source:
        text = await source.fetch("2025000001")
        assert json.loads(text) == {
            "status": True,
            "data": [
                {
                    "idperiode": "20252026",
                    "judul": "SPP Juli",
                    "nama_unit": "Formal",
                    "jml_kredit": 350000,
                    "jml_debet": 350000,
                    "tgl_jurnal": "2025-07-01",
                },
                {
                    "idperiode": "20252026",
                    "judul": "SPP Agustus",
                    "nama_unit": "Formal",
                    "jml_kredit": 350000,
                    "jml_debet": 0,
                    "tgl_jurnal": "2025-08-01",
                },
                {
                    "idperiode": "20252026",
                    "judul": "Uang Makan Juli",
                    "nama_unit": "Pondok",
                    "jml_kredit": 400000.5,
                    "jml_debet": 400000,
                    "tgl_jurnal": "2025-07-01",
                },
            ],
        }
        assert '"jml_kredit": 400000.50' in text  # the DECIMAL's own digits
        assert json.loads(text, parse_float=Decimal)["data"][2]["jml_kredit"] == Decimal(
            "400000.50"
        )
        assert await source.fetch("9999999999") == '{"status": true, "data": []}'
        assert finance_db in source.describe()


async def test_mysql_datetimes_percent_signs_and_repeated_parameters(finance_db: str) -> None:
    query = (
        "SELECT judul, dicatat, CONCAT('100', '%') AS persen FROM jurnal "
        "WHERE idperson = :idperson AND judul LIKE '%Juli' AND :idperson <> '' ORDER BY id"
    )
    async with MysqlSource(mysql_settings(finance_db, query)) as source:
        rows = json.loads(await source.fetch("2025000001"))["data"]
    assert rows == [
        {"judul": "SPP Juli", "dicatat": "2025-07-03 08:15:00", "persen": "100%"},
        {"judul": "Uang Makan Juli", "dicatat": "2025-07-03 08:16:00", "persen": "100%"},
    ]


async def test_mysql_bad_query_is_permanent(finance_db: str) -> None:
    query = "SELECT nope FROM jurnal WHERE idperson = :idperson"
    async with MysqlSource(mysql_settings(finance_db, query)) as source:
        error = await fetch_error(source, "2025000001")
        assert error.permanent and error.status is None
        assert error.reason.startswith("MySQL error 1054: Unknown column 'nope'")
        # the pool still works after a query error
        error = await fetch_error(source, "2025000001")
        assert error.permanent


async def test_mysql_source_is_read_only(finance_db: str) -> None:
    query = "DELETE FROM jurnal WHERE idperson = :idperson"
    async with MysqlSource(mysql_settings(finance_db, query)) as source:
        error = await fetch_error(source, "2025000002")
    assert error.permanent and "READ ONLY" in error.reason
    conn = _connect(finance_db)
    with conn.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM jurnal WHERE idperson = '2025000002'")
        assert cursor.fetchone() == (1,)
    conn.close()


async def test_mysql_unreachable_is_not_permanent() -> None:
    port = str(free_port())
    extra = {"PAYMENT_DB_PORT": port, "PAYMENT_API_TIMEOUT": "5"}
    async with MysqlSource(mysql_settings("keuangan", **extra)) as source:
        error = await fetch_error(source, "2025000001")
    assert not error.permanent
    assert error.reason.startswith(f"cannot reach the finance database at 127.0.0.1:{port}")


def test_mysql_source_needs_its_settings() -> None:
    with pytest.raises(ValueError, match=r"^PAYMENT_DB_QUERY: "):
        MysqlSource(settings(PAYMENT_DB_DATABASE="keuangan"))
    with pytest.raises(ValueError, match=r"^PAYMENT_DB_DATABASE: "):
        MysqlSource(settings(PAYMENT_DB_QUERY=FLAT_QUERY))


# --------------------------------------------------------------------------- open_source


async def test_open_source_http() -> None:
    with pytest.raises(ValueError, match=r"^PAYMENT_API_URL: required when PAYMENT_SOURCE=http"):
        await open_source(settings(PAYMENT_SOURCE="http"))
    async with Simulator(SimulatorOptions(token="s")) as sim:
        source = await open_source(
            settings(
                PAYMENT_SOURCE="http",
                PAYMENT_API_URL=sim.payments_url,
                PAYMENT_API_TOKEN="s",
                PAYMENT_API_RATE="50",
                PAYMENT_API_CONCURRENCY="3",
            )
        )
        try:
            assert isinstance(source, HttpSource)
            assert (source.rate, source.concurrency, source.timeout) == (50.0, 3, 30.0)
            assert await source.fetch("2025000009") == sim.answer_text("2025000009")
            assert "50/s" in source.describe() and "3 in flight" in source.describe()
        finally:
            await source.close()


async def test_open_source_mysql(finance_db: str) -> None:
    with pytest.raises(ValueError, match=r"^PAYMENT_DB_QUERY: "):
        await open_source(settings(PAYMENT_SOURCE="mysql", PAYMENT_DB_DATABASE=finance_db))
    source = await open_source(mysql_settings(finance_db))
    try:
        assert isinstance(source, MysqlSource)
        assert json.loads(await source.fetch("2025000002"))["data"][0]["jml_debet"] == 800000
    finally:
        await source.close()


@pytest.mark.parametrize("parser", ["flat", "nested"])
async def test_open_source_simulator(parser: str) -> None:
    source = await open_source(settings(PAYMENT_SOURCE="simulator", PAYMENT_PARSER=parser))
    assert isinstance(source, SimulatorSource)
    sim = source.simulator
    url = sim.payments_url
    try:
        assert sim.options.shape == parser and sim.options.seed == 0
        expected = Simulator(SimulatorOptions(seed=0, shape=parser)).answer_text("2025000003")
        assert await source.fetch("2025000003") == expected
        assert "simulator" in source.describe()
    finally:
        await source.close()
    async with aiohttp.ClientSession() as session:  # the simulator is gone
        with pytest.raises(aiohttp.ClientConnectionError):
            await session.get(url.format(idperson="2025000003"))


# --------------------------------------------------------------------------- issue #12

MiB = 1024 * 1024


def compressed(size: int, wbits: int, fill: bytes = b" ") -> bytes:
    """``size`` bytes of ``fill`` compressed (gzip: wbits 31, zlib: 15, raw: -15)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    block = fill * MiB
    parts = [packer.compress(block) for _ in range(size // MiB)]
    parts.append(packer.compress(fill * (size % MiB)))
    parts.append(packer.flush())
    return b"".join(parts)


@pytest.fixture(scope="module")
def bomb() -> bytes:
    """~200 KB of gzip that inflates to 200 MB (issue #12, item 19)."""
    return compressed(200 * MiB, 31)


@pytest.fixture
async def big_api(bomb: bytes) -> AsyncIterator[str]:
    """Answers too large in every way, and some that just fit."""
    small = json.dumps({"status": True, "data": []}).encode()

    async def handle(request: web.Request) -> web.StreamResponse:
        key = request.match_info["key"]
        if key == "gzip-bomb":
            return web.Response(body=bomb, headers={"Content-Encoding": "gzip"})
        if key == "deflate-bomb":
            body = compressed(100 * MiB, 15)
            return web.Response(body=body, headers={"Content-Encoding": "deflate"})
        if key == "big":  # with a Content-Length
            return web.Response(body=b" " * (MiB + 1) + small)
        if key == "chunked":  # no Content-Length: counted while reading
            response = web.StreamResponse()
            response.enable_chunked_encoding()
            await response.prepare(request)
            for _ in range(3):
                await response.write(b" " * (MiB // 2))
            await response.write(small)
            await response.write_eof()
            return response
        if key == "exact":
            return web.Response(body=small + b" " * (MiB - len(small)))
        if key == "gzip":
            return web.Response(body=gzip.compress(small), headers={"Content-Encoding": "gzip"})
        if key == "raw-deflate":
            packer = zlib.compressobj(6, zlib.DEFLATED, -15)
            body = packer.compress(small) + packer.flush()
            return web.Response(body=body, headers={"Content-Encoding": "deflate"})
        if key == "roster":
            students = [{"idperson": str(2025000001 + i), "nama": "Siti"} for i in range(3)]
            return web.json_response({"status": True, "data": students})
        if key == "br":
            return web.Response(body=small, headers={"Content-Encoding": "br"})
        return web.Response(body=small)

    app = web.Application()
    app.router.add_get("/b/{key}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/b/{{idperson}}"
    finally:
        await runner.cleanup()


async def test_answers_are_capped_while_reading(big_api: str) -> None:
    """Item 19: an answer larger than PAYMENT_API_MAX_BYTES, raw or inflated, is a
    permanent failure saying so; a gzip bomb is stopped at the cap, not inflated whole
    (the memory the fetch takes stays a few times the cap)."""
    small = json.dumps({"status": True, "data": []})
    too_large = "answer larger than 1 MB (PAYMENT_API_MAX_BYTES)"
    async with HttpSource(big_api, timeout=20, max_bytes=MiB) as source:
        assert await source.fetch("gzip") == small
        assert await source.fetch("raw-deflate") == small
        assert (await source.fetch("exact")).startswith(small)
        for key in ("big", "chunked", "deflate-bomb"):
            error = await fetch_error(source, key)
            assert (error.reason, error.permanent) == (too_large, True), key
        error = await fetch_error(source, "br")
        assert error.reason == "the API answered in an encoding syncpay cannot read (br)"
        tracemalloc.start()
        try:
            error = await fetch_error(source, "gzip-bomb")
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert (error.reason, error.permanent) == (too_large, True)
        assert peak < 16 * MiB, peak
    assert describe_size(4 * MiB) == "4 MB" and describe_size(1536) == "1.5 KB"
    assert describe_size(1000) == "1000 bytes"


async def test_the_roster_api_is_capped_too(big_api: str) -> None:
    """Item 19 for ``siswa:import --from-api``: the same caps, bytes and items."""
    url = big_api.replace("{idperson}", "{}")
    assert len(await fetch_api(url.format("roster"), 5, max_bytes=MiB, max_items=3)) == 3
    for key in ("big", "chunked", "gzip-bomb"):
        with pytest.raises(RosterError) as caught:
            await fetch_api(url.format(key), 20, max_bytes=MiB)
        assert str(caught.value) == f"{describe_url(url.format(key))}: answer larger than 1 MB"
    with pytest.raises(RosterError) as caught:
        await fetch_api(url.format("roster"), 5, max_items=2)
    assert str(caught.value).endswith(": answer with 3 students, more than 2")


@pytest.fixture
async def target() -> AsyncIterator[tuple[str, list[str]]]:
    """Another local server, where a redirect points (what SSRF would reach)."""
    seen: list[str] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(request.path)
        return web.json_response({"status": True, "data": [{"idperson": "1", "nama": "X"}]})

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}", seen
    finally:
        await runner.cleanup()


@pytest.fixture
async def redirector(target: tuple[str, list[str]]) -> AsyncIterator[str]:
    """An API that answers every request with a redirect to ``target`` (the status is
    the path's first part; the Location keeps a query with a secret, not shown)."""

    async def handle(request: web.Request) -> web.Response:
        status = int(request.match_info["status"])
        location = f"{target[0]}/internal/admin?token=s3cret"
        return web.Response(status=status, headers={"Location": location})

    app = web.Application()
    app.router.add_get("/{status}/{idperson}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def test_redirects_are_refused(redirector: str, target: tuple[str, list[str]]) -> None:
    """Item 20: a finance or roster API's 3xx is an error naming the status and where
    it pointed (without its query); the target is never asked."""
    where = f"{target[0]}/internal/admin"
    for status in (301, 302, 303, 307, 308):
        async with HttpSource(f"{redirector}/{status}/{{idperson}}") as source:
            error = await fetch_error(source, "1")
        assert (error.reason, error.status, error.permanent) == (
            f"the API answered a redirect ({status} to {where}); syncpay does not follow redirects",
            status,
            True,
        )
        with pytest.raises(RosterError) as caught:
            await fetch_api(f"{redirector}/{status}/roster", 5)
        assert str(caught.value) == (
            f"{redirector}/{status}/roster: the API answered a redirect ({status} to "
            f"{where}); syncpay does not follow redirects"
        )
    assert target[1] == []


async def test_the_roster_fetch_has_an_overall_deadline() -> None:
    """Item 28: a roster API sending a byte every 0.2 s (never idle for ``timeout``)
    used to keep ``siswa:import --from-api`` for ever; the whole fetch now has a
    deadline."""

    async def trickle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        await response.prepare(request)
        for _ in range(100):  # 20 s in all
            await response.write(b" ")
            await asyncio.sleep(0.2)
        await response.write(b'{"status": true, "data": []}')
        return response

    app = web.Application()
    app.router.add_get("/siswa", trickle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/siswa"
    try:
        started = time.monotonic()
        with pytest.raises(RosterError) as caught:
            async with asyncio.timeout(8):  # the old code: still reading at 20 s
                await fetch_api(url, 5, deadline=1)
        assert time.monotonic() - started < 3
        assert str(caught.value) == f"{url}: the whole answer did not come within 1s"
    finally:
        await runner.cleanup()


def test_source_reasons_are_cleaned() -> None:
    """Item 18(a): a reason quotes the API (an HTTP reason phrase, a driver's message):
    it is made storable and printable once, when the error is made."""
    error = SourceError("HTTP 403 no\x1b]0;pwned\x07 \ud800 \u202eway\n" + "x" * 2000)
    assert error.reason.startswith("HTTP 403 no\\x1b]0;pwned\\x07 \ufffd \\u202eway\\x0axxx")
    assert len(error.reason) == 1000 and str(error) == error.reason
    assert (
        describe_url("http://u:p@h\u202e.example:81/a?token=1#f") == "http://h\\u202e.example:81/a"
    )


async def test_mysql_login_errors_name_the_setting_that_is_wrong(finance_db: str) -> None:
    """The finance database's sibling of the DB_* errors (#12 item 14): a wrong password
    names PAYMENT_DB_PASSWORD, a missing database PAYMENT_DB_DATABASE; both permanent."""
    user = f"sp_src_{secrets.token_hex(3)}"
    conn = _connect()
    try:
        with conn.cursor() as cursor:
            cursor.execute(f"CREATE USER '{user}'@'%' IDENTIFIED BY 'right-password'")
            cursor.execute(f"GRANT SELECT ON `{finance_db}`.* TO '{user}'@'%'")
        wrong = {"PAYMENT_DB_USERNAME": user, "PAYMENT_DB_PASSWORD": "wrong-password"}
        async with MysqlSource(mysql_settings(finance_db, **wrong)) as source:
            error = await fetch_error(source, "2025000001")
        assert error.permanent
        assert error.reason.startswith("PAYMENT_DB_PASSWORD: access denied for user"), error
        assert "PAYMENT_DB_USERNAME" in error.reason
        right = {"PAYMENT_DB_USERNAME": user, "PAYMENT_DB_PASSWORD": "right-password"}
        async with MysqlSource(mysql_settings("syncpay_no_such_db", **right)) as source:
            error = await fetch_error(source, "2025000001")
        assert error.permanent
        assert error.reason.startswith("PAYMENT_DB_DATABASE: "), error
        assert "syncpay_no_such_db" in error.reason
        async with MysqlSource(mysql_settings("syncpay_no_such_db")) as source:  # root
            error = await fetch_error(source, "2025000001")
        assert error.reason.startswith("PAYMENT_DB_DATABASE: database 'syncpay_no_such_db'")
    finally:
        with conn.cursor() as cursor:
            cursor.execute(f"DROP USER IF EXISTS '{user}'@'%'")
        conn.close()
