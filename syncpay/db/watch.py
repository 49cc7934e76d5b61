"""Cheap, repeated looks at the queue's newest job id, for idle workers (``queue/watch.py``).

An idle worker asks "what is the newest job's id now?" every few tens of milliseconds;
a larger id than the one read before its last empty claim is a job pushed since, by
any process on any machine. Each look must cost next to nothing, on both sides:

* SQLite: one connection of its own, used in the event loop's thread (a look takes
  microseconds; a trip through a thread would cost more than the look). ``PRAGMA
  data_version`` changes only when another connection committed a change, so the id
  is read again only then. The connection is never written with.
* MySQL / MariaDB: one connection of the pool, held while the worker is idle, runs
  ``jobs_mark`` (the primary key's last entry: no rows read, no locks) in autocommit
  at READ COMMITTED, so no transaction stays open and every look sees the latest
  commit.

A look that fails answers None (the database is away or busy): the worker then waits
for its ``--sleep`` poll, as without a watch.
"""

from __future__ import annotations

import contextlib
import sqlite3
from abc import ABC, abstractmethod

import aiomysql

from .base import Database
from .mysql import MysqlDatabase
from .sqlite import SqliteDatabase

#: Seconds between two looks while a worker is idle, per dialect (``WorkerOptions.watch``).
SQLITE_INTERVAL = 0.05
MYSQL_INTERVAL = 0.1


class JobsWatch(ABC):
    """Looks at the newest job id of one database (``jobs_mark``)."""

    interval: float

    @abstractmethod
    async def newest(self) -> int | None:
        """The newest job id now; None when the database could not say (look again later)."""

    @abstractmethod
    async def pause(self) -> None:
        """The worker is busy again: give back what the watch holds between looks."""

    @abstractmethod
    async def close(self) -> None:
        """The worker stopped."""


class SqliteWatch(JobsWatch):
    interval = SQLITE_INTERVAL

    def __init__(self, path: str, sql: str) -> None:
        self.path = path
        self.sql = sql
        self._conn: sqlite3.Connection | None = None
        self._version: int | None = None
        self._newest: int | None = None

    async def newest(self) -> int | None:
        return self.look()

    def look(self) -> int | None:
        """:meth:`newest`, from the loop's thread without awaiting (a few microseconds)."""
        try:
            conn = self._conn or self._open()
            # fetchall: each statement runs to its end, so no read transaction stays open
            # between looks (it would hold back the WAL's checkpoints).
            version = int(conn.execute("PRAGMA data_version").fetchall()[0][0])
            if version == self._version:
                return self._newest  # no other connection committed since the last look
            row = conn.execute(self.sql).fetchall()[0]
        except sqlite3.Error:
            self._drop()
            return None
        # The version was read before the id: a commit between the two shows at the next look.
        self._version, self._newest = version, int(row[0] or 0)
        return self._newest

    def _open(self) -> sqlite3.Connection:
        # timeout=0: a look never waits for a lock (WAL readers hardly ever meet one);
        # check_same_thread=False: opened and used in the loop's thread only, but closed
        # wherever the pool stops.
        conn = sqlite3.connect(self.path, timeout=0, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA query_only=ON")
        except sqlite3.Error:
            conn.close()
            raise
        self._conn = conn
        return conn

    async def pause(self) -> None:
        pass  # its connection costs nothing between looks, and knows the last version

    async def close(self) -> None:
        self._drop()

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        self._version = self._newest = None
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()


class MysqlWatch(JobsWatch):
    interval = MYSQL_INTERVAL

    def __init__(self, db: MysqlDatabase, sql: str) -> None:
        self.db = db
        self.sql = sql
        self._conn: aiomysql.Connection | None = None
        self._cursor: aiomysql.Cursor | None = None
        #: Connections given up after a failed look.
        self.dropped = 0

    async def newest(self) -> int | None:
        try:
            if self._cursor is None:
                self._conn = await self.db.watch_connection()
                self._cursor = await self._conn.cursor()
            cursor = self._cursor
            # No timeout of its own (asyncio.wait_for would cost a task per look): a
            # server that vanished shows within TCP's user timeout (mysql_net.KEEPALIVE), and
            # meanwhile the pool's --sleep polls go on without the watch.
            await cursor.execute(self.sql)
            row = await cursor.fetchone()
        except BaseException as exc:
            # Lost, killed or cancelled mid-look: its state is unknown, it goes (the next
            # look takes another).
            await self._give_back(broken=True)
            if not isinstance(exc, Exception):
                raise
            return None
        return int(row[0] or 0) if row else 0

    async def pause(self) -> None:
        await self._give_back(broken=False)

    async def close(self) -> None:
        await self._give_back(broken=False)

    async def _give_back(self, *, broken: bool) -> None:
        conn, self._conn, self._cursor = self._conn, None, None
        if conn is None:
            return
        if broken:
            self.dropped += 1
            conn.close()
        self.db.watch_done(conn)


def open_watch(db: Database, interval: float | None = None) -> JobsWatch | None:
    """A watch of ``db``'s newest job id, looking every ``interval`` seconds (None: the
    dialect's default); None where another connection cannot see this one's commits
    (an in-memory SQLite database)."""
    watch: JobsWatch
    if isinstance(db, SqliteDatabase):
        if db.path == ":memory:":
            return None
        watch = SqliteWatch(db.path, db.query("jobs_mark").bind(None)[0])
    elif isinstance(db, MysqlDatabase):
        watch = MysqlWatch(db, db.query("jobs_mark").bind(None)[0])
    else:
        return None
    if interval is not None:
        watch.interval = interval
    return watch
