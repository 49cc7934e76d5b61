"""`MysqlSource`: the finance database itself (PAYMENT_SOURCE=mysql), read-only; the
rows of PAYMENT_DB_QUERY become ``{"status": true, "data": [row, …]}``."""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import json
import math
import re
from types import TracebackType
from typing import TYPE_CHECKING, Any

from ...db.mysql_errors import login_refusal
from .base import SourceError, one_line, seconds

if TYPE_CHECKING:
    from ...config import Settings

#: MySQL/MariaDB error codes that may go away when asked again (the rest of the server's
#: errors are about the query or the rights: permanent).
_TRANSIENT_MYSQL = frozenset(
    {
        1040,  # too many connections
        1053,  # server shutdown in progress
        1152,  # aborted connection
        1158,  # network read error
        1159,  # network read timeout
        1160,  # network write error
        1161,  # network write timeout
        1205,  # lock wait timeout
        1213,  # deadlock
        1317,  # query interrupted
        1927,  # connection killed
        3024,  # max execution time exceeded
    }
)
_PARAMETER = re.compile(r":idperson\b")


def _json_value(value: object) -> str:
    """One value of a row as JSON text."""
    if isinstance(value, decimal.Decimal):
        if value == value.to_integral_value():
            return str(int(value))
        return format(value, "f")
    if isinstance(value, dt.datetime):
        return json.dumps(value.strftime("%Y-%m-%d %H:%M:%S"))
    if isinstance(value, dt.date):
        return json.dumps(value.isoformat())
    if isinstance(value, dt.timedelta):  # a TIME column
        total = int(value.total_seconds())
        sign, total = ("-", -total) if total < 0 else ("", total)
        return json.dumps(f"{sign}{total // 3600:02d}:{total % 3600 // 60:02d}:{total % 60:02d}")
    if isinstance(value, bytes | bytearray):
        return json.dumps(bytes(value).decode("utf-8", errors="replace"), ensure_ascii=False)
    if isinstance(value, float) and not math.isfinite(value):
        return "null"
    return json.dumps(value, ensure_ascii=False)


def rows_to_json(rows: list[dict[str, Any]]) -> str:
    """``{"status": true, "data": [row, …]}``: dates "YYYY-MM-DD", datetimes
    "YYYY-MM-DD HH:MM:SS", DECIMAL as a JSON number (an integer when whole, else its
    exact digits)."""
    data = ", ".join(
        "{" + ", ".join(f"{json.dumps(str(k))}: {_json_value(v)}" for k, v in row.items()) + "}"
        for row in rows
    )
    return f'{{"status": true, "data": [{data}]}}'


class MysqlSource:
    """The finance database: runs PAYMENT_DB_QUERY with the student's idperson.

    The connections are read-only (``SET SESSION TRANSACTION READ ONLY``); the pool
    (up to PAYMENT_API_CONCURRENCY connections) is opened on the first fetch, so a
    database that is down at start-up only fails the fetches (not permanent).  A query
    taking longer than PAYMENT_API_TIMEOUT is abandoned ("timeout after …")."""

    def __init__(self, settings: Settings) -> None:
        if not settings.payment_db_database:
            raise ValueError("PAYMENT_DB_DATABASE: required when PAYMENT_SOURCE=mysql")
        if not settings.payment_db_query:
            raise ValueError("PAYMENT_DB_QUERY: required when PAYMENT_SOURCE=mysql")
        query = settings.payment_db_query
        if not _PARAMETER.search(query):
            raise ValueError("PAYMENT_DB_QUERY: must contain :idperson")
        self._params = len(_PARAMETER.findall(query))
        self._sql = _PARAMETER.sub("%s", query.replace("%", "%%"))
        self.host = settings.payment_db_host
        self.port = settings.payment_db_port
        self.database = settings.payment_db_database
        self._user = settings.payment_db_username
        self._password = settings.payment_db_password
        self.timeout = float(settings.payment_api_timeout)
        self.concurrency = settings.payment_api_concurrency
        self._pool: Any = None
        self._pool_lock = asyncio.Lock()
        self._closed = False

    def describe(self) -> str:
        return f"MySQL {self._user}@{self.host}:{self.port}/{self.database}"

    async def _get_pool(self) -> Any:
        import aiomysql

        if self._closed:
            raise RuntimeError("the payment source is closed")
        async with self._pool_lock:
            if self._pool is None:
                self._pool = await aiomysql.create_pool(
                    host=self.host,
                    port=self.port,
                    user=self._user,
                    password=self._password,
                    db=self.database,
                    minsize=0,
                    maxsize=self.concurrency,
                    autocommit=True,
                    charset="utf8mb4",
                    connect_timeout=min(self.timeout, 10.0),
                    init_command="SET SESSION TRANSACTION READ ONLY",
                    pool_recycle=3600,
                )
            return self._pool

    async def fetch(self, idperson: str) -> str:
        import aiomysql

        pool = await self._get_pool()
        try:
            async with asyncio.timeout(self.timeout):
                async with pool.acquire() as conn:
                    try:
                        async with conn.cursor(aiomysql.DictCursor) as cursor:
                            await cursor.execute(self._sql, (str(idperson),) * self._params)
                            rows = await cursor.fetchall()
                    except aiomysql.MySQLError as exc:
                        code = _mysql_code(exc)
                        if code is None or code >= 2000:
                            conn.close()  # the connection itself is broken
                        raise
                    except BaseException:
                        conn.close()  # interrupted mid-query: unknown state
                        raise
        except TimeoutError:
            raise SourceError(f"timeout after {seconds(self.timeout)}") from None
        except aiomysql.MySQLError as exc:
            raise self._mysql_error(exc) from None
        except OSError as exc:
            raise SourceError(self._cannot_connect(exc.strerror or one_line(exc))) from None
        return rows_to_json(list(rows))

    def _cannot_connect(self, why: str) -> str:
        return f"cannot reach the finance database at {self.host}:{self.port} ({why})"

    def _mysql_error(self, exc: Exception) -> SourceError:
        code = _mysql_code(exc)
        message = str(exc.args[1]) if len(exc.args) > 1 else one_line(exc)
        message = " ".join(message.split())
        if code is None or code >= 2000:  # client side: no or lost connection
            return SourceError(self._cannot_connect(message))
        if code == 1049:
            return SourceError(
                f"PAYMENT_DB_DATABASE: database {self.database!r} does not exist", permanent=True
            )
        refusal = login_refusal(
            code,
            message,
            "PAYMENT_DB_",
            self._user,
            self.host,
            self.database,
            bool(self._password),
        )
        if refusal is not None:
            return SourceError(refusal, permanent=True)
        return SourceError(f"MySQL error {code}: {message}", permanent=code not in _TRANSIENT_MYSQL)

    async def close(self) -> None:
        self._closed = True
        async with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()
            await pool.wait_closed()

    async def __aenter__(self) -> MysqlSource:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def _mysql_code(exc: BaseException) -> int | None:
    code = exc.args[0] if exc.args else None
    return code if isinstance(code, int) and not isinstance(code, bool) else None
