"""The real program for the browser tests: a payment simulator process, a roster imported
with ``siswa:import``, users made with ``user:create``, an API token from ``token:create``
and ``serve`` — each a ``python run.py …`` process with its own database, ended by its
pid (SIGTERM, then SIGKILL after a timeout).

Chromium is the system one (``/usr/bin/chromium``; ``tests/run.sh`` installs it); never
``playwright install``. Under ``CI=true`` a missing Chromium or Playwright fails the run
instead of skipping it.
"""

from __future__ import annotations

import csv
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CI = os.environ.get("CI") == "true"
ROOT = Path(__file__).resolve().parents[2]
RUN_PY = ROOT / "run.py"
CHROMIUM = Path(os.environ.get("SYNCPAY_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PASSWORD = "rahasia-browser-123"
ADMIN = "admin"
PETUGAS = "petugas"
#: Seconds a process gets to start (print its address) and to stop after SIGTERM.
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
SYNC = "/admin/sync-pembayaran"
#: Roster names that must reach every page escaped (a CSP violation or a dialog fails).
#: JS: the elements with a ``hidden`` attribute that are displayed all the same (a CSS
#: ``display`` rule overriding it).
SHOWN_BUT_HIDDEN = """() => [...document.querySelectorAll("[hidden]")]
  .filter((e) => getComputedStyle(e).display !== "none")
  .map((e) => e.id || e.tagName.toLowerCase() + "." + e.className)"""
HOSTILE_NAMES = ("<script>alert(1)</script>", '"><img src=x onerror=alert(2)>')


def unavailable(message: str) -> None:
    """Skip the browser tests, or fail them under CI=true."""
    if CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message, allow_module_level=True)


def require_browser() -> None:
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[test]')")
    if not os.access(CHROMIUM, os.X_OK):
        unavailable(f"{CHROMIUM} is missing (tests/run.sh installs it: apt-get install chromium)")


class Process:
    """One ``python run.py …`` process; stdout and stderr go to files in ``workdir``."""

    def __init__(self, name: str, args: list[str], env: dict[str, str], workdir: Path) -> None:
        self.name = name
        self.stdout = workdir / f"{name}.out"
        self.stderr = workdir / f"{name}.err"
        with open(self.stdout, "wb") as out, open(self.stderr, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, str(RUN_PY), *args],
                cwd=workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def first_line(self, timeout: float = START_TIMEOUT) -> str:
        """The first line the process prints (its address), waiting up to ``timeout``."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.stdout.read_text(errors="replace")
            if "\n" in text:
                return text.split("\n", 1)[0].strip()
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.name} printed no address:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        text = self.stderr.read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])

    def stop(self) -> None:
        """SIGTERM, then SIGKILL when it has not ended after STOP_TIMEOUT seconds."""
        if self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(STOP_TIMEOUT)


def http(
    method: str,
    url: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> tuple[int, Any]:
    """A JSON request: (status, decoded body or the text when it is not JSON)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Accept", "application/json")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def write_roster(
    path: Path, count: int, first: int = 1, hostile: bool = True
) -> list[dict[str, str]]:
    """Demo students ``first``…``first+count-1`` (in the simulator's numbering) as a CSV
    roster; with ``hostile`` the first two of a roster starting at 1 get hostile names."""
    from syncpay.simulator import demo_students

    rows = demo_students(first + count - 1)[first - 1 :]
    if first == 1 and hostile:
        for row, name in zip(rows, HOSTILE_NAMES, strict=False):
            row["nama"] = name
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return rows


