"""The command line, run as a real program (`python -m syncpay …`) on SQLite and MariaDB.

Every command runs in a subprocess whose working directory is an empty folder, with the
database settings in its environment and the repository on PYTHONPATH; jobs come from
`tests/cli_jobs.py` (`--import tests.cli_jobs`). Processes are ended by their own pid.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pymysql
import pytest

from syncpay.config import VARIABLES
from tests.conftest import mysql_connect

ROOT = Path(__file__).resolve().parent.parent
JOBS = ("--import", "tests.cli_jobs")
DB_VARIABLES = ("DB_CONNECTION", "DB_DATABASE", "DB_HOST", "DB_PORT", "DB_USERNAME", "DB_PASSWORD")
JOB_LINE = re.compile(r"^  \d{4}-\d\d-\d\d \d\d:\d\d:\d\d (\S+) #(\d+) \.{3,} (.+)$")


def base_env(**variables: str) -> dict[str, str]:
    """The test runner's environment without any syncpay setting, plus `variables`."""
    env = {k: v for k, v in os.environ.items() if k not in VARIABLES}
    env.update(PYTHONPATH=str(ROOT), COLUMNS="200", PYTHONUNBUFFERED="1", **variables)
    return env


class Cli:
    """Runs `python -m syncpay` in an empty working directory against one database."""

    def __init__(self, kind: str, cwd: Path, env: dict[str, str]) -> None:
        self.kind = kind
        self.cwd = cwd
        self.env = env
        self.procs: list[subprocess.Popen[str]] = []

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "syncpay", *args]

    def run(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 30
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args),
            cwd=self.cwd,
            env=self.env | (env or {}),
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def run_all(
        self, calls: list[tuple[list[str], dict[str, str]]]
    ) -> list[subprocess.CompletedProcess[str]]:
        """Several independent runs at once (args, extra env); results in order."""
        with ThreadPoolExecutor(max_workers=4) as pool:
            return list(pool.map(lambda call: self.run(*call[0], env=call[1]), calls))

    def ok(self, *args: str) -> str:
        """Run; expect exit 0 and no traceback; the output."""
        result = self.run(*args)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
        return result.stdout

    def json(self, *args: str) -> Any:
        return json.loads(self.ok(*args, "--json"))

    def popen(self, *args: str) -> Proc:
        proc = subprocess.Popen(
            self.command(*args),
            cwd=self.cwd,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.procs.append(proc)
        return Proc(proc)

    def sql(self, query: str) -> list[tuple[Any, ...]]:
        """Rows of `query`, read straight from the database."""
        if self.kind == "sqlite":
            with sqlite3.connect(self.env["DB_DATABASE"]) as conn:
                return conn.execute(query).fetchall()
        conn = mysql_connect(self.env["DB_DATABASE"])
        try:
            with conn.cursor() as cursor:
                cursor.execute(query)
                return list(cursor.fetchall())
        finally:
            conn.close()

    def sql_exec(self, statement: str) -> None:
        """Run one statement straight on the database."""
        if self.kind == "sqlite":
            with sqlite3.connect(self.env["DB_DATABASE"]) as conn:
                conn.execute(statement)
            return
        conn = mysql_connect(self.env["DB_DATABASE"])
        try:
            with conn.cursor() as cursor:
                cursor.execute(statement)
            conn.commit()
        finally:
            conn.close()

    def count(self, table: str) -> int:
        return int(self.sql(f"SELECT COUNT(*) FROM {table}")[0][0])

    def ids(self, table: str) -> list[int]:
        return [int(row[0]) for row in self.sql(f"SELECT id FROM {table} ORDER BY id")]

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()  # our own child, by its pid
                proc.wait(5)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()


class Proc:
    """A running `syncpay work`; its stdout is read by a thread, line by line."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._changed = threading.Condition()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self.lines.append(line.rstrip("\n"))
                self._changed.notify_all()
        with self._changed:
            self._changed.notify_all()

    def wait_for(self, pattern: str, timeout: float = 15) -> str:
        """The first stdout line matching `pattern`, waiting up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        with self._changed:
            while True:
                for line in self.lines:
                    if regex.search(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._reader.is_alive()):
                    raise AssertionError(f"no line matching {pattern!r} in {self.lines}")
                self._changed.wait(min(left, 0.2))

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def finish(self, timeout: float) -> tuple[int, str, str]:
        """Wait for the exit: (status, stdout, stderr)."""
        status = self.proc.wait(timeout)
        self._reader.join(5)
        assert self.proc.stderr is not None
        return status, "\n".join(self.lines), self.proc.stderr.read()


def _empty_mysql_tables(database: str) -> None:
    conn = mysql_connect(database)
    try:
        with conn.cursor() as cursor:
            for table in ("jobs", "failed_jobs", "cache", "web_sessions", "api_tokens", "users"):
                try:
                    cursor.execute(f"DELETE FROM {table}")
                except pymysql.err.ProgrammingError:
                    pass  # not migrated yet
    finally:
        conn.close()


def job_lines(output: str, status: str) -> list[tuple[str, int]]:
    """(job name, id) of every job line whose status starts with `status`."""
    found = []
    for line in output.splitlines():
        match = JOB_LINE.match(line)
        if match and match.group(3).startswith(status):
            found.append((match.group(1), int(match.group(2))))
    return found


def one_error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The error line, when it is the only thing on stderr."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("syncpay: "), lines
    return lines[0]


def error_line(result: subprocess.CompletedProcess[str]) -> str:
    """The error line, last on stderr, with no traceback (MariaDB adds warnings before it,
    see `test_stderr_has_only_the_error_line`)."""
    lines = result.stderr.splitlines()
    assert lines and lines[-1].startswith("syncpay: "), result.stderr
    assert "Traceback" not in result.stderr
    return lines[-1]


# --------------------------------------------------------------------------- migrate


@pytest.fixture
def fresh_database(cli: Cli, db_kind: str) -> Iterator[None]:
    """A database nobody has migrated (MariaDB: one that does not exist yet)."""
    if db_kind == "sqlite":
        cli.env["DB_DATABASE"] = str(cli.cwd.parent / "fresh.sqlite")
        yield
        return
    name = cli.env["DB_DATABASE"] + "_fresh"
    cli.env["DB_DATABASE"] = name
    try:
        yield
    finally:
        conn = mysql_connect()
        with conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


@pytest.mark.usefixtures("fresh_database")
def test_migrate_applies_each_migration_once_and_reports_status(cli: Cli):
    names = sorted(p.stem for p in (ROOT / "syncpay/db/migrations/sqlite").glob("*.sql"))
    first = cli.ok("migrate")
    for name in names:
        assert re.search(rf"^  {name} \.+ DONE$", first, re.M), first
    assert cli.ok("migrate").strip() == "Nothing to migrate."
    status = cli.ok("migrate", "--status")
    for name in names:
        assert re.search(rf"^  {name}\s+Ran$", status, re.M), status
    # A newer syncpay upgraded the database: this version says so, and still runs.
    cli.sql_exec("INSERT INTO migrations (migration, batch) VALUES ('9999_from_the_future', 9)")
    later = cli.run("migrate")
    assert later.returncode == 0
    assert "9999_from_the_future are unknown to this version" in later.stderr
    status = cli.ok("migrate", "--status")
    assert re.search(
        r"^  9999_from_the_future\s+Ran \(unknown to this version: newer\)$", status, re.M
    ), status


# --------------------------------------------------------------------------- work


def test_work_runs_pushed_jobs_and_prints_a_line_per_job(cli: Cli):
    assert "Pushed 5 jobs onto the [sync-pembayaran] queue." in cli.ok(
        "queue:push", "cli.noop", "--count", "5"
    )
    assert re.match(r"Pushed job \[\d+\]", cli.ok("queue:push", "cli.noop", "--data", "{}"))
    out = cli.ok("work", "--stop-when-empty", *JOBS)
    done = job_lines(out, "DONE")
    assert len(done) == 6 and {name for name, _ in done} == {"cli.noop"}, out
    assert all(re.search(r" DONE \d+ms$", line) for line in out.splitlines() if " DONE" in line)
    assert cli.count("jobs") == 0
    assert cli.json("queue:failed") == []


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
def test_work_quiet_prints_no_job_lines(cli: Cli):
    cli.ok("queue:push", "cli.noop", "--count", "2", "--queue", "other")
    out = cli.ok("work", "--queue", "other", "--stop-when-empty", "-q", *JOBS)
    assert out == ""
    assert cli.count("jobs") == 0


def test_failed_jobs_listed_retried_forgotten_flushed(cli: Cli):
    long_reason = "kaput " + "x" * 300
    cli.ok("queue:push", "cli.boom", "--data", json.dumps({"message": long_reason}))
    cli.ok("queue:push", "cli.boom", "--count", "2")
    out = cli.ok("work", "--stop-when-empty", "--tries", "1", *JOBS)
    assert [name for name, _ in job_lines(out, "FAIL")] == ["cli.boom"] * 3, out
    first, second, third = cli.ids("failed_jobs")

    listed = cli.run("queue:failed", env={"COLUMNS": "120"})
    lines = listed.stdout.splitlines()
    assert listed.returncode == 0 and len(lines) == 5, listed
    assert all(len(line) <= 120 for line in lines), lines  # the reason is shortened
    (long_line,) = [line for line in lines if "RuntimeError: kaput xxx" in line]
    assert "cli.boom" in long_line and long_line.endswith("…")
    assert sum(line.endswith("  RuntimeError: boom") for line in lines) == 2
    failed = cli.json("queue:failed")
    assert [job["id"] for job in failed] == [first, second, third]
    assert {job["job"] for job in failed} == {"cli.boom"}
    assert {job["queue"] for job in failed} == {"sync-pembayaran"}
    assert f"RuntimeError: {long_reason}" in [job["reason"] for job in failed]
    assert all(job["uuid"] and job["failed_at"] and job["exception"] for job in failed)

    missing = cli.run("queue:retry", "999")
    assert missing.returncode == 1
    assert error_line(missing) == "syncpay: No failed job matches the given ID [999]."
    mixed = cli.run("queue:retry", str(first), "999")  # all or nothing
    assert mixed.returncode == 1 and "[999]" in error_line(mixed)
    assert cli.ids("failed_jobs") == [first, second, third] and cli.count("jobs") == 0

    out = cli.ok("queue:retry", str(first))
    assert out.strip() == f"The failed job [{first}] has been pushed back onto the queue."
    assert cli.ids("failed_jobs") == [second, third] and cli.count("jobs") == 1

    assert cli.ok("queue:forget", str(second)).strip() == "Failed job deleted successfully."
    again = cli.run("queue:forget", str(second))
    assert again.returncode == 1
    assert error_line(again) == f"syncpay: No failed job matches the given ID [{second}]."
    assert cli.ids("failed_jobs") == [third]

    kept = cli.ok("queue:flush", "--hours", "1")
    assert kept.strip() == "0 failed jobs older than 1 hour deleted."
    assert cli.ids("failed_jobs") == [third]
    assert cli.ok("queue:flush").strip() == "All failed jobs deleted successfully."
    assert cli.ids("failed_jobs") == []

    cli.ok("work", "--stop-when-empty", "--tries", "1", "-q", *JOBS)  # fails again
    (fourth,) = cli.ids("failed_jobs")
    out = cli.ok("queue:retry", "all")
    assert out.strip() == f"The failed job [{fourth}] has been pushed back onto the queue."
    assert cli.ids("failed_jobs") == [] and cli.count("jobs") == 1

    (stats,) = cli.json("queue:monitor")
    assert stats["queue"] == "sync-pembayaran" and stats["pending"] == 1


def test_clear_deletes_the_jobs_of_one_queue(cli: Cli):
    cli.ok("queue:push", "cli.noop", "--count", "3")
    cli.ok("queue:push", "cli.noop", "--count", "2", "--queue", "other")
    assert cli.ok("queue:clear").strip() == "Cleared 3 jobs from the [sync-pembayaran] queue."
    assert cli.count("jobs") == 2
    out = cli.ok("queue:clear", "--queue", "other")
    assert out.strip() == "Cleared 2 jobs from the [other] queue."
    assert cli.count("jobs") == 0


def test_monitor_shows_every_queue(cli: Cli):
    assert cli.ok("queue:monitor").strip() == "No jobs."
    assert cli.json("queue:monitor") == []
    cli.ok("queue:push", "cli.noop", "--count", "2")
    cli.ok("queue:push", "cli.noop", "--delay", "600", "--queue", "later")
    stats = {row["queue"]: row for row in cli.json("queue:monitor")}
    assert stats["sync-pembayaran"]["pending"] == 2
    assert stats["later"]["delayed"] == 1 and stats["later"]["pending"] == 0
    table = cli.ok("queue:monitor")
    assert "sync-pembayaran" in table and "later" in table


# --------------------------------------------------------------------------- stopping a worker


def test_queue_restart_stops_a_running_worker(cli: Cli):
    cli.ok("queue:push", "cli.noop")
    worker = cli.popen("work", "--sleep", "0.5", *JOBS)
    worker.wait_for(r" DONE \d+ms$")  # it has read the restart mark by now
    assert cli.ok("queue:restart").strip() == "Broadcasting queue restart signal."
    status, out, err = worker.finish(timeout=10)
    assert status == 0, (out, err)
    assert "queue:restart" in out and "Traceback" not in err


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)
def test_queue_restart_stops_an_idle_worker_with_a_long_sleep(cli: Cli):
    worker = cli.popen("work", "--sleep", "60", *JOBS)
    worker.wait_for("Processing jobs")
    time.sleep(0.3)  # past the first poll, where the restart mark is read
    cli.ok("queue:restart")
    # Well before its 60 s sleep ends (loose: the tests run in parallel).
    status, _out, _err = worker.finish(timeout=15)
    assert status == 0


