"""``SYNC_SCHEDULE``: when the server starts an all-students run by itself.

Accepted forms (server's local time):

- ``""``: no schedule;
- ``"02:00"`` — every day at that time; several separated by commas: ``"02:00,13:30"``;
- a five-field cron expression ``minute hour day-of-month month day-of-week`` with
  ``*``, numbers, ranges ``a-b``, steps ``*/n`` / ``a-b/n``, lists ``a,b`` and the names
  ``jan``…``dec``, ``sun``…``sat`` (day-of-week 0 and 7 are Sunday). As in cron, when
  both day fields are restricted a day matching either one counts.

Our own small parser; :class:`ScheduleError` names what is wrong in one line.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

__all__ = ["Schedule", "ScheduleError", "parse_schedule"]

_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
#: (name, low, high, names) of the five cron fields.
_FIELDS = (
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day of month", 1, 31, ()),
    ("month", 1, 12, _MONTHS),
    ("day of week", 0, 7, _DAYS),
)
#: How far ahead :meth:`Schedule.next_after` looks (a "31 feb" never comes).
_HORIZON_DAYS = 366 * 5


class ScheduleError(ValueError):
    """A schedule that cannot be read; ``str()`` is one line naming the problem."""


@dataclass(frozen=True)
class Schedule:
    """The minutes at which a run starts."""

    text: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 = Sunday … 6 = Saturday
    days_restricted: bool
    weekdays_restricted: bool

    def matches(self, moment: dt.datetime) -> bool:
        if moment.minute not in self.minutes or moment.hour not in self.hours:
            return False
        return moment.month in self.months and self._day_matches(moment.date())

    def _day_matches(self, day: dt.date) -> bool:
        weekday = (day.weekday() + 1) % 7  # Python: Monday 0; cron: Sunday 0
        in_days = day.day in self.days
        in_weekdays = weekday in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return in_days or in_weekdays
        return in_days and in_weekdays

    def next_after(self, moment: dt.datetime) -> dt.datetime | None:
        """The first matching minute strictly after ``moment`` (None: never)."""
        start = moment.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
        day = start.date()
        for _ in range(_HORIZON_DAYS):
            if day.month in self.months and self._day_matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        candidate = dt.datetime.combine(day, dt.time(hour, minute))
                        if moment.tzinfo is not None:
                            candidate = candidate.replace(tzinfo=moment.tzinfo)
                        if candidate >= start:
                            return candidate
            day += dt.timedelta(days=1)
        return None


def _number(text: str, name: str, low: int, high: int, names: tuple[str, ...]) -> int:
    lowered = text.lower()
    if lowered in names:
        return names.index(lowered) + (1 if name == "month" else 0)
    if not text.isdigit():
        raise ScheduleError(f"{name}: {text!r} is not a number")
    value = int(text)
    if not low <= value <= high:
        raise ScheduleError(f"{name}: {value} is outside {low}-{high}")
    return value


def _field(text: str, name: str, low: int, high: int, names: tuple[str, ...]) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        if not part:
            raise ScheduleError(f"{name}: an empty item in {text!r}")
        base, slash, step_text = part.partition("/")
        step = 1
        if slash:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ScheduleError(f"{name}: step {step_text!r} is not a number above 0")
            step = int(step_text)
        if base == "*":
            first, last = low, high
        elif "-" in base:
            a, _, b = base.partition("-")
            first, last = (_number(a, name, low, high, names), _number(b, name, low, high, names))
            if first > last:
                raise ScheduleError(f"{name}: range {base!r} runs backwards")
        else:
            first = _number(base, name, low, high, names)
            last = high if slash else first
        values.update(range(first, last + 1, step))
    return values


def parse_schedule(text: str) -> Schedule | None:
    """The schedule ``text`` describes (None for an empty one)."""
    text = text.strip()
    if not text:
        return None
    if len(text) > 200:
        raise ScheduleError("longer than 200 characters")
    if ":" in text:
        pairs = []
        for item in (t.strip() for t in text.split(",")):
            found = _TIME.match(item)
            if not found:
                raise ScheduleError(f"{item!r} is not a time HH:MM (00:00-23:59)")
            pairs.append((int(found.group(1)), int(found.group(2))))
        return _Times(text, pairs)
    fields = text.split()
    if len(fields) != 5:
        raise ScheduleError(
            f"{text!r}: expected HH:MM or five cron fields (minute hour day month weekday), "
            f"got {len(fields)} field{'s' if len(fields) != 1 else ''}"
        )
    sets = [_field(f, *spec) for f, spec in zip(fields, _FIELDS, strict=True)]
    weekdays = {d % 7 for d in sets[4]}
    schedule = Schedule(
        text,
        frozenset(sets[0]),
        frozenset(sets[1]),
        frozenset(sets[2]),
        frozenset(sets[3]),
        frozenset(weekdays),
        fields[2] != "*",
        fields[4] != "*",
    )
    if schedule.next_after(dt.datetime(2000, 1, 1)) is None:
        raise ScheduleError(f"{text!r} never happens (no such day)")
    return schedule


class _Times(Schedule):
    """Daily times (``"02:00"``, ``"02:00,13:30"``)."""

    def __init__(self, text: str, pairs: list[tuple[int, int]]) -> None:
        days = frozenset(range(1, 32))
        super().__init__(
            text,
            frozenset(m for _, m in pairs),
            frozenset(h for h, _ in pairs),
            days,
            frozenset(range(1, 13)),
            frozenset(range(7)),
            False,
            False,
        )
        object.__setattr__(self, "pairs", frozenset(pairs))

    def matches(self, moment: dt.datetime) -> bool:
        return (moment.hour, moment.minute) in self.pairs  # type: ignore[attr-defined]

    def next_after(self, moment: dt.datetime) -> dt.datetime | None:
        start = moment.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
        best = None
        for hour, minute in self.pairs:  # type: ignore[attr-defined]
            candidate = start.replace(hour=hour, minute=minute)
            if candidate < start:
                candidate += dt.timedelta(days=1)
            if best is None or candidate < best:
                best = candidate
        return best
