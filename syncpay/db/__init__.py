"""Storage: one async interface over SQLite (aiosqlite) and MySQL/MariaDB (aiomysql)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from .base import Database, DatabaseError, DatabaseUnavailable, Row, Tx, missing_database
from .migrate import migrate
from .mysql import MysqlDatabase
from .queries import load_queries
from .sqlite import SqliteDatabase

if TYPE_CHECKING:
    from ..config import Settings

__all__ = [
    "Database",
    "DatabaseError",
    "DatabaseUnavailable",
    "Row",
    "Tx",
    "connect",
    "migrate",
    "tables_for",
]


def tables_for(settings: Settings) -> dict[str, str]:
    """Table names that queries and migrations refer to as ``{key}``."""
    return {"jobs": settings.db_queue_table}


async def connect(
    settings: Settings, *, create: bool = True, pool_size: int = 10, retry_for: float = 120.0
) -> Database:
    """Open the database named by the settings. ``create``: make it when it is missing
    (a MySQL database, a SQLite file and its folder); without it, a missing database is
    a DatabaseError naming DB_DATABASE. The commands decide which of them may create
    one (``syncpay.cli.app``)."""
    tables = tables_for(settings)
    if settings.db_connection == "sqlite":
        path = settings.db_database
        if not create and path != ":memory:" and not os.path.exists(path):
            raise DatabaseError(missing_database(f"database file {path!r}"))
        sqlite = SqliteDatabase(
            settings.db_database, load_queries("sqlite", "?", tables), retry_for=retry_for
        )
        await sqlite.open()
        return sqlite
    mysql = MysqlDatabase(
        load_queries("mysql", "%s", tables),
        host=settings.db_host,
        port=settings.db_port,
        user=settings.db_username,
        password=settings.db_password,
        database=settings.db_database,
        pool_size=pool_size,
        retry_for=retry_for,
        # A worker silent for DB_QUEUE_RETRY_AFTER is gone: its jobs come back then, and
        # so must the row locks of a transaction it left open (at most 30 s).
        idle_transaction_timeout=min(30, settings.db_queue_retry_after),
    )
    await mysql.open(create=create)
    return mysql