def test_sigterm_lets_the_running_job_finish_then_exits_0(cli: Cli):
    cli.ok("queue:push", "cli.noop", "--data", '{"sleep": 0.5}')
    worker = cli.popen("work", "--sleep", "60", *JOBS)
    worker.wait_for("RUNNING")
    worker.signal(signal.SIGTERM)
    status, out, err = worker.finish(timeout=10)
    assert status == 0, (out, err)
    assert job_lines(out, "DONE") and "SIGTERM received" in out
    assert cli.count("jobs") == 0


@pytest.mark.parametrize("db_kind", ["sqlite"], indirect=True)  # signals: no DB difference
def test_second_sigint_cancels_and_puts_the_job_back(cli: Cli):
    cli.ok("queue:push", "cli.noop", "--data", '{"sleep": 60}')
    worker = cli.popen("work", "--sleep", "60", *JOBS)
    worker.wait_for("RUNNING")
    worker.signal(signal.SIGINT)
    worker.wait_for("SIGINT received")
    worker.signal(signal.SIGINT)
    status, out, err = worker.finish(timeout=10)
    assert status == 130, (out, err)
    assert job_lines(out, "CANCELLED") and "Traceback" not in err
    assert cli.json("queue:failed") == []
    assert cli.ok("queue:clear").strip().startswith("Cleared 1 job from")


