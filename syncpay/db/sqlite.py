"""SQLite through aiosqlite: WAL, one writer connection, reader connections.

Writes in this process take an asyncio lock and then ``BEGIN IMMEDIATE``, so two of
our own transactions never meet inside SQLite; other processes wait in SQLite's busy
handler, and a ``database is locked`` that still gets through makes the whole
transaction run again (``transact``). Readers use their own connections, which WAL
never blocks.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import sqlite3
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from .base import Database, DatabaseError, Params, Row, T, Tx, split_statements
from .queries import Query

# SQLite's default limit on host parameters in one statement (3.32+) is 32766.
MAX_PARAMS = 32000
BUSY_TIMEOUT_MS = 5000


class _SqliteTx(Tx):
    """Statements of one transaction (or, outside one, of a reader).

    Inside a write transaction that holds the write lock (``BEGIN IMMEDIATE`` done), the
    single statements run on the writer's connection right here in the event loop's
    thread (``direct``): they cannot wait for a lock any more (WAL: readers never block
    the writer), and a small one takes a few microseconds, where a trip through
    aiosqlite's thread costs the loop ~0.1 ms of CPU. ``BEGIN``, ``COMMIT`` (which may
    checkpoint the WAL and wait for the disk), multi-row inserts and scripts still go
    through the thread."""

    single_writer = True

    def __init__(
        self,
        db: SqliteDatabase,
        conn: aiosqlite.Connection,
        *,
        in_transaction: bool = True,
        direct: sqlite3.Connection | None = None,
    ) -> None:
        self.db = db
        self.conn = conn
        self.direct = direct
        self._after = [] if in_transaction else None

    async def fetch_all(self, name: str, params: Params = None) -> list[Row]:
        sql, args = self.db.query(name).bind(params)
        if self.direct is not None:
            return [dict(row) for row in self.direct.execute(sql, args).fetchall()]
        rows = await self.conn.execute_fetchall(sql, args)
        return [dict(row) for row in rows]

    async def execute(self, name: str, params: Params = None) -> int:
        sql, args = self.db.query(name).bind(params)
        if self.direct is not None:
            return self.direct.execute(sql, args).rowcount
        cursor = await self.conn.execute(sql, args)
        return cursor.rowcount

    async def insert(self, name: str, params: Params = None) -> int:
        sql, args = self.db.query(name).bind(params)
        if self.direct is not None:
            return int(self.direct.execute(sql, args).lastrowid or 0)
        cursor = await self.conn.execute(sql, args)
        return int(cursor.lastrowid or 0)

    async def run_statements(self, script: str) -> None:
        for statement in split_statements(script):
            await self.conn.execute(statement)

    async def insert_many(self, name: str, rows: Sequence[Mapping[str, Any]]) -> int:
        await self.execute_many(name, rows)
        return len(rows)

    async def execute_many(self, name: str, rows: Sequence[Mapping[str, Any]]) -> int:
        if not rows:
            return 0
        query = self.db.query(name)
        per_row = max(1, len(query.bind_many(rows[:1])[1]))
        size = max(1, MAX_PARAMS // per_row)
        changed = 0
        for start in range(0, len(rows), size):
            sql, args = query.bind_many(rows[start : start + size])
            cursor = await self.conn.execute(sql, args)
            changed += max(0, cursor.rowcount)
        return changed


#: The database holds personal data, password hashes and session ids: its owner only.
#: SQLite gives the -wal and -shm files the database file's mode.
FILE_MODE = 0o600


def _private(path: Path) -> None:
    """Create the database file with :data:`FILE_MODE` (SQLite would make it 0644 under
    the usual umask); an older one readable by every user loses that (its group keeps
    what it had)."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
        return
    except FileExistsError:
        pass
    except OSError:
        return  # opening it reports the problem with DB_DATABASE's name
    for each in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        try:
            current = each.stat().st_mode & 0o777
            if current & 0o007:
                each.chmod(current & ~0o007)
        except OSError:
            pass


async def _to_the_end(statement: Awaitable[Any]) -> Any:
    """Await a statement sent to aiosqlite's thread to its end, even when the caller is
    cancelled meanwhile (the cancellation is raised after it): the statement runs there
    anyway, and the writer's state (in a transaction or not) must be known before its
    lock is released. A BEGIN cut off at the await left the connection inside a
    transaction that nobody would end ("cannot start a transaction within a
    transaction" for every later write); a COMMIT cut off was followed by a ROLLBACK
    that failed ("no transaction is active") in the cancellation's place."""
    task = asyncio.ensure_future(statement)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(BaseException):
            await task
        raise


async def _roll_back(writer: aiosqlite.Connection) -> None:
    """End the writer's transaction, if one is open, without hiding the error that
    ended it (a failing ROLLBACK is not that error)."""
    if writer.in_transaction:
        with contextlib.suppress(Exception):
            await _to_the_end(writer.execute("ROLLBACK"))


