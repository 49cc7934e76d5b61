"""Reading an HTTP answer safely, for the payment API and the roster API alike: the
body capped in bytes (raw and decompressed, so a gzip bomb stops at the cap), our own
gzip/deflate decompression, and no redirect followed."""

from __future__ import annotations

import zlib
from typing import Any
from urllib.parse import urljoin, urlsplit

import aiohttp

from ...text import clean

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