def test_stderr_has_only_the_error_line(cli: Cli):
    cli.ok("migrate")
    clean = cli.run("queue:failed")
    assert clean.returncode == 0 and clean.stdout.strip() == "No failed jobs found."
    assert clean.stderr == ""
    missing = cli.run("queue:forget", "999")
    assert missing.returncode == 1
    assert one_error_line(missing) == "syncpay: No failed job matches the given ID [999]."


def test_cache_clear(cli: Cli):
    cli.ok("queue:restart")
    assert cli.count("cache") == 1
    assert cli.ok("cache:clear").strip() == "Application cache cleared successfully."
    assert cli.count("cache") == 0


# --------------------------------------------------------------------------- errors


BAD_SETTINGS = [
    (["work", "--timeout", "abc"], {}, "SYNC_TIMEOUT"),
    (["work", "--workers", "0"], {}, "SYNC_WORKERS"),
    (["work", "--tries", "0"], {}, "SYNC_TRIES"),
    (["work", "--backoff", "soon"], {}, "SYNC_BACKOFF"),
    (["work", "--queue", "a,b c"], {}, "DB_QUEUE"),
    (["work", "redis"], {}, "QUEUE_CONNECTION"),
    (["work", "--timeout", "60"], {"DB_QUEUE_RETRY_AFTER": "60"}, "DB_QUEUE_RETRY_AFTER"),
    (["queue:failed"], {"DB_PORT": "abc"}, "DB_PORT"),
    (["migrate"], {"DB_CONNECTION": "oracle"}, "DB_CONNECTION"),
]