class SqliteDatabase(Database):
    dialect = "sqlite"
    placeholder = "?"

    def __init__(
        self, path: str, queries: dict[str, Query], *, readers: int = 2, retry_for: float = 120.0
    ) -> None:
        super().__init__(queries, retry_for=retry_for)
        self.path = path
        self.reader_count = readers
        self._writer: aiosqlite.Connection | None = None
        self._readers: list[aiosqlite.Connection] = []
        self._reader_cycle: itertools.cycle[aiosqlite.Connection] | None = None
        self._write_lock = asyncio.Lock()
        self._closed = False
        #: Run a write transaction's single statements in the loop's thread (`_SqliteTx`).
        self.direct_statements = True

    def describe(self) -> str:
        return f"SQLite database {self.path}"

    def free_space(self) -> int | None:
        if self.path == ":memory:":
            return None
        try:
            stats = os.statvfs(Path(self.path).resolve().parent)
        except OSError:
            return None
        return stats.f_bavail * stats.f_frsize

    async def open(self) -> None:
        if self.path != ":memory:":
            parent = Path(self.path).parent
            try:
                parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise DatabaseError(
                    f"DB_DATABASE: cannot create the folder {parent} ({exc.strerror})"
                ) from exc
            _private(Path(self.path))
        try:
            self._writer = await self._connect()
            await self._writer.execute_fetchall("PRAGMA journal_mode=WAL")
            if self.path != ":memory:":
                for _ in range(self.reader_count):
                    self._readers.append(await self._connect())
        except sqlite3.Error as exc:
            await self.close()
            raise DatabaseError(f"DB_DATABASE: cannot open {self.path} ({exc})") from exc
        self._reader_cycle = itertools.cycle(self._readers or [self._writer])

    async def _connect(self) -> aiosqlite.Connection:
        # check_same_thread=False: a write transaction's statements run on the writer's
        # connection in the loop's thread, never while its own thread uses it.
        conn = await aiosqlite.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            conn.row_factory = sqlite3.Row
            await conn.execute_fetchall(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            await conn.execute("PRAGMA synchronous=NORMAL")
            await conn.execute("PRAGMA foreign_keys=ON")
        except BaseException:
            # Its thread would keep the process alive.
            await conn.close()
            raise
        return conn

    def is_transient(self, exc: BaseException) -> bool:
        # A full disk (SQLITE_FULL) is waited out like a lock: the transaction rolled
        # back, nothing is damaged, and it commits once space returns.
        if isinstance(exc, sqlite3.OperationalError):
            text = str(exc).lower()
            return "locked" in text or "busy" in text or "disk is full" in text
        return False

    async def transact(self, fn: Callable[[Tx], Awaitable[T]]) -> T:
        writer = self._require_open()

        async def attempt() -> T:
            async with self._write_lock:
                try:
                    # In the try: a cancellation raised once BEGIN has run rolls it back.
                    await _to_the_end(writer.execute("BEGIN IMMEDIATE"))
                    tx = _SqliteTx(self, writer, direct=self._direct(writer))
                    result = await fn(tx)
                    await tx._run_before_commit()
                    await _to_the_end(writer.execute("COMMIT"))
                except BaseException:
                    await _roll_back(writer)
                    raise
                tx._run_after_commit()
                return result

        return await self._retrying(attempt, "write transaction")

    async def fetch_all(self, name: str, params: Params = None) -> list[Row]:
        self._require_open()
        assert self._reader_cycle is not None
        reader = next(self._reader_cycle)
        tx = _SqliteTx(self, reader, in_transaction=False)
        return await self._retrying(lambda: tx.fetch_all(name, params), f"query {name}")

    async def run_script(self, script: str) -> None:
        """Run DDL (a migration) in one immediate transaction."""
        writer = self._require_open()

        async def attempt() -> None:
            async with self._write_lock:
                try:
                    body = script.strip().rstrip(";")
                    await writer.executescript(f"BEGIN IMMEDIATE;\n{body};\nCOMMIT;")
                except BaseException:
                    await _roll_back(writer)
                    raise

        await self._retrying(attempt, "migration")

    def _direct(self, writer: aiosqlite.Connection) -> sqlite3.Connection | None:
        """The writer's own sqlite3 connection, for statements run in the loop's thread
        while a transaction holds the write lock (see `_SqliteTx`); None where that is
        not safe (an in-memory database, whose one connection also serves the reads) or
        not possible (an aiosqlite without it)."""
        if not self.direct_statements or self.path == ":memory:":
            return None
        try:
            conn = writer._conn  # aiosqlite's connection, made with check_same_thread=False
        except (AttributeError, ValueError):
            return None
        return conn if isinstance(conn, sqlite3.Connection) else None

    def _require_open(self) -> aiosqlite.Connection:
        if self._writer is None:
            raise DatabaseError(f"{self.describe()} is closed")
        return self._writer

    async def close(self) -> None:
        writer, readers = self._writer, self._readers
        self._writer = None  # no new transaction starts
        self._readers = []
        if writer is not None:
            # A transaction in flight runs its statements on the writer's sqlite3
            # connection in this thread: closing it meanwhile (in aiosqlite's thread)
            # crashed the process. It ends first (a retry after it finds it closed).
            async with self._write_lock:
                await _close_quietly(writer)
        for conn in readers:
            await _close_quietly(conn)


async def _close_quietly(conn: aiosqlite.Connection) -> None:
    try:
        await conn.close()
    except (sqlite3.Error, ValueError):
        pass
