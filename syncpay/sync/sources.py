"""Payment sources: how the sync fetches one student's answer from the finance system.

A source returns the answer's text exactly as received (the sync stores it raw and
parses it separately) or raises `SourceError` with a one-line reason for the page.

- `HttpSource`: the finance API (PAYMENT_SOURCE=http).  One shared aiohttp session, a
  process-wide rate limit per API origin (PAYMENT_API_RATE, requests start at least
  1/rate apart), at most PAYMENT_API_CONCURRENCY requests in flight per source.
- `MysqlSource`: the finance database itself (PAYMENT_SOURCE=mysql), read-only; the
  rows of PAYMENT_DB_QUERY become ``{"status": true, "data": [row, …]}``.
- ``PAYMENT_SOURCE=simulator``: the built-in simulator, started in this process, read
  through an `HttpSource` (`SimulatorSource`).

Error policy (`SourceError.permanent`): a 4xx other than 408 and 429 cannot get better
by asking again (permanent); 5xx, 408, 429, timeouts and connection errors can.  For
429 and 503 a ``Retry-After`` header (seconds or an HTTP-date) becomes
`SourceError.retry_after`, capped at PAYMENT_API_RETRY_AFTER_MAX; without the header
it stays None and the job's own backoff (SYNC_BACKOFF) decides.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import email.utils
import json
import math
import re
import time
import zlib
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from urllib.parse import quote, urljoin, urlsplit

import aiohttp

from .. import metrics
from ..db.mysql import login_refusal
from ..text import clean

if TYPE_CHECKING:
    from ..config import Settings
    from ..simulator import Simulator

__all__ = [
    "HttpSource",
    "MysqlSource",
    "PaymentSource",
    "RateLimiter",
    "SimulatorSource",
    "SourceError",
    "TooLarge",
    "describe_size",
    "describe_url",
    "open_source",
    "parse_retry_after",
    "read_capped",
]


#: The longest reason a source gives, in characters.
REASON_LIMIT = 1000


class SourceError(Exception):
    """Fetching a student's answer failed.

    ``reason``: one line for the page ("HTTP 500", "HTTP 404 Not Found", "timeout after
    30s", "connection reset by the API", "HTTP 429, retry after 5s", …); ``status``: the
    HTTP status (None when there was no answer); ``retry_after``: seconds the server
    asked to wait (429/503), already capped; ``permanent``: asking again cannot help.
    """

    def __init__(
        self,
        reason: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
        permanent: bool = False,
    ) -> None:
        reason = clean(reason, REASON_LIMIT)  # it quotes the API: storable and printable
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after
        self.permanent = permanent

    def __str__(self) -> str:
        return self.reason

    def __repr__(self) -> str:
        return (
            f"SourceError({self.reason!r}, status={self.status!r}, "
            f"retry_after={self.retry_after!r}, permanent={self.permanent!r})"
        )


@runtime_checkable
class PaymentSource(Protocol):
    """Where the sync gets a student's payment answer."""

    async def fetch(self, idperson: str) -> str:
        """The answer's text as received; raises `SourceError`."""
        ...

    async def close(self) -> None:
        """Release connections (idempotent)."""
        ...

    def describe(self) -> str:
        """One line for logs and the page (no secrets)."""
        ...


def _seconds(value: float) -> str:
    """30.0 → "30s", 0.5 → "0.5s"."""
    return f"{round(value, 3):g}s"


def parse_retry_after(
    value: str | None, *, cap: float | None = None, now: dt.datetime | None = None
) -> float | None:
    """A ``Retry-After`` header in seconds (>= 0): delay-seconds (a decimal is accepted
    too) or an HTTP-date; None when missing or unreadable; at most ``cap``."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    seconds: float
    if re.fullmatch(r"[0-9]+(\.[0-9]+)?", text):
        seconds = float(text)
    else:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        now = now or dt.datetime.now(dt.UTC)
        seconds = max(0.0, (when - now).total_seconds())
    if not math.isfinite(seconds):
        return None
    return min(seconds, cap) if cap is not None else seconds


# --------------------------------------------------------------------------- rate limit


class RateLimiter:
    """At most ``rate`` starts per second, evenly spaced (no bursts): each caller
    reserves the next free slot, 1/rate after the previous one, and sleeps until it.

    Works across event loops (it only keeps a monotonic time)."""

    def __init__(self, rate: float) -> None:
        if not rate > 0:
            raise ValueError("rate must be greater than 0")
        self.rate = rate
        self._interval = 1.0 / rate
        self._next = 0.0

    async def acquire(self) -> None:
        now = time.monotonic()
        slot = max(now, self._next)
        self._next = slot + self._interval
        if slot > now:
            await asyncio.sleep(slot - now)


#: One limiter per (API origin, rate) for the whole process: every source (and every
#: worker using one) that talks to the same API shares the PAYMENT_API_RATE budget.
_LIMITERS: dict[tuple[str, float], RateLimiter] = {}


def shared_limiter(url_template: str, rate: float) -> RateLimiter | None:
    """The process-wide limiter of the API at ``url_template`` (None: no limit)."""
    if rate <= 0:
        return None
    parts = urlsplit(url_template)
    key = (f"{parts.scheme}://{parts.netloc}".lower(), float(rate))
    limiter = _LIMITERS.get(key)
    if limiter is None:
        limiter = _LIMITERS[key] = RateLimiter(rate)
    return limiter


# --------------------------------------------------------------------------- redirects


def describe_url(url: str) -> str:
    """A URL fit for messages: no user name, password, query or fragment; cleaned."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        if parts.port is not None:
            host += f":{parts.port}"
    except ValueError:  # a port that is not a number
        pass
    text = f"{parts.scheme}://{host}{parts.path}" if parts.scheme else url
    return clean(text, 200)


def redirect_error(status: int, location: str | None, base: str) -> str:
    """The reason of a 3xx answer: syncpay follows no redirect (a finance API has no
    reason to send one, and following it would store whatever another host answers)."""
    where = "no Location"
    if location:
        try:
            where = "to " + describe_url(urljoin(base, location.strip()))
        except ValueError:
            where = "to " + clean(location, 200)
    return f"the API answered a redirect ({status} {where}); syncpay does not follow redirects"


# --------------------------------------------------------------------------- reading, capped

#: The largest finance API answer read, in bytes (PAYMENT_API_MAX_BYTES's default).
MAX_BYTES = 4 * 1024 * 1024
#: The encodings syncpay asks for and reads itself (aiohttp's own decompression would
#: inflate a whole received chunk at once, however large it becomes).
ACCEPT_ENCODING = "gzip, deflate"


class TooLarge(Exception):
    """An answer larger than its cap (raw or decompressed); `str()`: the reason."""

    def __init__(self, limit: int, setting: str = "") -> None:
        named = f" ({setting})" if setting else ""
        super().__init__(f"answer larger than {describe_size(limit)}{named}")
        self.limit = limit


class BadEncoding(Exception):
    """An answer whose Content-Encoding cannot be read, or whose compression is broken."""


def describe_size(size: int) -> str:
    """4194304 -> "4 MB", 1536 -> "1.5 KB", 1000 -> "1000 bytes" (binary units)."""
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if size >= scale and size * 10 % scale == 0:
            return f"{size / scale:g} {unit}"
    return f"{size} bytes"


class _Inflater:
    """gzip or deflate (zlib-wrapped or raw, as servers send both), never producing
    more than asked for at a time."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._decoder: Any = None
        if encoding in ("gzip", "x-gzip"):
            self._decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def inflate(self, data: bytes, room: int) -> bytes:
        """The output of ``data``, at most ``room`` bytes; more pending (the cap is
        passed) shows as a result of exactly ``room`` bytes with input left over."""
        if self._decoder is None:  # deflate: a zlib header, or raw
            zlib_header = (
                len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
            )
            self._decoder = zlib.decompressobj(zlib.MAX_WBITS if zlib_header else -zlib.MAX_WBITS)
        try:
            return bytes(self._decoder.decompress(data, room))
        except zlib.error as exc:
            raise BadEncoding(
                f"the API's {self.encoding} answer cannot be decompressed ({exc})"
            ) from None

    def more(self, room: int) -> bytes:
        """Output still held back by the last ``room``."""
        if self._decoder is None or not self._decoder.unconsumed_tail:
            return b""
        return self.inflate(self._decoder.unconsumed_tail, room)

    def finish(self) -> bool:
        """Whether the compressed stream was complete."""
        return self._decoder is None or bool(self._decoder.eof)


async def read_capped(
    response: aiohttp.ClientResponse, limit: int, setting: str = "PAYMENT_API_MAX_BYTES"
) -> bytes:
    """The body of ``response`` (read with ``auto_decompress=False``), decompressed,
    raising `TooLarge` as soon as the raw or the decompressed bytes pass ``limit``:
    a gzip bomb is stopped at the cap, never inflated whole. `BadEncoding` for an
    encoding other than gzip/deflate/identity or broken compression; a body cut off
    raises aiohttp's ``ClientPayloadError`` (as ``read()`` does)."""
    encoding = response.headers.get("Content-Encoding", "").strip().lower()
    length = response.content_length
    if length is not None and length > limit:
        raise TooLarge(limit, setting)
    inflater: _Inflater | None = None
    if encoding not in ("", "identity"):
        if encoding not in ("gzip", "x-gzip", "deflate"):
            raise BadEncoding(
                f"the API answered in an encoding syncpay cannot read ({clean(encoding, 40)})"
            )
        inflater = _Inflater(encoding)
    body = bytearray()
    received = 0
    async for chunk in response.content.iter_any():
        received += len(chunk)
        if received > limit:
            raise TooLarge(limit, setting)
        if inflater is None:
            body += chunk
            continue
        body += inflater.inflate(chunk, limit + 1 - len(body))
        if len(body) > limit:
            raise TooLarge(limit, setting)
    if inflater is not None:
        body += inflater.more(limit + 1 - len(body))
        if len(body) > limit:
            raise TooLarge(limit, setting)
        if received and not inflater.finish():
            raise BadEncoding(f"the API's {encoding} answer was cut off")
    return bytes(body)


# --------------------------------------------------------------------------- HTTP


class HttpSource:
    """The finance API: ``GET url_template`` with ``{idperson}`` filled in (URL-quoted).

    Sends ``Accept: application/json`` and, with a token, ``Authorization: Bearer``.
    ``timeout`` bounds each request (not the wait for the rate limit or a free slot).
    aiohttp's silent re-send of a GET whose connection was dropped is turned off: a
    dropped connection is reported ("connection reset by the API") and the job's own
    retry decides; idle connections are recycled after 4 s, before the usual server
    keep-alive limits (5 s and up), so a stale pooled connection is not mistaken for one.
    """

    KEEPALIVE_TIMEOUT = 4.0

    def __init__(
        self,
        url_template: str,
        token: str | None = None,
        timeout: float = 30.0,
        rate: float = 0.0,
        concurrency: int = 8,
        *,
        retry_after_max: float = 300.0,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        if "{idperson}" not in url_template:
            raise ValueError(f"PAYMENT_API_URL: {url_template!r} has no {{idperson}} placeholder")
        if not timeout > 0:
            raise ValueError("PAYMENT_API_TIMEOUT: must be greater than 0")
        if concurrency < 1:
            raise ValueError("PAYMENT_API_CONCURRENCY: must be at least 1")
        self.url_template = url_template
        self.timeout = float(timeout)
        self.rate = float(rate)
        self.concurrency = concurrency
        self.retry_after_max = float(retry_after_max)
        self.max_bytes = max_bytes
        self._headers = {"Accept": "application/json", "Accept-Encoding": ACCEPT_ENCODING}
        if token:
            self._headers["Authorization"] = f"Bearer {token}"
        self._limiter = shared_limiter(url_template, self.rate)
        self._slots = asyncio.Semaphore(concurrency)
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    def url_for(self, idperson: str) -> str:
        return self.url_template.replace("{idperson}", quote(str(idperson), safe=""))

    def describe(self) -> str:
        rate = f"{self.rate:g}/s" if self.rate > 0 else "no rate limit"
        return (
            f"HTTP {self.url_template} ({rate}, {self.concurrency} in flight, "
            f"timeout {_seconds(self.timeout)})"
        )

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("the payment source is closed")
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self.concurrency, keepalive_timeout=self.KEEPALIVE_TIMEOUT
            )
            session = aiohttp.ClientSession(
                connector=connector,
                headers=self._headers,
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                raise_for_status=False,
                auto_decompress=False,  # read_capped decompresses, within the cap
            )
            if hasattr(session, "_retry_connection"):
                session._retry_connection = False  # see the class docstring
            self._session = session
        return self._session

    async def fetch(self, idperson: str) -> str:
        url = self.url_for(idperson)
        async with self._slots:
            if self._limiter is not None:
                await self._limiter.acquire()
            session = self._get_session()
            started, outcome = time.perf_counter(), "error"  # the label of the metrics
            try:
                async with session.get(url, allow_redirects=False) as response:
                    outcome = str(response.status)
                    if 300 <= response.status < 400:  # never followed: see redirect_error
                        location = response.headers.get("Location")
                        raise SourceError(
                            redirect_error(response.status, location, url),
                            status=response.status,
                            permanent=True,
                        )
                    if 200 <= response.status < 300:
                        body = await read_capped(response, self.max_bytes)
                        return body.decode("utf-8", errors="replace")
                    raise self._status_error(response.status, response.reason, response.headers)
            except (TooLarge, BadEncoding) as exc:  # asking again gets the same answer
                outcome = "malformed"
                raise SourceError(str(exc), permanent=True) from None
            except TimeoutError:
                outcome = "timeout"
                raise SourceError(f"timeout after {_seconds(self.timeout)}") from None
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
                if isinstance(exc, aiohttp.ClientConnectorError):
                    raise SourceError(_cannot_connect(exc)) from None
                raise SourceError("connection reset by the API") from None
            except aiohttp.ClientPayloadError:
                outcome = "malformed"
                raise SourceError("the API's answer was cut off") from None
            except aiohttp.ClientConnectionError as exc:
                raise SourceError(f"connection error: {_one_line(exc)}") from None
            except aiohttp.ClientError as exc:
                outcome = "malformed"
                raise SourceError(f"bad answer from the API: {_one_line(exc)}") from None
            except asyncio.CancelledError:
                outcome = "cancelled"
                raise
            finally:
                metrics.payment_api_request(outcome, started)

    def _status_error(
        self, status: int, reason: str | None, headers: Mapping[str, str]
    ) -> SourceError:
        retry_after = None
        if status in (429, 503):
            retry_after = parse_retry_after(headers.get("Retry-After"), cap=self.retry_after_max)
        permanent = 400 <= status < 500 and status not in (408, 429)
        text = f"HTTP {status}"
        if permanent and reason:
            text += f" {reason}"
        if retry_after is not None:
            text += f", retry after {_seconds(retry_after)}"
        return SourceError(text, status=status, retry_after=retry_after, permanent=permanent)

    async def close(self) -> None:
        self._closed = True
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    async def __aenter__(self) -> HttpSource:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _cannot_connect(exc: aiohttp.ClientConnectorError) -> str:
    why = exc.os_error.strerror if exc.os_error.strerror else _one_line(exc.os_error)
    return f"cannot connect to the API at {exc.host}:{exc.port} ({why})"


class SimulatorSource(HttpSource):
    """An `HttpSource` reading the in-process simulator; closing it stops the simulator."""

    def __init__(self, simulator: Simulator, **options: Any) -> None:
        super().__init__(simulator.payments_url, **options)
        self.simulator = simulator

    def describe(self) -> str:
        opts = self.simulator.options
        return f"simulator {self.url_template} (seed {opts.seed}, {opts.shape} answers)"

    async def close(self) -> None:
        try:
            await super().close()
        finally:
            await self.simulator.close()


# --------------------------------------------------------------------------- MySQL

#: MySQL/MariaDB error codes that may go away when asked again (the rest of the server's
#: errors are about the query or the rights: permanent).
_TRANSIENT_MYSQL = frozenset(
    {
        1040,  # too many connections
        1053,  # server shutdown in progress
        1152,  # aborted connection
        1158,  # network read error
        1159,  # network read timeout
        1160,  # network write error
        1161,  # network write timeout
        1205,  # lock wait timeout
        1213,  # deadlock
        1317,  # query interrupted
        1927,  # connection killed
        3024,  # max execution time exceeded
    }
)
_PARAMETER = re.compile(r":idperson\b")


def _json_value(value: object) -> str:
    """One value of a row as JSON text."""
    if isinstance(value, decimal.Decimal):
        if value == value.to_integral_value():
            return str(int(value))
        return format(value, "f")
    if isinstance(value, dt.datetime):
        return json.dumps(value.strftime("%Y-%m-%d %H:%M:%S"))
    if isinstance(value, dt.date):
        return json.dumps(value.isoformat())
    if isinstance(value, dt.timedelta):  # a TIME column
        total = int(value.total_seconds())
        sign, total = ("-", -total) if total < 0 else ("", total)
        return json.dumps(f"{sign}{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}")
    if isinstance(value, bytes | bytearray):
        return json.dumps(bytes(value).decode("utf-8", errors="replace"), ensure_ascii=False)
    if isinstance(value, float) and not math.isfinite(value):
        return "null"
    return json.dumps(value, ensure_ascii=False)


def rows_to_json(rows: list[dict[str, Any]]) -> str:
    """``{"status": true, "data": [row, …]}``: dates "YYYY-MM-DD", datetimes
    "YYYY-MM-DD HH:MM:SS", DECIMAL as a JSON number (an integer when whole, else its
    exact digits)."""
    data = ", ".join(
        "{" + ", ".join(f"{json.dumps(str(k))}: {_json_value(v)}" for k, v in row.items()) + "}"
        for row in rows
    )
    return f'{{"status": true, "data": [{data}]}}'


class MysqlSource:
    """The finance database: runs PAYMENT_DB_QUERY with the student's idperson.

    The connections are read-only (``SET SESSION TRANSACTION READ ONLY``); the pool
    (up to PAYMENT_API_CONCURRENCY connections) is opened on the first fetch, so a
    database that is down at start-up only fails the fetches (not permanent).  A query
    taking longer than PAYMENT_API_TIMEOUT is abandoned ("timeout after …")."""

    def __init__(self, settings: Settings) -> None:
        if not settings.payment_db_database:
            raise ValueError("PAYMENT_DB_DATABASE: required when PAYMENT_SOURCE=mysql")
        if not settings.payment_db_query:
            raise ValueError("PAYMENT_DB_QUERY: required when PAYMENT_SOURCE=mysql")
        query = settings.payment_db_query
        if not _PARAMETER.search(query):
            raise ValueError("PAYMENT_DB_QUERY: must contain :idperson")
        self._params = len(_PARAMETER.findall(query))
        self._sql = _PARAMETER.sub("%s", query.replace("%", "%%"))
        self.host = settings.payment_db_host
        self.port = settings.payment_db_port
        self.database = settings.payment_db_database
        self._user = settings.payment_db_username
        self._password = settings.payment_db_password
        self.timeout = float(settings.payment_api_timeout)
        self.concurrency = settings.payment_api_concurrency
        self._pool: Any = None
        self._pool_lock = asyncio.Lock()
        self._closed = False

    def describe(self) -> str:
        return f"MySQL {self._user}@{self.host}:{self.port}/{self.database}"

    async def _get_pool(self) -> Any:
        import aiomysql

        if self._closed:
            raise RuntimeError("the payment source is closed")
        async with self._pool_lock:
            if self._pool is None:
                self._pool = await aiomysql.create_pool(
                    host=self.host,
                    port=self.port,
                    user=self._user,
                    password=self._password,
                    db=self.database,
                    minsize=0,
                    maxsize=self.concurrency,
                    autocommit=True,
                    charset="utf8mb4",
                    connect_timeout=min(self.timeout, 10.0),
                    init_command="SET SESSION TRANSACTION READ ONLY",
                    pool_recycle=3600,
                )
            return self._pool

    async def fetch(self, idperson: str) -> str:
        import aiomysql

        pool = await self._get_pool()
        try:
            async with asyncio.timeout(self.timeout):
                async with pool.acquire() as conn:
                    try:
                        async with conn.cursor(aiomysql.DictCursor) as cursor:
                            await cursor.execute(self._sql, (str(idperson),) * self._params)
                            rows = await cursor.fetchall()
                    except aiomysql.MySQLError as exc:
                        code = _mysql_code(exc)
                        if code is None or code >= 2000:
                            conn.close()  # the connection itself is broken
                        raise
                    except BaseException:
                        conn.close()  # interrupted mid-query: unknown state
                        raise
        except TimeoutError:
            raise SourceError(f"timeout after {_seconds(self.timeout)}") from None
        except aiomysql.MySQLError as exc:
            raise self._mysql_error(exc) from None
        except OSError as exc:
            raise SourceError(self._cannot_connect(exc.strerror or _one_line(exc))) from None
        return rows_to_json(list(rows))

    def _cannot_connect(self, why: str) -> str:
        return f"cannot reach the finance database at {self.host}:{self.port} ({why})"

    def _mysql_error(self, exc: Exception) -> SourceError:
        code = _mysql_code(exc)
        message = str(exc.args[1]) if len(exc.args) > 1 else _one_line(exc)
        message = " ".join(message.split())
        if code is None or code >= 2000:  # client side: no or lost connection
            return SourceError(self._cannot_connect(message))
        if code == 1049:
            return SourceError(
                f"PAYMENT_DB_DATABASE: database {self.database!r} does not exist", permanent=True
            )
        refusal = login_refusal(
            code,
            message,
            "PAYMENT_DB_",
            self._user,
            self.host,
            self.database,
            bool(self._password),
        )
        if refusal is not None:
            return SourceError(refusal, permanent=True)
        return SourceError(f"MySQL error {code}: {message}", permanent=code not in _TRANSIENT_MYSQL)

    async def close(self) -> None:
        self._closed = True
        async with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
            await pool.wait_closed()

    async def __aenter__(self) -> MysqlSource:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def _mysql_code(exc: BaseException) -> int | None:
    code = exc.args[0] if exc.args else None
    return code if isinstance(code, int) and not isinstance(code, bool) else None


# --------------------------------------------------------------------------- factory


async def open_source(settings: Settings) -> PaymentSource:
    """The source PAYMENT_SOURCE names (ValueError naming the variable when a needed
    setting is missing).  ``simulator`` starts the built-in simulator on 127.0.0.1 and
    a free port (seed 0; nested answers when PAYMENT_PARSER=nested, else flat);
    closing the source stops it."""
    kind = settings.payment_source
    http_options: dict[str, Any] = {
        "timeout": settings.payment_api_timeout,
        "rate": settings.payment_api_rate,
        "concurrency": settings.payment_api_concurrency,
        "retry_after_max": float(settings.payment_api_retry_after_max),
        "max_bytes": settings.payment_api_max_bytes,
    }
    if kind == "http":
        if not settings.payment_api_url:
            raise ValueError("PAYMENT_API_URL: required when PAYMENT_SOURCE=http")
        return HttpSource(
            settings.payment_api_url, settings.payment_api_token or None, **http_options
        )
    if kind == "mysql":
        return MysqlSource(settings)
    if kind == "simulator":
        from ..simulator import Simulator, SimulatorOptions

        shape = "nested" if settings.payment_parser == "nested" else "flat"
        simulator = Simulator(SimulatorOptions(seed=0, shape=shape))
        await simulator.start("127.0.0.1", 0)
        try:
            return SimulatorSource(simulator, **http_options)
        except BaseException:
            await simulator.close()
            raise
    raise ValueError(f"PAYMENT_SOURCE: {kind!r} is not http, mysql or simulator")
