"""`HttpSource`: the finance API (PAYMENT_SOURCE=http).  One shared aiohttp session, its
owner's rate limit per API origin (PAYMENT_API_RATE, requests start at least
1/rate apart), at most PAYMENT_API_CONCURRENCY requests in flight per source; the
answer read capped (`read_capped`), redirects never followed."""

from __future__ import annotations

import asyncio
import time
from types import TracebackType
from urllib.parse import quote

import aiohttp

from ... import metrics
from .base import RateLimits, SourceError, one_line, seconds, status_error
from .reading import (
    ACCEPT_ENCODING,
    MAX_BYTES,
    BadEncoding,
    TooLarge,
    read_capped,
    redirect_error,
)


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
        limits: RateLimits | None = None,
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
        self._limiter = (limits or RateLimits()).for_api(url_template, self.rate)
        self._slots = asyncio.Semaphore(concurrency)
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    def url_for(self, idperson: str) -> str:
        return self.url_template.replace("{idperson}", quote(str(idperson), safe=""))

    def describe(self) -> str:
        rate = f"{self.rate:g}/s" if self.rate > 0 else "no rate limit"
        return (
            f"HTTP {self.url_template} ({rate}, {self.concurrency} in flight, "
            f"timeout {seconds(self.timeout)})"
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
                    return await self._answer(response, url)
            except (TooLarge, BadEncoding, TimeoutError, aiohttp.ClientError) as exc:
                failed, error = _failure(exc, self.timeout)
                outcome = failed or outcome
                raise error from None
            except asyncio.CancelledError:
                outcome = "cancelled"
                raise
            finally:
                metrics.payment_api_request(outcome, started)

    async def _answer(self, response: aiohttp.ClientResponse, url: str) -> str:
        """The text of a 2xx answer; a `SourceError` for any other status."""
        status = response.status
        if 300 <= status < 400:  # never followed: see redirect_error
            location = response.headers.get("Location")
            raise SourceError(redirect_error(status, location, url), status=status, permanent=True)
        if 200 <= status < 300:
            body = await read_capped(response, self.max_bytes)
            return body.decode("utf-8", errors="replace")
        raise status_error(status, response.reason, response.headers, self.retry_after_max)

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


def _failure(exc: BaseException, timeout: float) -> tuple[str | None, SourceError]:
    """The metrics outcome (None: the status already set) and the `SourceError` of a
    request that failed with ``exc``."""
    if isinstance(exc, TooLarge | BadEncoding):  # asking again gets the same answer
        return "malformed", SourceError(str(exc), permanent=True)
    if isinstance(exc, TimeoutError):
        return "timeout", SourceError(f"timeout after {seconds(timeout)}")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return None, SourceError(_cannot_connect(exc))
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError):
        return None, SourceError("connection reset by the API")
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "malformed", SourceError("the API's answer was cut off")
    if isinstance(exc, aiohttp.ClientConnectionError):
        return None, SourceError(f"connection error: {one_line(exc)}")
    return "malformed", SourceError(f"bad answer from the API: {one_line(exc)}")


def _cannot_connect(exc: aiohttp.ClientConnectorError) -> str:
    why = exc.os_error.strerror if exc.os_error.strerror else one_line(exc.os_error)
    return f"cannot connect to the API at {exc.host}:{exc.port} ({why})"
