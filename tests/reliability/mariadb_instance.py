"""A private MariaDB server for the database-fault and multi-machine experiments.

The shared MariaDB the rest of the suite uses must never be stopped; these experiments
stop theirs on purpose, so each test runs a ``mariadbd`` of its own: a data directory
copied from a template (initialised once per test session by ``mariadb-install-db``,
with ``root`` allowed from any host and no password), its own port and socket, started
as a subprocess and ended by its pid.

Under CI=true a private server that cannot be made is a failure, not a skip.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pymysql
import pytest

#: Where Debian (and most distributions) install the server binaries.
_SERVER_NAMES = ("mariadbd", "mysqld")
_INSTALL_NAMES = ("mariadb-install-db", "mysql_install_db")
_SBIN = ("/usr/sbin", "/usr/local/sbin", "/usr/libexec")

#: Small InnoDB files: a copy of the template is ~30 MB and starts in well under a second.
_SERVER_OPTIONS = (
    "--innodb-log-file-size=16M",
    "--innodb-buffer-pool-size=64M",
    "--skip-name-resolve",
    "--max-connections=300",
)


class MariaDBUnavailable(RuntimeError):
    """No private MariaDB server could be made on this machine."""


def _find(names: tuple[str, ...]) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
        for directory in _SBIN:
            candidate = Path(directory) / name
            if candidate.is_file() and os.access(candidate, os.X_OK):
                return str(candidate)
    raise MariaDBUnavailable(f"none of {', '.join(names)} is installed")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _root_flags() -> list[str]:
    # mariadbd refuses to run as root unless told to; as any other user it is not needed.
    return ["--user=root"] if os.geteuid() == 0 else []


@dataclass
class MariaDB:
    """One private ``mariadbd`` on ``datadir``; ``start``/``stop`` as often as wanted."""

    datadir: Path
    host: str = "127.0.0.1"
    port: int = 0
    bind: str = "127.0.0.1"
    proc: subprocess.Popen[bytes] | None = None
    starts: list[float] = field(default_factory=list)
    stops: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.port:
            self.port = free_port(self.host)

    @property
    def run_dir(self) -> Path:
        return self.datadir.parent

    @property
    def error_log(self) -> Path:
        return self.run_dir / "mariadbd.err"

    @property
    def env(self) -> dict[str, str]:
        """The DB_* variables of a syncpay process that uses this server."""
        return {
            "DB_CONNECTION": "mysql",
            "DB_HOST": self.host,
            "DB_PORT": str(self.port),
            "DB_USERNAME": "root",
            "DB_PASSWORD": "",
        }

    def argv(self) -> list[str]:
        return [
            _find(_SERVER_NAMES),
            "--no-defaults",
            *_root_flags(),
            f"--datadir={self.datadir}",
            f"--socket={self.run_dir / 'mariadbd.sock'}",
            f"--pid-file={self.run_dir / 'mariadbd.pid'}",
            f"--port={self.port}",
            f"--bind-address={self.bind}",
            f"--log-error={self.error_log}",
            *_SERVER_OPTIONS,
        ]

    def start(self, timeout: float = 60.0) -> float:
        """Start the server and wait until it answers; the seconds that took."""
        if self.running:
            raise RuntimeError("the private MariaDB is already running")
        started = time.monotonic()
        self.proc = subprocess.Popen(
            self.argv(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        while True:
            if self.proc.poll() is not None:
                raise MariaDBUnavailable(
                    f"mariadbd exited with {self.proc.returncode}: {self.log_tail()}"
                )
            try:
                self.connect().close()
                break
            except pymysql.err.OperationalError:
                if time.monotonic() - started > timeout:
                    self.kill()
                    raise MariaDBUnavailable(
                        f"mariadbd did not answer within {timeout:g}s: {self.log_tail()}"
                    ) from None
                time.sleep(0.05)
        took = time.monotonic() - started
        self.starts.append(took)
        return took

    def stop(self, timeout: float = 60.0, sig: signal.Signals = signal.SIGTERM) -> float:
        """SIGTERM (a clean shutdown; SIGKILL: a crash, InnoDB recovers at the next
        start) and wait for the process to end; the seconds."""
        started = time.monotonic()
        proc = self.proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.proc = None
        took = time.monotonic() - started
        self.stops.append(took)
        return took

    def kill(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def connect(self, database: str | None = None) -> pymysql.connections.Connection:
        return pymysql.connect(
            host=self.host,
            port=self.port,
            user="root",
            password="",
            database=database,
            autocommit=True,
            connect_timeout=2,
        )

    def sql(self, query: str, database: str | None = None) -> list[tuple[object, ...]]:
        conn = self.connect(database)
        try:
            with conn.cursor() as cursor:
                cursor.execute(query)
                return list(cursor.fetchall())
        finally:
            conn.close()

    def log_tail(self, lines: int = 8) -> str:
        try:
            text = self.error_log.read_text(errors="replace")
        except OSError:
            return "(no error log)"
        return " | ".join(text.strip().splitlines()[-lines:])


_templates: dict[Path, Path] = {}


def build_template(base: Path) -> Path:
    """A freshly initialised data directory under ``base`` (made once per ``base``), with
    ``root`` allowed from any host without a password, shut down cleanly."""
    if base in _templates:
        return _templates[base]
    base.mkdir(parents=True, exist_ok=True)
    datadir = base / "data"
    started = time.monotonic()
    install = subprocess.run(
        [
            _find(_INSTALL_NAMES),
            "--no-defaults",
            *_root_flags(),
            f"--datadir={datadir}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
            *_SERVER_OPTIONS[:2],
        ],
        capture_output=True,
        text=True,
        timeout=180,
    )
    if install.returncode != 0:
        lines = (install.stderr or install.stdout).strip().splitlines()
        raise MariaDBUnavailable(
            f"mariadb-install-db failed ({install.returncode}): {lines[-1] if lines else ''}"
        )
    server = MariaDB(datadir)
    server.start()
    try:
        conn = server.connect()
        with conn.cursor() as cursor:
            cursor.execute("CREATE USER IF NOT EXISTS 'root'@'%' IDENTIFIED BY ''")
            cursor.execute("GRANT ALL PRIVILEGES ON *.* TO 'root'@'%' WITH GRANT OPTION")
        conn.close()
    finally:
        server.stop()
    (base / "init-seconds").write_text(f"{time.monotonic() - started:.2f}\n")
    _templates[base] = datadir
    return datadir


def private_mariadb(
    template: Path, where: Path, *, host: str = "127.0.0.1", bind: str = ""
) -> MariaDB:
    """A started server on a copy of ``template`` under ``where``."""
    where.mkdir(parents=True, exist_ok=True)
    datadir = where / "data"
    shutil.copytree(template, datadir)
    server = MariaDB(datadir, host=host, bind=bind or host)
    server.start()
    return server


def unavailable(message: str) -> NoReturn:
    """Fail under CI=true, skip elsewhere."""
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def mariadb_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The initialised data directory every private server of this session copies."""
    try:
        return build_template(tmp_path_factory.getbasetemp() / "mariadb-template")
    except (MariaDBUnavailable, OSError, subprocess.SubprocessError) as exc:
        unavailable(f"cannot make a private MariaDB server: {exc}")


