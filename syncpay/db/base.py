"""The storage interface every dialect implements.

Callers speak in named queries (see ``queries.py``); a dialect only knows how to run
them. Writes go through :meth:`Database.transact`, which runs a function inside one
transaction and runs it again when the transaction broke for a reason that a retry
cures (SQLite busy, a MySQL connection lost or a deadlock). A function given to
``transact`` must therefore be safe to run twice: every write the queue makes is
fenced (it checks who holds the job), which makes a repeated run a no-op.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, ClassVar, TypeVar, cast

from .queries import Query, QueryError

T = TypeVar("T")
S = TypeVar("S")
Row = dict[str, Any]
Params = Mapping[str, Any] | None

log = logging.getLogger("syncpay.db")
#: The try of one transaction at which an expected failure (see
#: :meth:`Database.is_expected`) is logged at WARNING after all: it keeps coming back.
EXPECTED_RETRIES = 5


class DatabaseError(Exception):
    """The database could not do what was asked; the message is fit for a user."""


class DatabaseUnavailable(DatabaseError):
    """The database stayed unreachable (or locked) for longer than we wait."""


class Tx(ABC):
    """One open transaction (or, outside ``transact``, one autocommit statement)."""

    _after: list[Callable[[], None]] | None = None
    _before: dict[str, Callable[[], Awaitable[None]]] | None = None
    #: True where a write transaction excludes every other writer (SQLite): a lock
    #: taken only to order writers against each other can be skipped there.
    single_writer: ClassVar[bool] = False

    def state(self, kind: type[S]) -> S:
        """This transaction's ``kind()``, made at the first ask: typed per-transaction
        state of a caller, the class being its key (new for every run of a ``transact``
        function). A job type's ``prepare`` hook keeps what it read here for the hooks
        of the same round."""
        states: dict[type[Any], Any] = self.__dict__.setdefault("_states", {})
        found = states.get(kind)
        if found is None:
            found = states[kind] = kind()
        return cast(S, found)

    def before_commit(self, key: str, callback: Callable[[], Awaitable[None]]) -> None:
        """Run ``await callback()`` as this transaction's last work before COMMIT, once
        per ``key`` (a second registration under the same key is ignored).

        For writes that take a hot lock: done last, the lock is held for the few
        statements before the commit instead of the whole transaction."""
        if self._after is None:
            raise RuntimeError("before_commit needs a transaction (Database.transact)")
        if self._before is None:
            self._before = {}
        self._before.setdefault(key, callback)

    async def _run_before_commit(self) -> None:
        done: set[str] = set()
        while self._before and (keys := [k for k in self._before if k not in done]):
            for key in keys:  # a callback may register more work: it runs too
                done.add(key)
                await self._before[key]()

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` once this transaction has committed (now, if autocommit)."""
        if self._after is None:
            callback()
        else:
            self._after.append(callback)

    def _run_after_commit(self) -> None:
        callbacks, self._after = self._after or [], None
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("after-commit callback failed")

    @abstractmethod
    async def fetch_all(self, name: str, params: Params = None) -> list[Row]: ...

    async def fetch_one(self, name: str, params: Params = None) -> Row | None:
        rows = await self.fetch_all(name, params)
        return rows[0] if rows else None

    async def fetch_value(self, name: str, params: Params = None) -> Any:
        row = await self.fetch_one(name, params)
        return None if row is None else next(iter(row.values()))

    @abstractmethod
    async def execute(self, name: str, params: Params = None) -> int:
        """Run a statement; the number of rows it changed."""

    @abstractmethod
    async def insert(self, name: str, params: Params = None) -> int:
        """Run an INSERT; the new row's id."""

    @abstractmethod
    async def insert_many(self, name: str, rows: Sequence[Mapping[str, Any]]) -> int:
        """A multi-row INSERT of ``rows`` (chunked to the dialect's limits); rows written."""

    @abstractmethod
    async def execute_many(self, name: str, rows: Sequence[Mapping[str, Any]]) -> int:
        """A statement whose ``VALUES (…)`` group repeats once per row (a multi-row
        UPDATE from a derived table of ``rows``), chunked as ``insert_many``; the number
        of rows it changed."""

    async def run_statements(self, script: str) -> None:
        """Run a migration's statements (``;`` at a line's end ends one) in this transaction."""
        raise NotImplementedError


