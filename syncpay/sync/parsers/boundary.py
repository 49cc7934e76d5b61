"""The boundary: an answer's text made storable and printable before it is stored."""

from __future__ import annotations

import json
import re

from ...text import clean
from .base import TEXT_LIMIT

#: What may need cleaning in an answer's text: an escape of a control, of a surrogate
#: or of a bidi control; a raw C1, DEL or bidi control (a raw C0 other than the
#: whitespace between tokens is not JSON).
_SUSPECT = re.compile(
    r"\\(?:[bfnrt]|u(?:00[01]|007f|00[89]|d[89a-f]|202[a-e]|206[6-9]))"
    "|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]",
    re.IGNORECASE,
)
#: A string that may be longer than TEXT_LIMIT (tried at each '"' only: cheap).
_LONG = re.compile(f'"[^"]{{{TEXT_LIMIT + 1}}}')
#: One JSON string literal (outside them a valid answer has no '"').
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)


def storable_answer(text: str) -> str:
    """An answer's text with every JSON string in it (keys too) made storable and
    printable, once, at the boundary: a lone surrogate escape (``"\\ud800"``: valid JSON
    that no database, log or page can take) becomes U+FFFD, a control or bidi control
    a visible escape (``\\x1b``), a text longer than TEXT_LIMIT characters is cut
    (`syncpay.text.clean`). Everything else, numbers included, stays byte for byte, and
    an answer with nothing to clean (the usual one) is returned as it is. An answer that
    is not JSON is left to the parser to refuse."""
    # The usual answer is ASCII without a backslash: nothing to look for but its length.
    suspect = ("\\" in text or "\x7f" in text) if text.isascii() else True
    if suspect and _SUSPECT.search(text) is None:
        suspect = False
    if not suspect and _LONG.search(text) is None:
        return text

    def literal(match: re.Match[str]) -> str:
        raw = match.group()
        if len(raw) <= TEXT_LIMIT + 2 and raw.isprintable() and "\\" not in raw:
            return raw  # the usual string: nothing in it to clean
        try:
            value = json.loads(raw)
        except ValueError:  # not JSON (a raw control, a bad escape): the parser says so
            return raw
        cleaned = clean(value, TEXT_LIMIT)
        return raw if cleaned == value else json.dumps(cleaned, ensure_ascii=False)

    # Raw controls and bidi controls outside any string literal are not JSON: the
    # parser refuses them; inside one they are cleaned with it.
    return _STRING.sub(literal, text)
