"""What every payment source shares: the `PaymentSource` protocol, `SourceError` and
its error policy, and the rate limit per API origin (`RateLimits`, owned by the sync
runtime: one per process in ``serve``, ``work`` and ``sync``).

A source returns the answer's text exactly as received (the sync stores it raw and
parses it separately) or raises `SourceError` with a one-line reason for the page.

Error policy (`SourceError.permanent`): a 4xx other than 408 and 429 cannot get better
by asking again (permanent); 5xx, 408, 429, timeouts and connection errors can.  For
429 and 503 a ``Retry-After`` header (seconds or an HTTP-date) becomes
`SourceError.retry_after`, capped at PAYMENT_API_RETRY_AFTER_MAX; without the header
it stays None and the job's own backoff (SYNC_BACKOFF) decides.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email.utils
import math
import re
import time
from collections.abc import Mapping
from typing import Protocol, runtime_checkable
from urllib.parse import urlsplit

from ...text import clean

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


def seconds(value: float) -> str:
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


def status_error(
    status: int, reason: str | None, headers: Mapping[str, str], retry_after_max: float
) -> SourceError:
    """The `SourceError` of an HTTP answer with a status other than 2xx/3xx."""
    retry_after = None
    if status in (429, 503):
        retry_after = parse_retry_after(headers.get("Retry-After"), cap=retry_after_max)
    permanent = 400 <= status < 500 and status not in (408, 429)
    text = f"HTTP {status}"
    if permanent and reason:
        text += f" {reason}"
    if retry_after is not None:
        text += f", retry after {seconds(retry_after)}"
    return SourceError(text, status=status, retry_after=retry_after, permanent=permanent)


def one_line(exc: BaseException) -> str:
    """The first line of ``str(exc)`` (its type's name when empty)."""
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


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


class RateLimits:
    """The rate limiters of one owner (a sync runtime: one per process in ``serve``,
    ``work`` and ``sync``), one per (API origin, rate): every source it opens, and every
    worker using one, that talks to the same API shares the PAYMENT_API_RATE budget, also
    across a source closed and opened again. Owned, not process-wide: two library objects
    in one process keep their own budgets."""

    def __init__(self) -> None:
        self._limiters: dict[tuple[str, float], RateLimiter] = {}

    def for_api(self, url_template: str, rate: float) -> RateLimiter | None:
        """The limiter of the API at ``url_template`` (None: no limit)."""
        if rate <= 0:
            return None
        parts = urlsplit(url_template)
        key = (f"{parts.scheme}://{parts.netloc}".lower(), float(rate))
        limiter = self._limiters.get(key)
        if limiter is None:
            limiter = self._limiters[key] = RateLimiter(rate)
        return limiter
