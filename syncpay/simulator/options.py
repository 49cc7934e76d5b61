"""The simulator's options (`SimulatorOptions`) and its fault model.

Faults: one uniform draw u in [0, 1) per student from ``sha256("{seed}:{idperson}")``
picks the category; the categories take consecutive intervals of [0, 1) in the order
of `CATEGORIES` (error_once first, not_found last, "ok" for the rest).  "_once"
faults hit the student's first request (a per-idperson counter, cleared by /_reset);
``fail``, ``not_found``, ``rate_limited`` (HTTP 429 + Retry-After for ever) and ``slow``
(every answer ``slow`` seconds late) hit every request. The last two were added after
the others, at the end of the order, so a seed keeps its students' older categories.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, fields
from typing import Any

from .data import uniform_draw

#: Fault categories in the order they take their share of [0, 1): (category, rate field).
CATEGORIES: tuple[tuple[str, str], ...] = (
    ("error_once", "error_rate"),
    ("fail", "fail_rate"),
    ("timeout_once", "timeout_rate"),
    ("rate_limited_once", "rate_limit_rate"),
    ("malformed_once", "malformed_rate"),
    ("reset_once", "reset_rate"),
    ("not_found", "not_found_rate"),
    ("rate_limited", "rate_limit_forever_rate"),
    ("slow", "slow_rate"),
)
RATE_FIELDS: tuple[str, ...] = tuple(rate for _, rate in CATEGORIES)
SECONDS_FIELDS = ("latency", "jitter", "hang", "retry_after", "slow")
MAX_STUDENTS = 999_999


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name}: {value!r} is not a number")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name}: {value!r} is not a finite number")
    return number


def _whole(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name}: {value!r} is not a whole number")
    return value


@dataclass(frozen=True)
class SimulatorOptions:
    """How the simulated finance API behaves.  Validated on creation (ValueError)."""

    shape: str = "flat"  # "flat" | "nested"
    seed: int = 0
    latency: float = 0.0  # seconds added to every API request
    jitter: float = 0.0  # ± seconds, uniform, on top of latency
    error_rate: float = 0.0  # first request: HTTP 500, later ones succeed
    fail_rate: float = 0.0  # every request: HTTP 500
    timeout_rate: float = 0.0  # first request: no answer for `hang` s, then the answer
    rate_limit_rate: float = 0.0  # first request: HTTP 429 + Retry-After: retry_after
    malformed_rate: float = 0.0  # first request: status 200, truncated JSON
    reset_rate: float = 0.0  # first request: the connection is dropped, no answer
    not_found_rate: float = 0.0  # every request: HTTP 404 (an unknown student)
    rate_limit_forever_rate: float = 0.0  # every request: HTTP 429 + Retry-After
    slow_rate: float = 0.0  # every request: the answer comes `slow` s late
    hang: float = 120.0
    slow: float = 1.0
    retry_after: float = 1.0
    token: str | None = None  # require Authorization: Bearer <token>
    students: int = 1000  # size of the /siswa roster
    year: int | None = None  # school year of the answers (None: the one holding today)
    version: int = 0  # each step changes the payments of ~25% of the students

    def __post_init__(self) -> None:
        if self.shape not in ("flat", "nested"):
            raise ValueError(f"shape: {self.shape!r} is not flat or nested")
        _whole("seed", self.seed)
        for name in (*RATE_FIELDS, *SECONDS_FIELDS):
            number = _number(name, getattr(self, name))
            if name in RATE_FIELDS and not 0.0 <= number <= 1.0:
                raise ValueError(f"{name}: {number:g} is not between 0 and 1")
            if number < 0:
                raise ValueError(f"{name}: {number:g} must be at least 0")
            object.__setattr__(self, name, number)
        total = sum(getattr(self, name) for name in RATE_FIELDS)
        if total > 1.0 + 1e-9:
            raise ValueError(f"the fault rates add up to {total:g}; together at most 1")
        if self.token is not None and (not isinstance(self.token, str) or not self.token):
            raise ValueError(f"token: {self.token!r} must be a non-empty text or null")
        if not 0 <= _whole("students", self.students) <= MAX_STUDENTS:
            raise ValueError(f"students: {self.students} is not between 0 and {MAX_STUDENTS}")
        if self.year is not None and not 1900 <= _whole("year", self.year) <= 9998:
            raise ValueError(f"year: {self.year} is not a year")
        if _whole("version", self.version) < 0:
            raise ValueError(f"version: {self.version} must be at least 0")

    def category(self, idperson: str) -> str:
        """The student's fault category: "ok" or one of `CATEGORIES`."""
        u = uniform_draw(self.seed, idperson)
        edge = 0.0
        for category, rate in CATEGORIES:
            edge += getattr(self, rate)
            if u < edge:
                return category
        return "ok"

    def as_dict(self) -> dict[str, Any]:
        shown = dataclasses.asdict(self)
        shown["token"] = None if self.token is None else "***"
        return shown


OPTION_NAMES = frozenset(f.name for f in fields(SimulatorOptions))


def fault(category: str, first: bool) -> str:
    """What a request for a student of ``category`` gets (``first``: the student's first
    request since the last reset): "ok" (the answer), "not_found" (404), "error" (500),
    "rate_limited" (429 + Retry-After), "reset" (the connection dropped), "hang" (the
    answer after `hang` s), "slow" (the answer after `slow` s) or "malformed" (status
    200, the answer cut in half)."""
    if category == "not_found":
        return "not_found"
    if category == "fail" or (category == "error_once" and first):
        return "error"
    if category == "rate_limited" or (first and category == "rate_limited_once"):
        return "rate_limited"
    if category == "slow":
        return "slow"
    if first:
        return {"reset_once": "reset", "timeout_once": "hang", "malformed_once": "malformed"}.get(
            category, "ok"
        )
    return "ok"
