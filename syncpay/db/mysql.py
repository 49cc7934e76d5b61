"""MySQL / MariaDB through an aiomysql pool.

Sessions run at READ COMMITTED so a claim (``SELECT … FOR UPDATE SKIP LOCKED``)
locks only the rows it takes. A connection that broke (server restarted, network cut,
killed) is thrown away, and the transaction that used it runs again on a fresh one;
so do deadlocks and lock-wait timeouts.
"""

from __future__ import annotations

import asyncio
import re
import warnings
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

import aiomysql
import pymysql

from .base import (
    Database,
    DatabaseError,
    Params,
    Row,
    T,
    Tx,
    missing_database,
    split_statements,
)
from .mysql_errors import DEADLOCK, TRANSIENT_CODES, UNKNOWN_DATABASE, error_message, login_refusal
from .mysql_inline import MAX_ROWS_PER_INSERT, insert_inline
from .mysql_net import keepalive
from .queries import Query

_SAFE_NAME = re.compile(r"^[A-Za-z0-9_$]+$")


# A line that ends a statement of a named query made of several (not a comment line).
_STATEMENT_END = re.compile(r"^(?!\s*--).*;[ \t]*$", re.MULTILINE)
# What pymysql reads as a placeholder (%s) or a literal percent sign (%%).
_PERCENT = re.compile(r"%%|%s")


def is_multi_statement(sql: str) -> bool:
    """Whether a named query is several statements (see :func:`statements`)."""
    return _STATEMENT_END.search(sql) is not None


def statements(sql: str, args: Sequence[Any]) -> list[tuple[str, list[Any]]]:
    """A bound named query's statements, each with its own arguments.

    Most named queries are one statement. A few MySQL ones are two, a line ending with
    ``;`` between them, where one statement cannot do the work through the primary key
    alone: ``DELETE … RETURNING`` takes no index hint, so ``delete_held`` locks and
    returns its rows with ``SELECT … FORCE INDEX (PRIMARY) … FOR UPDATE`` and deletes
    them with the multi-table ``DELETE``, which does take one. They run in order on one
    connection, in the caller's transaction."""
    if not is_multi_statement(sql):
        return [(sql, list(args))]
    found: list[tuple[str, list[Any]]] = []
    start = used = 0
    for end in [m.end() for m in _STATEMENT_END.finditer(sql)] + [len(sql)]:
        piece = sql[start:end].strip().rstrip(";").strip()
        start = end
        if not piece:
            continue
        count = sum(1 for token in _PERCENT.findall(piece) if token == "%s")
        found.append((piece, list(args[used : used + count])))
        used += count
    return found


class _MysqlTx(Tx):
    def __init__(
        self, db: MysqlDatabase, cursor: aiomysql.DictCursor, *, in_transaction: bool = True
    ) -> None:
        self.db = db
        self.cursor = cursor
        self._after = [] if in_transaction else None
        self._changed = 0

    async def _run(self, name: str, params: Params) -> list[Row] | None:
        """Run the query's statements; the rows of the first one that returns rows."""
        sql, args = self.db.query(name).bind(params)
        rows: list[Row] | None = None
        for statement, values in statements(sql, args):
            self._changed = int(await self.cursor.execute(statement, values))
            if rows is None and self.cursor.description is not None:
                rows = list(await self.cursor.fetchall())
        return rows

    async def fetch_all(self, name: str, params: Params = None) -> list[Row]:
        return await self._run(name, params) or []

    async def execute(self, name: str, params: Params = None) -> int:
        """The rows the (last) statement changed."""
        await self._run(name, params)
        return self._changed

    async def insert(self, name: str, params: Params = None) -> int:
        await self._run(name, params)
        return int(self.cursor.lastrowid or 0)

    async def run_statements(self, script: str) -> None:
        with warnings.catch_warnings():
            # "Table already exists" notes of CREATE … IF NOT EXISTS.
            warnings.simplefilter("ignore")
            for statement in split_statements(script):
                await self.cursor.execute(statement)

    async def insert_many(self, name: str, rows: Sequence[Mapping[str, Any]]) -> int:
        """The values written into the SQL (``mysql_inline.py``), not passed as
        parameters. ``MysqlDatabase.inline_values = False``: the driver's parameters, as
        before issue #16 (for comparison: bench/queue_bench.py)."""
        await self.execute_many(name, rows)
        return len(rows)

    async def execute_many(self, name: str, rows: Sequence[Mapping[str, Any]]) -> int:
        query = self.db.query(name)
        if self.db.inline_values:
            return await insert_inline(self.cursor, query, rows)
        changed = 0
        for start in range(0, len(rows), MAX_ROWS_PER_INSERT):
            sql, args = query.bind_many(rows[start : start + MAX_ROWS_PER_INSERT])
            changed += int(await self.cursor.execute(sql, args))
        return changed


