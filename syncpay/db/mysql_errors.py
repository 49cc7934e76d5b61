"""What MySQL / MariaDB errors mean to syncpay: the codes a retry cures, and the one
line naming the wrong setting when a server refuses a login (for syncpay's own database
and for the finance database alike)."""

from __future__ import annotations

import re

# Client errors (2xxx) that mean the connection is gone, and server errors that a
# retry cures: deadlock, lock wait timeout, shutdown in progress, connection killed,
# too many connections, and a read-only server during a switch-over.
TRANSIENT_CODES = frozenset(
    {2003, 2006, 2013, 2014, 2045, 2055, 1213, 1205, 1053, 1927, 1040, 1290, 1836, 4031}
)
DEADLOCK = 1213
UNKNOWN_DATABASE = 1049


def login_refusal(
    code: object,
    message: str,
    prefix: str,
    user: str,
    host: str,
    database: str,
    has_password: bool,
) -> str | None:
    """The one line for a MySQL server refusing a login, naming the setting that is
    wrong (``prefix``: ``DB_`` for syncpay's database, ``PAYMENT_DB_`` for the finance
    database), or None for another error. 1049 (no such database) is the caller's: only
    syncpay's own database may be created by ``syncpay migrate``."""
    found = re.search(r"'([^']*)'@'([^']*)'", message)
    who = found.group(0) if found else f"'{user}'@'{host}'"
    if code == 1044:
        # A database the user may not use: for a user without global rights, also
        # what a misspelled name answers (and what a refused CREATE DATABASE answers).
        return (
            f"{prefix}DATABASE: access denied for user {who} to database {database!r} "
            f"(check {prefix}DATABASE, or the user's grants on it)"
        )
    if code == 1045:
        empty = f"; {prefix}PASSWORD is empty" if not has_password else ""
        return (
            f"{prefix}PASSWORD: access denied for user {who} "
            f"(check {prefix}USERNAME and {prefix}PASSWORD{empty})"
        )
    if code == 1698:
        return (
            f"{prefix}USERNAME: user {who} may log in only through the server's own socket "
            "(unix_socket), not with a password: give syncpay a user of its own "
            "(docs/deploy.md)"
        )
    if code == 1130:
        return f"{prefix}USERNAME: {message} (the user's host in MySQL must match this machine)"
    return None


def error_message(exc: BaseException) -> str:
    """The server's message of a MySQL error (its second argument), else its text."""
    if len(exc.args) >= 2:
        return str(exc.args[1])
    return str(exc) or type(exc).__name__
