"""Fixtures: every storage and queue test runs on SQLite and on the real MariaDB.

MariaDB: 127.0.0.1:3306, user root, no password, unless SYNCPAY_TEST_DB_HOST / _PORT /
_USERNAME / _PASSWORD say otherwise. One database per test run, dropped at the end.
Under CI=true an unreachable MariaDB fails the run instead of skipping.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pymysql
import pytest

from syncpay.config import Settings, load_settings
from syncpay.db import Database, connect, migrate, tables_for

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

MYSQL = {
    "DB_HOST": os.environ.get("SYNCPAY_TEST_DB_HOST", "127.0.0.1"),
    "DB_PORT": os.environ.get("SYNCPAY_TEST_DB_PORT", "3306"),
    "DB_USERNAME": os.environ.get("SYNCPAY_TEST_DB_USERNAME", "root"),
    "DB_PASSWORD": os.environ.get("SYNCPAY_TEST_DB_PASSWORD", ""),
}
TABLES = (
    "jobs",
    "failed_jobs",
    "cache",
    "siswa",
    "siswa_removed",
    "siswa_history",
    "users",
    "api_tokens",
    "web_sessions",
)


def mysql_connect(database: str | None = None) -> pymysql.connections.Connection:
    return pymysql.connect(
        host=MYSQL["DB_HOST"],
        port=int(MYSQL["DB_PORT"]),
        user=MYSQL["DB_USERNAME"],
        password=MYSQL["DB_PASSWORD"],
        database=database,
        autocommit=True,
        connect_timeout=5,
    )


@pytest.fixture(scope="session")
def mysql_database() -> Iterator[str]:
    """A database of our own on the MariaDB server, for this test run."""
    try:
        conn = mysql_connect()
    except pymysql.err.OperationalError as exc:
        message = f"MariaDB at {MYSQL['DB_HOST']}:{MYSQL['DB_PORT']} unreachable: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    name = f"syncpay_test_{os.getpid()}_{secrets.token_hex(3)}"
    with conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    conn.close()
    yield name
    try:
        conn = mysql_connect()
        with conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()
    except pymysql.err.OperationalError:
        pass


def settings_for(kind: str, tmp_path: Path, mysql_database: str | None, **extra: str) -> Settings:
    env: dict[str, str] = {}
    if kind == "sqlite":
        env = {"DB_CONNECTION": "sqlite", "DB_DATABASE": str(tmp_path / "syncpay.sqlite")}
    else:
        assert mysql_database is not None
        env = {"DB_CONNECTION": "mysql", "DB_DATABASE": mysql_database, **MYSQL}
    env.update(extra)
    return load_settings(env, environ={}, env_file=None)


@pytest.fixture(params=["sqlite", "mysql"])
def db_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def settings(db_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    database = request.getfixturevalue("mysql_database") if db_kind == "mysql" else None
    return settings_for(db_kind, tmp_path, database)


@pytest.fixture
def env_vars(settings: Settings) -> dict[str, str]:
    """The database settings as environment variables, for subprocesses."""
    names = ("DB_CONNECTION", "DB_DATABASE", "DB_HOST", "DB_PORT", "DB_USERNAME", "DB_PASSWORD")
    return {name: str(getattr(settings, name.lower())) for name in names}


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[Database]:
    database = await connect(settings, create=True)
    await migrate(database, tables_for(settings))
    if database.dialect == "mysql":
        await database.run_script(";\n".join(f"DELETE FROM {t}" for t in TABLES))
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
async def h(settings: Settings, db: Database) -> AsyncIterator[Any]:
    """A sync harness (tests/sync_helpers.py) over the test's database: its simulators,
    SyncPay objects and workers, all closed at the end."""
    from tests.sync_helpers import Harness

    harness = await Harness(settings, db).setup()
    try:
        yield harness
    finally:
        await harness.close()


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


@pytest.fixture
def cli(db_kind: str, env_vars: dict[str, str], tmp_path: Path) -> Iterator[Any]:
    """Runs `python -m syncpay` in an empty directory against the test's database."""
    from tests.test_cli import DB_VARIABLES, Cli, _empty_mysql_tables, base_env

    cwd = tmp_path / "cwd"
    cwd.mkdir()
    # Only the connection: env_vars also spells out derived values (retry-after…).
    env = base_env(**{k: env_vars[k] for k in DB_VARIABLES if k in env_vars})
    if db_kind == "mysql":
        _empty_mysql_tables(env["DB_DATABASE"])
    runner = Cli(db_kind, cwd, env)
    try:
        yield runner
    finally:
        runner.close()


@pytest.fixture
def plain(tmp_path: Path) -> Any:
    """A SQLite set-up for commands that fail before any database is opened."""
    from tests.test_cli import Cli, base_env

    cwd = tmp_path / "cwd"
    cwd.mkdir()
    env = base_env(DB_CONNECTION="sqlite", DB_DATABASE=str(tmp_path / "db.sqlite"))
    return Cli("sqlite", cwd, env)