def test_bad_setting_is_one_line_naming_the_variable_exit_2(plain: Cli):
    results = plain.run_all([(args, env) for args, env, _ in BAD_SETTINGS])
    for (args, env, variable), result in zip(BAD_SETTINGS, results, strict=True):
        assert result.returncode == 2, (args, env, result)
        assert one_error_line(result).startswith(f"syncpay: {variable}: "), (args, env)
        assert result.stdout == ""


def test_bad_env_file_value_is_one_line(plain: Cli):
    (plain.cwd / "settings.env").write_text("SYNC_TRIES=never\n")
    result = plain.run("work", "--env-file", "settings.env")
    assert result.returncode == 2
    assert one_error_line(result).startswith("syncpay: SYNC_TRIES: ")
    missing = plain.run("--env-file", "nope.env", "queue:failed")
    assert missing.returncode == 2 and "nope.env" in one_error_line(missing)


def test_env_file_and_global_options_after_the_command(plain: Cli, tmp_path: Path):
    database = tmp_path / "from-env-file.sqlite"
    (plain.cwd / ".env").write_text(f'DB_DATABASE="{database}"\nDB_QUEUE=from-dotenv\n')
    env = {k: v for k, v in plain.env.items() if k != "DB_DATABASE"}
    plain.env = env
    assert plain.ok("queue:push", "cli.noop", "-q") == ""
    assert database.exists()
    out = plain.ok("queue:clear", "--env-file", ".env")
    assert out.strip() == "Cleared 1 job from the [from-dotenv] queue."


