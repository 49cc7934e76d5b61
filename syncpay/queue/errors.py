"""How a failed job's error is stored, and how a refused write is said in words."""

from __future__ import annotations

import re
import sqlite3
import traceback

from ..text import clean, is_clean


def describe_exception(exc: BaseException) -> str:
    """The text stored in ``failed_jobs.exception``: the error line, then the traceback.

    Each line is made storable (:func:`syncpay.text.clean`): an error may quote text
    from outside (an API's message with a lone surrogate, a terminal escape), and a
    failure that cannot be stored would never leave the queue."""
    head = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    trace = "".join(traceback.format_exception(exc)).rstrip()
    text = f"{head}\n{trace}" if trace and trace != head else head
    if is_clean(text.replace("\n", " ")):
        return text
    return "\n".join(clean(line) for line in text.split("\n"))


#: MariaDB/MySQL error codes of a refused write, and how to say them (``{0}``: the
#: name the message quotes: a constraint, a column, a key).
_MYSQL_REFUSALS = {
    1048: "{0} may not be empty",
    1062: "a duplicate {0}",
    1264: "{0} out of range",
    1265: "{0} cut short",
    1292: "a value {0} cannot hold",
    1366: "text {0} cannot hold",
    1406: "too long for {0}",
    1451: "a row others still refer to",
    1452: "a reference to a missing row",
    3140: "not valid JSON",
    3819: "CHECK {0}",
    4025: "CHECK {0}",
}
_QUOTED = re.compile(r"[`'\"]([^`'\"]+)[`'\"]")


def refusal(exc: BaseException) -> str | None:
    """Why the database (or its driver) refused a write, as words a person can read —
    ``the database refused it (CHECK pembayaran)`` rather than ``(4025, 'CONSTRAINT
    `siswa.pembayaran` failed for …')`` — or None when ``exc`` is no such refusal."""
    if isinstance(exc, UnicodeError):
        return "it has text that is not valid Unicode"
    if isinstance(exc, OverflowError):
        return "the database refused it (a number too large)"
    if isinstance(exc, sqlite3.Error):
        text = str(exc)
        kind, _, what = text.partition(" constraint failed: ")
        if what:
            what = what.rsplit(".", 1)[-1] if kind in ("NOT NULL", "UNIQUE") else what
            words = {"NOT NULL": "{0} may not be empty", "UNIQUE": "a duplicate {0}"}
            said = words.get(kind, kind + " {0}").format(what)
        else:
            said = text
        return f"the database refused it ({clean(said, 120, one_line=True)})"
    args = exc.args
    if (
        type(exc).__module__.startswith("pymysql")
        and len(args) >= 2
        and isinstance(args[0], int)
        and isinstance(args[1], str)
    ):
        code, message = args[0], args[1]
        pattern = _MYSQL_REFUSALS.get(code)
        if pattern is None:
            return f"the database refused it (error {code}: {clean(message, 120, one_line=True)})"
        found = _QUOTED.search(message)
        name = found.group(1) if found else ""
        if code == 4025:
            name = name.rsplit(".", 1)[-1]  # MariaDB names a column's CHECK `table.column`
        elif code == 1062:
            name = f"key {_QUOTED.findall(message)[-1]}" if found else ""
        elif code == 1366:
            name = f"the column {_QUOTED.findall(message)[-1].rsplit('.', 1)[-1]}" if found else ""
        said = pattern.format(name or "a column").strip()
        return f"the database refused it ({clean(said, 120, one_line=True)})"
    return None
