"""Payment sources: how the sync fetches one student's answer from the finance system.

A source returns the answer's text exactly as received (the sync stores it raw and
parses it separately) or raises `SourceError` with a one-line reason for the page.

- `HttpSource` (``http``): the finance API (PAYMENT_SOURCE=http).
- `MysqlSource` (``mysql``): the finance database itself (PAYMENT_SOURCE=mysql).
- `SimulatorSource` (``simulator``): the built-in simulator, started in this process.
- ``base``: the `PaymentSource` protocol, `SourceError` and its error policy, the rate
  limit; ``reading``: an HTTP answer read capped, decompressed by us, never redirected.

`open_source` gives the source PAYMENT_SOURCE names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import PaymentSource, RateLimiter, RateLimits, SourceError, parse_retry_after
from .http import HttpSource
from .mysql import MysqlSource
from .reading import (
    ACCEPT_ENCODING,
    BadEncoding,
    TooLarge,
    describe_size,
    describe_url,
    read_capped,
    redirect_error,
)
from .simulator import SimulatorSource

if TYPE_CHECKING:
    from ...config import Settings

__all__ = [
    "ACCEPT_ENCODING",
    "BadEncoding",
    "HttpSource",
    "MysqlSource",
    "PaymentSource",
    "RateLimiter",
    "RateLimits",
    "SimulatorSource",
    "SourceError",
    "TooLarge",
    "describe_size",
    "describe_url",
    "open_source",
    "parse_retry_after",
    "read_capped",
    "redirect_error",
]


async def open_source(settings: Settings, limits: RateLimits | None = None) -> PaymentSource:
    """The source PAYMENT_SOURCE names (ValueError naming the variable when a needed
    setting is missing).  ``simulator`` starts the built-in simulator on 127.0.0.1 and
    a free port (seed 0; nested answers when PAYMENT_PARSER=nested, else flat);
    closing the source stops it. ``limits``: the rate limiters its owner shares between
    the sources it opens (a fresh set when None)."""
    kind = settings.payment_source
    http_options: dict[str, Any] = {
        "timeout": settings.payment_api_timeout,
        "rate": settings.payment_api_rate,
        "concurrency": settings.payment_api_concurrency,
        "retry_after_max": float(settings.payment_api_retry_after_max),
        "max_bytes": settings.payment_api_max_bytes,
        "limits": limits,
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
        from ...simulator import Simulator, SimulatorOptions

        shape = "nested" if settings.payment_parser == "nested" else "flat"
        simulator = Simulator(SimulatorOptions(seed=0, shape=shape))
        await simulator.start("127.0.0.1", 0)
        try:
            return SimulatorSource(simulator, **http_options)
        except BaseException:
            await simulator.close()
            raise
    raise ValueError(f"PAYMENT_SOURCE: {kind!r} is not http, mysql or simulator")