def split_statements(script: str) -> list[str]:
    """The statements of a DDL script; comment-only pieces are dropped."""
    pieces = [piece.strip() for piece in script.replace("\r\n", "\n").split(";\n")]
    statements = []
    for piece in pieces:
        code = "\n".join(line for line in piece.splitlines() if not line.strip().startswith("--"))
        if code.strip().strip(";"):
            statements.append(piece.rstrip().rstrip(";"))
    return statements


class Database(Tx):
    """A connection (pool) to one database; also usable as an autocommit ``Tx``."""

    dialect: ClassVar[str]
    placeholder: ClassVar[str]

    def __init__(self, queries: dict[str, Query], *, retry_for: float = 120.0) -> None:
        self.queries = queries
        self.retry_for = retry_for

    def query(self, name: str) -> Query:
        try:
            return self.queries[name]
        except KeyError:
            raise QueryError(f"no query named {name!r} for {self.dialect}") from None

    @abstractmethod
    async def transact(self, fn: Callable[[Tx], Awaitable[T]]) -> T:
        """Run ``fn`` in one write transaction, retrying it on transient failures."""

    @abstractmethod
    async def run_script(self, script: str) -> None:
        """Run a migration's DDL statements."""

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    def is_transient(self, exc: BaseException) -> bool:
        """Whether a retry of the whole transaction may succeed."""

    def is_expected(self, exc: BaseException) -> bool:
        """Whether ``exc`` is a transient failure that concurrent writers meet now and
        then in normal work (a MySQL deadlock): its retry is logged at DEBUG, and only
        the ``EXPECTED_RETRIES``-th of one transaction at WARNING. Any other transient
        failure (a lost connection, SQLite locked out) is a WARNING at once."""
        return False

    async def execute(self, name: str, params: Params = None) -> int:
        return await self.transact(lambda tx: tx.execute(name, params))

    async def insert(self, name: str, params: Params = None) -> int:
        return await self.transact(lambda tx: tx.insert(name, params))

    async def insert_many(self, name: str, rows: Sequence[Mapping[str, Any]]) -> int:
        return await self.transact(lambda tx: tx.insert_many(name, rows))

    async def execute_many(self, name: str, rows: Sequence[Mapping[str, Any]]) -> int:
        return await self.transact(lambda tx: tx.execute_many(name, rows))

    async def _retrying(self, attempt: Callable[[], Awaitable[T]], what: str) -> T:
        """Call ``attempt`` until it succeeds, a non-transient error, or ``retry_for``."""
        deadline = time.monotonic() + self.retry_for
        delay = 0.01
        tries = 0
        while True:
            tries += 1
            try:
                return await attempt()
            except Exception as exc:
                if not self.is_transient(exc):
                    raise
                if time.monotonic() + delay > deadline:
                    raise DatabaseUnavailable(
                        f"{self.describe()}: {what} still failing after "
                        f"{self.retry_for:g}s ({first_line(exc)})"
                    ) from exc
                first = EXPECTED_RETRIES if self.is_expected(exc) else 1
                if tries == first or tries % 20 == 0:
                    log.warning("%s: %s (retrying)", what, first_line(exc))
                else:
                    log.debug("%s: %s (retrying)", what, first_line(exc))
                await asyncio.sleep(delay * (0.5 + random.random()))
                delay = min(delay * 2, 1.0)

    def describe(self) -> str:
        return self.dialect

    def free_space(self) -> int | None:
        """Bytes free where the database writes its files, when this process can tell
        (SQLite); None when the database lives elsewhere (a MySQL server)."""
        return None


def missing_database(what: str) -> str:
    """The one line for a database that is not there: only ``syncpay migrate`` (and
    ``serve``) create one, so a misspelled DB_DATABASE never becomes a new, empty
    database (issue #12, item 14)."""
    return f"DB_DATABASE: {what} does not exist; run `syncpay migrate` to create it"


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
