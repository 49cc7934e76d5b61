"""``dist/syncpay.pyz``: built from this environment, run by a bare Python.

Each archive is run with ``python3 -I -S`` in an empty directory: no site-packages, no
PYTHONPATH, no user site, so aiohttp, aiosqlite, aiomysql and PyMySQL can only come
from inside the file (a check below proves the bare Python has none of them).
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import pymysql
import pytest

from syncpay.pyz import build
from tests.conftest import MYSQL, mysql_connect
from tests.test_cli import ROOT, Proc, base_env

pytestmark = pytest.mark.slow

LINK = re.compile(r"(http://127\.0\.0\.1:\d+)/login/once/(\S+)")
BARE = [sys.executable, "-I", "-S"]


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def _get(url: str) -> tuple[int, bytes]:
    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(url, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture(scope="module")
def pyz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("dist") / "syncpay.pyz").path


@pytest.fixture
def place(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """An empty working directory, and an environment whose cache is inside tmp_path."""
    cwd = tmp_path / "school"
    cwd.mkdir()
    env = base_env(HOME=str(tmp_path / "home"), XDG_CACHE_HOME=str(tmp_path / "cache"))
    return cwd, env


def _run(pyz: Path, cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*BARE, str(pyz), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_build_is_reproducible_runnable_and_complete(pyz: Path, tmp_path: Path):
    again = build(tmp_path / "syncpay.pyz").path
    assert again.read_bytes() == pyz.read_bytes()
    assert pyz.read_bytes().startswith(b"#!/usr/bin/env python3\n")
    assert os.access(pyz, os.X_OK)
    with zipfile.ZipFile(pyz) as zf:
        names = set(zf.namelist())
        assert {info.date_time for info in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert zf.namelist() == sorted(names)
    for needed in (
        "__main__.py",
        "syncpay/cli/app.py",
        "syncpay/static/app.js",
        "syncpay/web/templates/login.html",
        "syncpay/web/locale/id.json",
        "syncpay/db/queries/mysql/queue.sql",
        "syncpay/db/migrations/sqlite/0000_create_migrations_table.sql",
        "aiohttp/web.py",
        "aiohttp/web.pyc",
        "aiosqlite/__init__.py",
        "aiomysql/__init__.py",
        "pymysql/__init__.py",
        "multidict/_multidict_py.py",
        "yarl/_quoting_py.py",
    ):
        assert needed in names, needed
    assert not [n for n in names if n.endswith((".so", ".pyd"))]  # pure: nothing compiled
    assert not [n for n in names if "__pycache__" in n or n.endswith("/RECORD")]


def test_a_bare_python_has_no_dependencies_of_its_own(place: tuple[Path, dict[str, str]]):
    cwd, env = place
    done = subprocess.run(
        [*BARE, "-c", "import aiohttp"], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert done.returncode != 0 and "ModuleNotFoundError" in done.stderr


def test_help_and_migrate_on_sqlite(pyz: Path, place: tuple[Path, dict[str, str]]):
    cwd, env = place
    done = _run(pyz, cwd, env, "--help")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: syncpay") and "serve" in done.stdout
    done = _run(pyz, cwd, env, "migrate")
    assert done.returncode == 0, done.stderr
    assert "0001_create_queue_tables" in done.stdout
    with sqlite3.connect(cwd / "storage" / "syncpay.sqlite") as conn:
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    assert {"jobs", "siswa", "sync_runs", "users", "migrations"} <= tables
    again = _run(pyz, cwd, env, "migrate")
    assert again.returncode == 0 and "Tidak ada migrasi" in again.stdout, again.stdout


def test_demo_serves_pages_static_files_and_stops_on_sigterm(
    pyz: Path, place: tuple[Path, dict[str, str]]
):
    cwd, env = place
    proc = subprocess.Popen(
        [*BARE, str(pyz), "--demo", "--port", "0", "-q"],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    running = Proc(proc)
    try:
        found = LINK.search(running.wait_for(r"/login/once/", timeout=90))
        assert found
        base, secret = found.groups()
        status, body = _get(f"{base}/healthz")
        assert status == 200, body
        status, _ = _get(f"{base}/login/once/{secret}")
        assert status == 302
        status, page = _get(f"{base}/login")
        assert status == 200
        script = re.search(rb'src="(/static/app\.js\?v=\w+)"', page)
        assert script, page[:500]
        status, served = _get(base + script.group(1).decode())
        assert status == 200
        assert served == (ROOT / "syncpay" / "static" / "app.js").read_bytes()
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert proc.stderr is not None
    errors = proc.stderr.read()
    assert code == 0, errors
    assert "Traceback" not in errors
    # The static files were unpacked once, to the cache directory.
    assert len(list((Path(env["XDG_CACHE_HOME"]) / "syncpay").glob("static-*"))) == 1


def test_migrate_on_mariadb(pyz: Path, place: tuple[Path, dict[str, str]]):
    cwd, env = place
    try:
        conn = mysql_connect()
    except pymysql.err.OperationalError as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"MariaDB unreachable: {exc}")
        pytest.skip(f"MariaDB unreachable: {exc}")
    name = f"syncpay_pyz_{os.getpid()}_{secrets.token_hex(3)}"
    with conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    try:
        env = env | {"DB_CONNECTION": "mysql", "DB_DATABASE": name, **MYSQL}
        done = _run(pyz, cwd, env, "migrate")
        assert done.returncode == 0, done.stderr
        assert "0004_create_sync_tables" in done.stdout
        with conn.cursor() as cursor:
            cursor.execute(f"SHOW TABLES FROM `{name}`")
            tables = {row[0] for row in cursor.fetchall()}
        assert {"jobs", "siswa", "sync_runs", "users", "migrations"} <= tables
    finally:
        with conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


def test_native_unpacks_once_and_repairs_a_damaged_cache(
    tmp_path: Path, place: tuple[Path, dict[str, str]]
):
    cwd, env = place
    native = build(tmp_path / "native" / "syncpay.pyz", native=True).path
    with zipfile.ZipFile(native) as zf:
        assert any(n.startswith("_native/aiohttp/") and n.endswith(".so") for n in zf.namelist())
    check = "import aiohttp.http_parser as p; print(p.HttpRequestParser.__module__)"
    for _ in range(2):
        done = _run(native, cwd, env, "--version")
        assert done.returncode == 0 and done.stdout.startswith("syncpay"), done.stderr
    unpacked = list((Path(env["XDG_CACHE_HOME"]) / "syncpay").glob("native-*"))
    assert len(unpacked) == 1
    # The compiled parser is the one loaded from there.
    loaded = subprocess.run(
        [*BARE, "-c", f"import sys; sys.path.insert(0, {str(unpacked[0])!r}); {check}"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
    )
    assert loaded.stdout.strip() == "aiohttp._http_parser", loaded.stderr
    # A file lost from the cache: the next start unpacks a complete copy again.
    (unpacked[0] / "aiohttp" / "web.py").unlink()
    done = _run(native, cwd, env, "--help")
    assert done.returncode == 0, done.stderr
    assert (unpacked[0] / "aiohttp" / "web.py").is_file()
