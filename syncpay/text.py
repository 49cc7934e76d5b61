"""Text from outside, made storable and printable once, at the boundary.

Every text syncpay did not write itself — a finance API's message or field, a roster
cell, a request field, a driver's error — passes through here before it is stored,
logged or printed:

- a lone surrogate (``\\ud800``: what an API leaves when it cuts a string inside an
  emoji) cannot be encoded as UTF-8, so no database, log file or page can take it; it
  becomes U+FFFD;
- a control character (C0, DEL, C1: line breaks, tabs, terminal escapes such as
  ``\\x1b]0;…\\x07``) and a bidi control (U+202A–U+202E, U+2066–U+2069, which reorder
  what a reader sees) are written out as a visible escape (``\\x1b``, ``\\u202e``);
- the text is cut to a length, with ``…`` at the cut.

`clean` is for free text (reasons, messages); `problem` tells a field that must be
refused instead (a student's name) what is wrong with it; `clean_tree` cleans every
string of a parsed JSON value.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = [
    "SURROGATE",
    "UNSAFE",
    "clean",
    "clean_tree",
    "is_clean",
    "problem",
]

#: A lone surrogate (a valid surrogate pair never reaches a Python str from json/utf-8).
SURROGATE = re.compile("[\ud800-\udfff]")
#: Controls (C0, DEL, C1) and bidi controls.
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_ANY_BAD = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if 0xD800 <= code <= 0xDFFF:
        return "\ufffd"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def is_clean(text: str) -> bool:
    """True when `clean` would leave ``text`` as it is (length aside)."""
    # isprintable() is quick and False for every character we escape (and a few more).
    return text.isprintable() or _ANY_BAD.search(text) is None


def clean(text: str, limit: int = 0, *, one_line: bool = False) -> str:
    """``text`` storable and printable: surrogates replaced, controls escaped, cut.

    ``limit`` is the longest result in characters (0: any). With ``one_line``, the
    text is cut at its first line break instead of escaping the breaks.
    """
    if one_line and ("\n" in text or "\r" in text):
        first = text.strip().splitlines()
        text = first[0] if first else ""
    if not is_clean(text):
        text = _ANY_BAD.sub(_escape, text)
    if limit and len(text) > limit:
        text = text[: max(limit - 1, 0)] + "…"
    return text


def problem(text: str) -> str | None:
    """What makes ``text`` unfit for a field that must be exact, or None."""
    if is_clean(text):
        return None
    if SURROGATE.search(text) is not None:
        return "has characters that are not valid Unicode"
    found = UNSAFE.search(text)
    assert found is not None
    return f"has a control character ({_escape(found)})"


def clean_tree(value: Any, limit: int = 0) -> Any:
    """A parsed JSON value with every string (keys too) passed through `clean`.

    Returns ``value`` itself when nothing needed cleaning, so the usual case copies
    nothing.
    """
    if isinstance(value, str):
        if is_clean(value) and not (limit and len(value) > limit):
            return value
        return clean(value, limit)
    if isinstance(value, list):
        items = [clean_tree(item, limit) for item in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    if isinstance(value, dict):
        changed = False
        out: dict[Any, Any] = {}
        for key, item in value.items():
            new_key = clean_tree(key, limit) if isinstance(key, str) else key
            new_item = clean_tree(item, limit)
            changed = changed or new_key is not key or new_item is not item
            out[new_key] = new_item
        return out if changed else value
    return value