@dataclass
class App:
    """The program as a user runs it: simulator, roster, users, token, server."""

    workdir: Path
    env: dict[str, str]
    students: int  # in the roster
    sim_url: str = ""
    url: str = ""
    token: str = ""
    hostile: bool = True  # the roster's first two names are HOSTILE_NAMES
    roster: list[dict[str, str]] = field(default_factory=list)
    processes: list[Process] = field(default_factory=list)

    # --- the commands -------------------------------------------------------------------

    def cli(self, *args: str, stdin: str | None = None) -> str:
        """Run ``python run.py ARGS`` to completion; its stdout (fails on a non-zero exit)."""
        done = subprocess.run(
            [sys.executable, str(RUN_PY), *args],
            cwd=self.workdir,
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            raise RuntimeError(f"run.py {' '.join(args)}: exit {done.returncode}\n{done.stderr}")
        return done.stdout

    def start(self, latency: float) -> App:
        sim = Process(
            "simulator",
            ["simulator", "--port", "0", "--latency", str(latency)],
            self.env,
            self.workdir,
        )
        self.processes.append(sim)
        found = re.search(r"http://\S+", sim.first_line())
        assert found, sim.tail()
        self.sim_url = found.group(0)
        self.env["PAYMENT_API_URL"] = f"{self.sim_url}/payments/{{idperson}}"
        self.roster = write_roster(self.workdir / "siswa.csv", self.students, hostile=self.hostile)
        self.cli("siswa:import", "siswa.csv")
        self.cli("user:create", ADMIN, "--role", "admin", stdin=PASSWORD + "\n")
        self.cli("user:create", PETUGAS, "--role", "petugas", stdin=PASSWORD + "\n")
        self.token = self.cli("-q", "token:create", "browser-tests").strip()
        server = Process(
            "serve", ["-q", "serve", "--port", "0", "--workers", "8"], self.env, self.workdir
        )
        self.processes.append(server)
        self.url = server.first_line()
        assert self.url.startswith("http://"), server.tail()
        return self

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()

    def logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.tail()}" for p in self.processes)

    # --- the JSON API, as a script with a bearer token ----------------------------------

    def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {self.token}"}
        return http(method, self.url + path, body, headers)

    def progress(self, run_id: int | None = None) -> dict[str, Any]:
        status, body = self.api("GET", SYNC + "/progress" + (f"?run_id={run_id}" if run_id else ""))
        assert status == 200, body
        return body

    def simulator(self, **options: Any) -> None:
        """Change the simulator's options while it runs (latency, fault rates…)."""
        status, body = http("POST", self.sim_url + "/_config", options)
        assert status == 200, body

    def settle(self) -> None:
        """Back to "Siap": cancel whatever runs, then reset."""
        for _ in range(100):
            status, body = self.api("POST", SYNC + "/cancel", {})
            if status == 409:
                break
            assert status == 200, body
        status, body = self.api("POST", SYNC + "/reset", {})
        assert status == 200, body

    def import_students(self, first: int, count: int) -> list[dict[str, str]]:
        """Add demo students ``first``…``first+count-1`` to the roster (never synced yet)."""
        path = self.workdir / f"extra-{first}.csv"
        rows = write_roster(path, count, first)
        self.cli("siswa:import", str(path))
        self.students += count
        return rows


def sqlite_env(workdir: Path) -> dict[str, str]:
    return {"DB_CONNECTION": "sqlite", "DB_DATABASE": str(workdir / "syncpay.sqlite")}


def mysql_settings() -> dict[str, str]:
    return {
        "DB_CONNECTION": "mysql",
        "DB_HOST": os.environ.get("SYNCPAY_TEST_DB_HOST", "127.0.0.1"),
        "DB_PORT": os.environ.get("SYNCPAY_TEST_DB_PORT", "3306"),
        "DB_USERNAME": os.environ.get("SYNCPAY_TEST_DB_USERNAME", "root"),
        "DB_PASSWORD": os.environ.get("SYNCPAY_TEST_DB_PASSWORD", ""),
    }


def base_env(workdir: Path, database: dict[str, str]) -> dict[str, str]:
    """The process environment: this machine's, minus any DB_/SYNC_/PAYMENT_/APP_
    settings, plus the test database and fast retries."""
    keep = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DB_", "SYNC_", "PAYMENT_", "APP_", "SISWA_", "LOG_", "SESSION_"))
    }
    return (
        keep
        | database
        | {
            "PAYMENT_SOURCE": "http",
            "SYNC_BACKOFF": "0",
            "SYNC_TRIES": "3",
            "LOG_FILE": str(workdir / "syncpay.log"),
            "APP_LOCALE": "id",
            "PYTHONPATH": str(ROOT),
        }
    )


def new_mysql_database() -> str:
    import pymysql

    name = f"syncpay_browser_{os.getpid()}_{secrets.token_hex(3)}"
    settings = mysql_settings()
    try:
        conn = pymysql.connect(
            host=settings["DB_HOST"],
            port=int(settings["DB_PORT"]),
            user=settings["DB_USERNAME"],
            password=settings["DB_PASSWORD"],
            autocommit=True,
            connect_timeout=5,
        )
    except pymysql.err.OperationalError as exc:
        unavailable(f"MariaDB unreachable: {exc}")
        raise
    with conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
    return name


def drop_mysql_database(name: str) -> None:
    import pymysql

    settings = mysql_settings()
    conn = pymysql.connect(
        host=settings["DB_HOST"],
        port=int(settings["DB_PORT"]),
        user=settings["DB_USERNAME"],
        password=settings["DB_PASSWORD"],
        autocommit=True,
        connect_timeout=5,
    )
    with conn, conn.cursor() as cursor:
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")


def digits(text: str | None) -> int:
    """The whole number in a displayed count or amount ("1.250", "Rp 1.250.000")."""
    found = re.sub(r"\D", "", text or "")
    assert found, f"no number in {text!r}"
    return int(found)
