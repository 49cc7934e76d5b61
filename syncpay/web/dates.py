"""Dates and times as every page writes them: one format per language, taken from the
catalogues (``js.date.*``: the month names and the patterns), in one time zone.

The time zone is the server's (the one ``SYNC_SCHEDULE`` is read in): ``TZ`` when it
names a zone, else the zone ``/etc/localtime`` links to, else ``/etc/timezone``, else
UTC. The pages give its name to ``static/dates.js``, which writes the same text in the
browser from the same catalogue entries, whatever the browser's own zone. JSON answers
keep their ISO dates.

``6 Des 2026 14.05`` (Indonesian) and ``6 Dec 2026 14:05`` (English); a date without a
time (a bill's due date) is the same without the time, and is not moved between zones.
The activity log's time of day (``14.05.09``) is only ever written by ``dates.js``.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from datetime import UTC, date, datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web

from .i18n import text

#: The catalogue entries (both languages, same placeholders).
MONTHS = "js.date.months"  # twelve short month names, separated by spaces
DATE = "js.date.date"  # {day} {month} {year}
DATE_TIME = "js.date.datetime"  # … {hour} {minute}
CLOCK = "js.date.clock"  # {hour} {minute} {second}: static/dates.js (the activity log)

#: A catalogue's words in one language: ``words(key, **values)``.
Words = Callable[..., str]


def _zone_names() -> list[str]:
    names = [os.environ.get("TZ", "").removeprefix(":")]
    localtime = Path("/etc/localtime")
    if localtime.is_symlink():
        target = str(localtime.resolve())
        if "zoneinfo/" in target:
            names.append(target.split("zoneinfo/", 1)[1])
    try:
        names.append(Path("/etc/timezone").read_text(encoding="utf-8").strip())
    except OSError:
        pass
    return names


@functools.cache
def zone_name() -> str:
    """The IANA name of the zone the pages show times in (see the module's text)."""
    for name in _zone_names():
        if name and not name.startswith("/"):
            try:
                ZoneInfo(name)
            except (ValueError, OSError):  # not a zone name, or no tz database
                continue
            return name
    return "UTC"


def zone() -> tzinfo:
    name = zone_name()
    return UTC if name == "UTC" else ZoneInfo(name)


def moment(value: Any) -> datetime | None:
    """An instant from what the program stores: an epoch, an ISO text ("…Z" or a zone;
    without one it is UTC, as DATETIME columns are), or a datetime (a naive one from a
    column is UTC too)."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, datetime):
        found = value
    else:
        try:
            found = datetime.fromisoformat(str(value).strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    return found if found.tzinfo is not None else found.replace(tzinfo=UTC)


def _month(words: Words, month: int) -> str:
    names = words(MONTHS).split()
    return names[month - 1] if len(names) == 12 else f"{month:02d}"


def date_text(words: Words, value: date | str | None) -> str:
    """A calendar date (``6 Des 2026``) in the language of ``words`` (a catalogue's
    ``text`` for one language); "" for none or a text that is not a date."""
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value.strip()[:10])
        except ValueError:
            return ""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.date()
    return words(DATE, day=value.day, month=_month(words, value.month), year=value.year)


def datetime_text(words: Words, value: Any, *, local: bool = False) -> str:
    """An instant (``6 Des 2026 14.05``) in the pages' zone, in the language of
    ``words``; "" for none. ``local``: a naive datetime is this machine's local time (the
    schedule's), not UTC."""
    if local and isinstance(value, datetime) and value.tzinfo is None:
        found: datetime | None = value.astimezone()  # this machine's local time
    else:
        found = moment(value)
    if found is None:
        return ""
    at = found.astimezone(zone())
    return words(
        DATE_TIME,
        day=at.day,
        month=_month(words, at.month),
        year=at.year,
        hour=f"{at.hour:02d}",
        minute=f"{at.minute:02d}",
    )


def format_date(request: web.Request, value: date | str | None) -> str:
    """A calendar date (``6 Des 2026``) in the request's language."""
    return date_text(functools.partial(text, request), value)


def format_datetime(request: web.Request, value: Any, *, local: bool = False) -> str:
    """An instant (``6 Des 2026 14.05``) in the request's language (see
    :func:`datetime_text`)."""
    return datetime_text(functools.partial(text, request), value, local=local)
