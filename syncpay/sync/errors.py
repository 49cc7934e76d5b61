"""The sync's refusals: each carries its catalogue key and values (``sync.err.*``), for
the web pages and the command line to word in their own language."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..i18n import DEFAULT, catalogs

if TYPE_CHECKING:
    from .records import Run

#: The default language's words of two refusals (kept for library users and tests).
ALREADY_RUNNING = catalogs().text(DEFAULT, "sync.err.already_running")
NO_STUDENTS = catalogs().text(DEFAULT, "sync.err.no_students")


class SyncError(Exception):
    """A refusal: its catalogue ``key`` (``sync.err.*``) and the ``values`` the key's
    text needs, for each caller to word it in its own language; ``message`` (and
    ``str()``) is that text in the catalogues' default language (Indonesian).

    ``status`` stays for the library's users (docs/library.md names it) and the web
    error middleware's fallback; the sync routes map the exception's type themselves."""

    status = 400

    def __init__(
        self, key: str, values: Mapping[str, Any] | None = None, run: Run | None = None
    ) -> None:
        self.key = key
        self.values: dict[str, Any] = dict(values or {})
        self.message = catalogs().text(DEFAULT, key, **self.values)
        super().__init__(self.message)
        self.run = run


class RunConflict(SyncError):
    """A run over all students is already running, none is running, or one still runs."""

    status = 409


class NoStudents(SyncError):
    """No student in the scope, or no failed student to retry."""

    status = 400


class RunNotFound(SyncError):
    status = 404


class OutsideScope(SyncError):
    """A scoped officer (issue #15) asked for students outside their scope, or for a run
    someone else started."""

    status = 403