def test_unreachable_mysql_is_one_line_exit_2(plain: Cli):
    result = plain.run(
        "migrate", env={"DB_CONNECTION": "mysql", "DB_DATABASE": "x", "DB_PORT": "1"}
    )
    assert result.returncode == 2
    assert one_error_line(result).startswith("syncpay: DB_HOST: ")


def test_unopenable_sqlite_is_one_line_exit_2(plain: Cli):
    (plain.cwd / "not-a-db").write_text("this is not a database file, " * 100)
    # Refused at once, not after waits for a lock (busy_timeout, 5 s, per try); the bound is
    # loose: a loaded machine (tests run in parallel) starts Python slowly.
    result = plain.run("queue:failed", env={"DB_DATABASE": "not-a-db"}, timeout=15)
    assert result.returncode == 2
    assert one_error_line(result).startswith("syncpay: DB_DATABASE: ")


def test_unexpected_error_is_one_line_and_a_traceback_only_with_verbose(plain: Cli):
    plain.ok("migrate")
    with sqlite3.connect(plain.env["DB_DATABASE"]) as conn:
        conn.execute("DROP TABLE failed_jobs")  # recorded as migrated, yet gone
    result = plain.run("queue:failed")
    assert result.returncode == 1
    assert one_error_line(result).startswith("syncpay: error: OperationalError: ")
    verbose = plain.run("queue:failed", "-v")
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr


