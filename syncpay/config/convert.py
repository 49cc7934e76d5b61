"""Converters: a raw setting (text from the environment, or a typed value) to its typed
value, raising `Invalid` with the problem; and a typed value back to its text."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from .errors import Invalid, show

Converter = Callable[[object], Any]


def parse_int(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and re.fullmatch(r"[+-]?[0-9]+", value.strip(" \t")):
        if len(value.strip(" \t").lstrip("+-0")) > 18:
            raise Invalid(f"{show(value)} is too large")
        return int(value)
    raise Invalid(f"{show(value)} is not a whole number")


def parse_bool(value: object) -> bool:
    """true/false, 1/0, yes/no, on/off (any case); for boolean settings."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip(" \t").lower()
        if word in ("true", "1", "yes", "on"):
            return True
        if word in ("false", "0", "no", "off"):
            return False
    raise Invalid(f"{show(value)} is not true or false (or 1/0, yes/no, on/off)")


def whole(low: int = 1, high: int | None = None) -> Converter:
    def convert(value: object) -> int:
        number = parse_int(value)
        if high is not None and not low <= number <= high:
            raise Invalid(f"{number} must be between {low} and {high}")
        if number < low:
            raise Invalid(f"{number} must be at least {low}")
        return number

    return convert


def number(*, above: float | None = None, at_least: float | None = None) -> Converter:
    def convert(value: object) -> float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            parsed = float(value)
        elif isinstance(value, str) and re.fullmatch(
            r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?", value.strip(" \t")
        ):
            parsed = float(value)
        else:
            raise Invalid(f"{show(value)} is not a number")
        if not math.isfinite(parsed):
            raise Invalid(f"{show(value)} is not a finite number")
        if above is not None and parsed <= above:
            raise Invalid(f"{format_value(parsed)} must be greater than {format_value(above)}")
        if at_least is not None and parsed < at_least:
            raise Invalid(f"{format_value(parsed)} must be at least {format_value(at_least)}")
        return parsed

    return convert


def delays(value: object) -> tuple[int, ...]:
    items: list[object] = []
    if isinstance(value, str):
        items = list(value.split(","))
    elif isinstance(value, tuple | list):
        items = list(value)
    try:
        seconds = tuple(parse_int(item) for item in items)
    except Invalid:
        seconds = ()
    if not seconds or min(seconds) < 0:
        problem = "is not a list of whole seconds >= 0, e.g. 10,30,60"
        raise Invalid(f"{show(value)} {problem}")
    return seconds


def text(check: Callable[[str], str | None] | None = None, *, fold: bool = False) -> Converter:
    """A string setting; `check` returns a problem text or None."""

    def convert(value: object) -> str:
        if not isinstance(value, str):
            raise Invalid(f"{show(value)} is not text")
        value = value.lower() if fold else value
        problem = check(value) if check is not None else None
        if problem is not None:
            raise Invalid(problem)
        return value

    return convert


def choice(*options: str, fold: bool = False) -> Converter:
    def check(value: str) -> str | None:
        return None if value in options else f"{show(value)} is not one of {', '.join(options)}"

    return text(check, fold=fold)


_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off", "")


def boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    word = str(value).strip().lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    raise Invalid(f"{show(value)} is not true or false")


def pattern(regex: str, what: str) -> Converter:
    compiled = re.compile(regex)
    return text(lambda v: None if compiled.fullmatch(v) else f"{show(v)} is not {what}")


def not_empty(value: str) -> str | None:
    return "must not be empty" if not value else None


def queue_name(value: str) -> str | None:
    if not value:
        return "must not be empty"
    if len(value) > 191:
        return f"the name is {len(value)} characters long; at most 191 are allowed"
    if re.search(r"[,\s]", value):
        return f"{show(value)} must not contain commas or whitespace"
    return None


def url(*, template: bool = False) -> Converter:
    def check(value: str) -> str | None:
        if not value:
            return None
        try:
            parts = urlsplit(value)
        except ValueError:
            parts = None
        if (
            parts is None
            or parts.scheme not in ("http", "https")
            or not parts.netloc
            or not value.startswith(f"{parts.scheme}://")
            or re.search(r"\s", value)
        ):
            return f"{show(value)} is not an http:// or https:// URL"
        if template and "{idperson}" not in value:
            return (
                f"{show(value)} has no {{idperson}} placeholder, "
                "e.g. https://api.example.sch.id/v1/payments/{idperson}"
            )
        return None

    return text(check)


def urls(value: object) -> tuple[str, ...]:
    """One or more http(s) URLs, separated by commas or whitespace (empty: none)."""
    if isinstance(value, str):
        items = [item for item in re.split(r"[\s,]+", value) if item]
    elif isinstance(value, tuple | list) and all(isinstance(item, str) for item in value):
        items = list(value)
    else:
        raise Invalid(f"{show(value)} is not a list of URLs")
    one = url()
    for item in items:
        one(item)
        if not urlsplit(item).hostname:
            raise Invalid(f"{show(item)} has no host name")
    return tuple(dict.fromkeys(items))


def has_idperson_param(value: str) -> str | None:
    if value and ":idperson" not in value:
        return "must contain :idperson (the student's id is passed there)"
    return None


def schedule_check(value: str) -> str | None:
    from ..schedule import ScheduleError, parse_schedule

    try:
        parse_schedule(value)
    except ScheduleError as exc:
        return str(exc)
    return None


def format_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(str(item) for item in value)
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    return str(value)
