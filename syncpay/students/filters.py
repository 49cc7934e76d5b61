"""What the student list is asked for: :class:`Filters`, a plain value (the web layer
reads it from a request's query and writes it back into links), and the limits that
check it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..officers import scope_params

__all__ = [
    "COUNT_CAP",
    "IDPERSON",
    "MAX_FIELD",
    "MAX_PAGE",
    "MAX_Q",
    "MAX_WORDS",
    "PER_PAGE",
    "SMALL",
    "SORTS",
    "STATUSES",
    "WORD_CANDIDATES",
    "Filters",
]

PER_PAGE = 50
#: Counting stops here: past it the page shows "more than …" (a count is an index walk).
COUNT_CAP = 10_000
#: A result this small is read through its filter's index and sorted; a larger one is
#: paged along the sort order's index (see ``listing.py``).
SMALL = 5_000
#: A search word that starts at most this many name words finds the candidates itself
#: (they are read and sorted); past it every word is common and the sort order is walked.
WORD_CANDIDATES = 15_000
MAX_PAGE = 1_000_000
MAX_Q = 100
MAX_FIELD = 100
#: Words of a search that count (the longest ones: the most selective).
MAX_WORDS = 4
#: idperson as the roster stores it (letters upper-cased).
IDPERSON = re.compile(r"[A-Za-z0-9]{1,32}")
#: Where a name is cut into words (the same characters as the triggers of 0007).
WORD_BREAK = re.compile(r"[\s\-.,]+")
#: Above every code point: "w" ≤ word < "w" + END is "word starts with w" (SQLite).
END = "\U0010ffff"

#: A payment state filter → the ``is_lunas`` it stands for (None: not synced yet).
STATUSES: dict[str, int | None] = {"lunas": 1, "belum_lunas": 0, "belum_sinkron": None}
SORTS = ("nama", "tunggakan_desc", "tunggakan_asc", "synced_desc")
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


@dataclass(frozen=True)
class Filters:
    """What the list was asked for, checked; ``errors`` names what was refused (a
    refused value falls back to its default)."""

    q: str = ""
    unit: str | None = None
    kelas: str | None = None
    status: str | None = None
    sort: str = "nama"
    page: int = 1
    errors: tuple[str, ...] = ()

    @property
    def words(self) -> list[str]:
        """The search's words, lower-cased like the index (ASCII letters: SQLite's
        lower(); MySQL compares without case anyway), longest first, at most four."""
        found = {w for w in WORD_BREAK.split(self.q.translate(_ASCII_LOWER)) if w}
        return sorted(found, key=lambda w: (-len(w), w))[:MAX_WORDS]

    @property
    def driver(self) -> str:
        """The filter whose index finds the candidates (the most selective one given)."""
        if self.kelas is not None:
            return "kelas"
        if self.words:
            return "kata"
        if self.unit is not None:
            return "unit"
        if self.status is not None:
            return "status"
        return "all"

    def params(
        self, words: Sequence[str], *, limit: int = 0, offset: int = 0, cap: int = 0
    ) -> dict[str, Any]:
        """The list queries' parameters, ``words`` in the order to use them (the rarest
        first: the first one finds the candidates)."""
        values: dict[str, Any] = {
            "unit": self.unit,
            "kelas": self.kelas,
            "status_any": int(self.status is None),
            "lunas": STATUSES.get(self.status or ""),
            "filtered": int(
                self.unit is not None or self.kelas is not None or self.status is not None
            ),
            "words": len(words),
            "sort": self.sort,
            "limit": limit,
            "offset": offset,
            "cap": cap,
            "kata": words[0] if words else "",
            # Everyone's students: the scope's condition is never looked at (a scoped
            # officer's list replaces these, see listing.py).
            **scope_params(None),
        }
        for i in range(MAX_WORDS):
            word = words[i] if i < len(words) else None
            # An unused word matches nothing (and is never looked at: ":words < i OR …").
            values[f"w{i + 1}"] = word or ""
            values[f"w{i + 1}_end"] = word + END if word else ""
            values[f"w{i + 1}_like"] = _like_prefix(word) if word else ""
        return values


def _like_prefix(word: str) -> str:
    escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"