@pytest.fixture
def mariadb(mariadb_template: Path, tmp_path: Path) -> Iterator[MariaDB]:
    """A private MariaDB server on 127.0.0.1, ended by its pid after the test."""
    try:
        server = private_mariadb(mariadb_template, tmp_path / "mariadb")
    except (MariaDBUnavailable, OSError) as exc:
        unavailable(f"cannot start a private MariaDB server: {exc}")
    try:
        yield server
    finally:
        server.stop()


# --- the other processes of an experiment -----------------------------------------------

ROOT = Path(__file__).resolve().parent.parent.parent

#: Variables of the test's own environment that must not leak into a child.
_OURS = ("DB_", "SYNC_", "QUEUE_", "PAYMENT_", "APP_", "LOG_", "SISWA_")


class Children:
    """The subprocesses of one experiment, each with its output in a file of its own,
    started in ``cwd`` (optionally inside a network namespace); any still alive at the
    end is killed by its own pid."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        base = {k: v for k, v in os.environ.items() if not k.startswith(_OURS)}
        self.env = base | env | {"PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        self.dir = cwd
        self.started: list[tuple[subprocess.Popen[bytes], Path]] = []

    def spawn(self, argv: list[str], *, netns: str = "", **env: str) -> subprocess.Popen[bytes]:
        out = self.dir / f"child{len(self.started)}.out"
        if netns:
            argv = ["ip", "netns", "exec", netns, *argv]
        with out.open("wb") as sink:
            child = subprocess.Popen(
                argv, cwd=self.dir, env=self.env | env, stdout=sink, stderr=subprocess.STDOUT
            )
        self.started.append((child, out))
        return child

    def syncpay(self, *args: str, netns: str = "", **env: str) -> subprocess.Popen[bytes]:
        return self.spawn([sys.executable, str(ROOT / "run.py"), *args], netns=netns, **env)

    def output(self, child: subprocess.Popen[bytes]) -> str:
        for proc, out in self.started:
            if proc is child:
                return out.read_text(errors="replace")
        raise KeyError(child.pid)

    def outputs(self) -> str:
        return "\n".join(
            f"--- {' '.join(str(a) for a in c.args[-6:])} (pid {c.pid}, rc={c.poll()}) ---\n"
            f"{self.output(c)[-3000:]}"
            for c, _ in self.started
        )

    def end(self, child: subprocess.Popen[bytes], timeout: float = 30) -> int:
        """SIGTERM (a graceful stop), then SIGKILL if it lingers; the exit status."""
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
        try:
            return child.wait(timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            return child.wait()

    def kill_left(self) -> None:
        for child, _ in self.started:
            if child.poll() is None:
                child.kill()
                child.wait()


def http_json(url: str, timeout: float = 10.0) -> tuple[int, Any]:
    """GET ``url``: the status and the decoded JSON body (None when it is not JSON)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            status, body = answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    try:
        return status, json.loads(body)
    except ValueError:
        return status, None


def wait_http(url: str, child: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Until ``url`` answers at all (any status); fails if ``child`` exits first."""
    deadline = time.monotonic() + timeout
    while True:
        if child.poll() is not None:
            raise AssertionError(f"{child.args} exited with {child.returncode}")
        try:
            http_json(url, timeout=2.0)
            return
        except (OSError, urllib.error.URLError):
            if time.monotonic() > deadline:
                raise AssertionError(f"{url} did not answer within {timeout:g}s") from None
            time.sleep(0.1)


def simulator_argv(host: str, port: int, *flags: str) -> list[str]:
    """``syncpay simulator`` as a process of its own."""
    return [
        sys.executable,
        str(ROOT / "run.py"),
        "simulator",
        "--host",
        host,
        "--port",
        str(port),
        *flags,
    ]