class MysqlDatabase(Database):
    dialect = "mysql"
    placeholder = "%s"
    #: Multi-row INSERTs carry their values in the SQL text (see ``_MysqlTx.insert_many``).
    inline_values = True

    def __init__(
        self,
        queries: dict[str, Query],
        *,
        host: str,
        port: int,
        user: str,
        password: str,
        database: str,
        pool_size: int = 10,
        retry_for: float = 120.0,
        idle_transaction_timeout: int = 30,
    ) -> None:
        super().__init__(queries, retry_for=retry_for)
        self.host, self.port, self.user, self.password = host, port, user, password
        self.database = database
        self.pool_size = pool_size
        self.idle_transaction_timeout = idle_transaction_timeout
        self._pool: aiomysql.Pool | None = None
        self._prepared: weakref.WeakSet[aiomysql.Connection] = weakref.WeakSet()
        #: Connections lent to idle workers' watches (closed by :meth:`close`).
        self._watching: set[aiomysql.Connection] = set()

    def describe(self) -> str:
        return f"MySQL database {self.database} at {self.host}:{self.port}"

    async def open(self, create: bool = False) -> None:
        if not _SAFE_NAME.match(self.database):
            raise DatabaseError(f"DB_DATABASE: {self.database!r} is not a valid database name")
        try:
            try:
                self._pool = await self._create_pool(self.database)
            except pymysql.err.OperationalError as exc:
                if not (create and exc.args and exc.args[0] == UNKNOWN_DATABASE):
                    raise
                await self._create_database()
                self._pool = await self._create_pool(self.database)
        except (pymysql.err.MySQLError, OSError) as exc:
            raise DatabaseError(self._connect_problem(exc)) from exc

    def _connect_problem(self, exc: BaseException) -> str:
        """One line naming the setting that is wrong (issue #12, item 14)."""
        code = exc.args[0] if exc.args else 0
        message = error_message(exc)
        if code == UNKNOWN_DATABASE:
            return missing_database(f"database {self.database!r}")
        refusal = login_refusal(
            code, message, "DB_", self.user, self.host, self.database, bool(self.password)
        )
        if refusal is not None:
            return refusal
        if isinstance(code, int) and 1000 <= code < 2000:  # the server answered
            return f"DB_HOST: MySQL at {self.host}:{self.port} refused the connection ({message})"
        return f"DB_HOST: cannot reach MySQL at {self.host}:{self.port} ({message})"

    async def _create_pool(self, database: str | None) -> aiomysql.Pool:
        return await aiomysql.create_pool(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            db=database,
            autocommit=True,
            charset="utf8mb4",
            minsize=1,
            maxsize=self.pool_size,
            pool_recycle=3600,
            connect_timeout=5,
            init_command="SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
        )

    async def _create_database(self) -> None:
        conn = await aiomysql.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            autocommit=True,
            connect_timeout=5,
        )
        try:
            async with conn.cursor() as cursor:
                await cursor.execute(
                    f"CREATE DATABASE IF NOT EXISTS `{self.database}` "
                    "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
                )
        finally:
            conn.close()

    def is_transient(self, exc: BaseException) -> bool:
        if isinstance(exc, pymysql.err.InterfaceError):
            return True
        if isinstance(exc, pymysql.err.MySQLError):
            code = exc.args[0] if exc.args and isinstance(exc.args[0], int) else 0
            return code in TRANSIENT_CODES
        return isinstance(exc, (ConnectionError, asyncio.IncompleteReadError, OSError))

    def is_expected(self, exc: BaseException) -> bool:
        # A deadlock: InnoDB rolled back one of two transactions that wanted each other's
        # rows; the other went on. Our own writes take rows through the primary key in
        # one order, so it is rare (see docs/troubleshooting.md), and a retry cures it.
        if isinstance(exc, pymysql.err.MySQLError):
            return bool(exc.args) and exc.args[0] == DEADLOCK
        return False

    async def _with_connection(
        self, fn: Callable[[aiomysql.Connection], Awaitable[T]], what: str
    ) -> T:
        pool = self._require_open()

        async def attempt() -> T:
            conn = await pool.acquire()
            try:
                await self._prepare(conn)
                result = await fn(conn)
            except Exception as exc:
                await self._discard_or_rollback(conn, exc)
                raise
            except BaseException:
                # Cancelled mid-statement: the connection's state is unknown; drop it.
                conn.close()
                raise
            finally:
                pool.release(conn)
            return result

        return await self._retrying(attempt, what)

    async def _prepare(self, conn: aiomysql.Connection) -> None:
        """Once per connection: TCP keepalive (see :func:`.mysql_net.keepalive`) and, on MariaDB,
        ``idle_transaction_timeout``. A client that
        vanishes mid-transaction (its machine lost its network) would otherwise keep the
        transaction's row locks (jobs it was claiming or acking, a run's counters) until
        TCP gives up, hours later, and every other worker would wait on them. Our
        transactions never sit idle: one that does has lost its client, and the server
        rolls it back. A live client that stalled that long sees a lost connection, and
        ``transact`` runs its transaction again."""
        if conn in self._prepared:
            return
        keepalive(conn)
        if self.idle_transaction_timeout > 0 and "mariadb" in str(conn.get_server_info()).lower():
            async with conn.cursor() as cursor:
                await cursor.execute(
                    "SET SESSION idle_transaction_timeout = %s", (self.idle_transaction_timeout,)
                )
        self._prepared.add(conn)

    async def _discard_or_rollback(self, conn: aiomysql.Connection, exc: Exception) -> None:
        """After an error, keep a healthy connection (rolled back), drop a broken one."""
        if self.is_transient(exc) or conn.closed:
            conn.close()
            return
        try:
            await conn.rollback()
        except Exception:
            conn.close()

    async def transact(self, fn: Callable[[Tx], Awaitable[T]]) -> T:
        async def run(conn: aiomysql.Connection) -> T:
            await conn.begin()
            async with conn.cursor(aiomysql.DictCursor) as cursor:
                tx = _MysqlTx(self, cursor)
                result = await fn(tx)
                await tx._run_before_commit()
            await conn.commit()
            tx._run_after_commit()
            return result

        return await self._with_connection(run, "write transaction")

    async def fetch_all(self, name: str, params: Params = None) -> list[Row]:
        if is_multi_statement(self.query(name).text):
            # Its statements belong together (a locking read and its write).
            return await self.transact(lambda tx: tx.fetch_all(name, params))

        async def run(conn: aiomysql.Connection) -> list[Row]:
            async with conn.cursor(aiomysql.DictCursor) as cursor:
                return await _MysqlTx(self, cursor, in_transaction=False).fetch_all(name, params)

        return await self._with_connection(run, f"query {name}")

    async def run_script(self, script: str) -> None:
        async def run(conn: aiomysql.Connection) -> None:
            async with conn.cursor() as cursor:
                await _MysqlTx(self, cursor, in_transaction=False).run_statements(script)

        await self._with_connection(run, "migration")

    async def named_lock(self, name: str, timeout: float) -> aiomysql.Connection:
        """Take a server-wide named lock (GET_LOCK) on a connection of its own."""
        pool = self._require_open()
        conn = await pool.acquire()
        async with conn.cursor() as cursor:
            await cursor.execute("SELECT GET_LOCK(%s, %s)", (name, timeout))
            (got,) = await cursor.fetchone()
        if got != 1:
            pool.release(conn)
            raise DatabaseError(f"could not take the lock {name!r} within {timeout:g}s")
        return conn

    async def named_unlock(self, conn: aiomysql.Connection, name: str) -> None:
        pool = self._require_open()
        try:
            async with conn.cursor() as cursor:
                await cursor.execute("SELECT RELEASE_LOCK(%s)", (name,))
        finally:
            pool.release(conn)

    async def watch_connection(self) -> aiomysql.Connection:
        """A connection of the pool for an idle worker's watch (``db/watch.py``), held
        until :meth:`watch_done`; its looks run in autocommit, at READ COMMITTED."""
        pool = self._require_open()
        conn = await pool.acquire()
        try:
            await self._prepare(conn)
        except BaseException:
            conn.close()
            pool.release(conn)
            raise
        self._watching.add(conn)
        return conn

    def watch_done(self, conn: aiomysql.Connection) -> None:
        if self._pool is not None and conn in self._watching:
            self._watching.discard(conn)
            self._pool.release(conn)

    def _require_open(self) -> aiomysql.Pool:
        if self._pool is None:
            raise DatabaseError(f"{self.describe()} is closed")
        return self._pool

    async def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            # A watch holds its connection while its worker idles; the pool waits for
            # every lent connection, so close theirs (their next look takes no other).
            for conn in self._watching:
                conn.close()
                pool.release(conn)
            self._watching.clear()
            pool.close()
            await pool.wait_closed()