def test_ctrl_c_outside_work_exits_130_and_keeps_nothing(plain: Cli):
    plain.ok("migrate", "-q")
    started = time.monotonic()
    proc = subprocess.Popen(
        plain.command("queue:push", "cli.noop", "--count", "1000000"),
        cwd=plain.cwd,
        env=plain.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # As from a terminal: a test run started in the background of a script has
        # SIGINT ignored, and a child inherits that (POSIX) -- it would push on.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    wal = Path(plain.env["DB_DATABASE"] + "-wal")
    try:
        # Interrupt the push itself, not the start-up: once its transaction writes pages.
        deadline = time.monotonic() + 30
        while not (wal.exists() and wal.stat().st_size > 256 * 1024):
            assert proc.poll() is None and time.monotonic() < deadline, "the push did not start"
            time.sleep(0.05)
        sent = (time.monotonic() - started, wal.stat().st_size)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    ended = time.monotonic() - started
    assert proc.returncode == 130, (out, err, f"SIGINT at {sent[0]:.2f} s, WAL {sent[1]} B", ended)
    assert out == "" and "Traceback" not in err
    with sqlite3.connect(plain.env["DB_DATABASE"]) as conn:
        assert conn.execute("SELECT COUNT(*) FROM jobs").fetchone()[0] == 0  # rolled back


def test_usage_errors_exit_2(plain: Cli):
    calls = [
        ["queue:forget"],
        ["no-such-command"],
        ["work", "--sleep", "soon"],
        ["queue:push", "x", "--data", "[1]"],
        ["queue:retry", "all", "3"],
    ]
    results = plain.run_all([(args, {}) for args in calls])
    for args, result in zip(calls, results, strict=True):
        assert result.returncode == 2, (args, result)
        assert "Traceback" not in result.stderr and result.stdout == ""
    assert one_error_line(results[-1]) == "syncpay: queue:retry takes IDs or 'all', not both"


# --------------------------------------------------------------------------- entry points


def test_run_py_and_python_m_are_the_same_program(plain: Cli):
    result = subprocess.run(
        [sys.executable, str(ROOT / "run.py"), "--help"],
        cwd=plain.cwd,
        env=plain.env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0
    for name in ("work", "migrate", "queue:failed", "queue:retry", "queue:restart", "cache:clear"):
        assert name in result.stdout
    assert plain.ok("--version").startswith("syncpay ")


def test_console_script(plain: Cli):
    script = shutil.which("syncpay")
    if script is None:
        pytest.skip("the syncpay console script is not installed (pip install -e .)")
    result = subprocess.run(
        [script, "--help"], cwd=plain.cwd, env=plain.env, capture_output=True, text=True
    )
    assert result.returncode == 0 and "queue:failed" in result.stdout


# --------------------------------------------------------------------------- first contact


def test_first_run_without_settings_says_what_to_do_next(plain: Cli):
    """#12 item 15: a fresh `syncpay` (no .env) names the missing setting and the way on:
    the demo, or a configuration from `syncpay env:example`."""
    result = plain.run("--port", "0")
    assert result.returncode == 2
    line = one_error_line(result)
    assert line.startswith("syncpay: PAYMENT_API_URL: "), line
    assert "syncpay --demo" in line and "syncpay env:example > .env" in line, line
    (plain.cwd / ".env").write_text("PAYMENT_SOURCE=http\n")
    configured = plain.run("--port", "0")  # a .env of one's own: no newcomer's hint
    assert configured.returncode == 2 and "--demo" not in one_error_line(configured)


def test_help_shows_the_demo_and_the_example_configuration(plain: Cli):
    text = plain.ok("--help")
    assert "--demo" in text and "env:example" in text, text


def test_env_example_ships_inside_the_package_and_is_printed(plain: Cli):
    """#12 item 15: the example configuration is package data (pip install, the .pyz) and
    `syncpay env:example` prints it; the copy in the source tree is the same text."""
    from importlib import resources

    from syncpay.pyz import syncpay_entries

    packaged = (resources.files("syncpay") / "env.example").read_text(encoding="utf-8")
    assert packaged == (ROOT / ".env.example").read_text(encoding="utf-8"), (
        "syncpay/env.example must be a copy of .env.example: cp .env.example syncpay/env.example"
    )
    cfg = (ROOT / "setup.cfg").read_text(encoding="utf-8")
    assert re.search(r"^syncpay = .*\benv\.example\b", cfg, re.M), "setup.cfg package_data"
    assert "syncpay/env.example" in {entry.name for entry in syncpay_entries()}
    printed = plain.ok("env:example")
    assert printed == packaged
    (plain.cwd / ".env").write_text(printed)
    plain.ok("migrate", "-q")  # the example is a configuration that loads


# --------------------------------------------------------------------------- help text

MARKUP = re.compile(r"``|:\w+:`|SPEC|§|\*\*")


def test_every_command_and_option_explains_itself():
    """#12 item 16: each command has a description (no reST markup, no references to the
    specification) and each of its options a help text."""
    import argparse

    from syncpay.cli.app import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    missing = []
    for name, sub in commands.choices.items():
        text = sub.description or ""
        if not text.strip() or MARKUP.search(text):
            missing.append(f"{name}: description {text!r}")
        for action in sub._actions:
            if not (action.help or "").strip() or MARKUP.search(action.help or ""):
                missing.append(f"{name}: {'/'.join(action.option_strings) or action.dest}")
    assert not missing, missing


def test_an_unknown_command_is_named_with_the_nearest_one(plain: Cli):
    calls = [["foo"], ["sync:stauts"], ["--port", "8001", "qeueu:failed"]]
    results = plain.run_all([(args, {}) for args in calls])
    lines = [one_error_line(result) for result in results]
    assert all(result.returncode == 2 for result in results), lines
    assert lines[0] == "syncpay: unknown command 'foo' (syncpay --help lists them)"
    assert lines[1] == "syncpay: unknown command 'sync:stauts'; did you mean sync:status?"
    assert lines[2] == "syncpay: unknown command 'qeueu:failed'; did you mean queue:failed?"


@pytest.fixture(autouse=True)
def _english(request: pytest.FixtureRequest) -> None:
    """The wording checked here is the English one (APP_LOCALE=en); the default,
    Indonesian, is checked with it by tests/test_cli_sync.py's language test."""
    for name in ("cli", "plain"):
        if name in request.fixturenames:
            request.getfixturevalue(name).env["APP_LOCALE"] = "en"
