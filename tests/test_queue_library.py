"""The queue as a plain library (docs/queue.md, "Using the queue on its own"): the docs'
example run as written in a process of its own, on SQLite and MariaDB, stopped by
SIGTERM; its database holds the queue's tables and no other. In-process: a running job
finishes on the first signal and goes back to the queue on the second; a URL that
cannot be used is one line."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from syncpay.db import connect, migrate, tables_for
from syncpay.queue import JobContext, QueueUrlError, StandaloneQueue, open_queue
from syncpay.queue.standalone import QUEUE_MIGRATIONS, settings_for
from tests.conftest import MYSQL, mysql_connect

ROOT = Path(__file__).resolve().parent.parent
QUEUE_DOC = ROOT / "docs" / "queue.md"
SECTION = "## Using the queue on its own"
EXAMPLE_URL = '"sqlite:///jobs.sqlite"'
QUEUE_TABLES = {"jobs", "failed_jobs", "cache", "workers", "migrations"}


def docs_example() -> str:
    """The section's Python example, as the page shows it."""
    text = QUEUE_DOC.read_text(encoding="utf-8")
    assert SECTION in text, f"docs/queue.md has no {SECTION!r}"
    section = text.split(SECTION, 1)[1].split("\n## ", 1)[0]
    found = re.search(r"```python\n(.*?)```", section, re.S)
    assert found is not None, "the section has no Python example"
    return found.group(1)


@pytest.fixture
def queue_url(db_kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A database the queue alone opens: a new SQLite file, or a new MariaDB database
    (dropped at the end)."""
    if db_kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'queue.sqlite'}"
        return
    name = request.getfixturevalue("mysql_database") + "_q"
    login = quote(MYSQL["DB_USERNAME"], safe="")
    if MYSQL["DB_PASSWORD"]:
        login += ":" + quote(MYSQL["DB_PASSWORD"], safe="")
    try:
        yield f"mysql://{login}@{MYSQL['DB_HOST']}:{MYSQL['DB_PORT']}/{name}"
    finally:
        conn = mysql_connect()
        with conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


def tables_of(db_kind: str, url: str) -> set[str]:
    if db_kind == "sqlite":
        conn = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            return {name for (name,) in rows if not name.startswith("sqlite_")}
        finally:
            conn.close()
    conn = mysql_connect(url.rsplit("/", 1)[1])
    try:
        with conn.cursor() as cursor:
            cursor.execute("SHOW TABLES")
            return {name for (name,) in cursor.fetchall()}
    finally:
        conn.close()


async def test_the_docs_example_runs_and_stops_gracefully_on_sigterm(
    db_kind: str, queue_url: str, tmp_path: Path
) -> None:
    code = docs_example()
    assert EXAMPLE_URL in code
    script = tmp_path / "example.py"
    script.write_text(code.replace(EXAMPLE_URL, repr(queue_url)), encoding="utf-8")
    # No settings: no .env in its folder, no DB_* variables.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DB_", "SYNC_", "APP_"))}
    env["PYTHONPATH"] = str(ROOT)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        sent = [(await asyncio.wait_for(proc.stdout.readline(), 60)).decode() for _ in range(3)]
        assert sorted(sent) == [f"sent to user{n}@example.org\n" for n in range(3)]
        proc.send_signal(signal.SIGTERM)
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0, err.decode()
    assert out.decode() == "stopped: 3 done, 0 failed\n"
    assert "Traceback" not in err.decode()
    assert tables_of(db_kind, queue_url) == QUEUE_TABLES
    async with await open_queue(queue_url, queue="mail") as q:
        assert await q.queue.size() == 0
        assert await q.db.fetch_all("workers_live") == []  # its pool said goodbye


@pytest.fixture
async def standalone(db_kind: str, queue_url: str) -> AsyncIterator[StandaloneQueue]:
    async with await open_queue(queue_url, queue="lib") as q:
        yield q


async def _signal_when(event: asyncio.Event, signum: int) -> None:
    await asyncio.wait_for(event.wait(), 30)
    os.kill(os.getpid(), signum)


async def test_a_running_job_finishes_on_the_first_signal(standalone: StandaloneQueue) -> None:
    q = standalone
    started, go_on = asyncio.Event(), asyncio.Event()
    done: list[int] = []

    @q.job("lib.slow")
    async def slow(job: JobContext) -> None:
        started.set()
        await go_on.wait()
        done.append(job.data["n"])

    await q.push("lib.slow", {"n": 1})
    worker = asyncio.create_task(q.run_worker(concurrency=2, sleep=0.1))
    await _signal_when(started, signal.SIGTERM)
    await asyncio.sleep(0.2)
    assert not worker.done()  # waits for the running job
    go_on.set()
    stats = await asyncio.wait_for(worker, 30)
    assert done == [1] and stats.done == 1
    assert await q.queue.size() == 0


async def test_a_second_signal_puts_the_running_job_back(standalone: StandaloneQueue) -> None:
    q = standalone
    started = asyncio.Event()

    @q.job("lib.stuck")
    async def stuck(job: JobContext) -> None:
        started.set()
        await asyncio.Event().wait()

    await q.push("lib.stuck", {"n": 1}, queue="lib")
    worker = asyncio.create_task(q.run_worker(concurrency=1, sleep=0.1))
    await _signal_when(started, signal.SIGINT)
    os.kill(os.getpid(), signal.SIGINT)
    stats = await asyncio.wait_for(worker, 30)
    # Released once by the cancel; a claim-ahead round already in flight when the stop
    # came may take it again on MariaDB and hand it straight back, unstarted (a second
    # release, with no attempt spent): what counts is the job's state below.
    assert stats.done == 0 and stats.released >= 1
    (row,) = await q.db.fetch_all("queue_stats")
    assert (row["queue"], int(row["pending"]), int(row["reserved"])) == ("lib", 1, 0)
    (job,) = await q.db.transact(lambda tx: q.queue.claim(tx, ["lib"], 1, "t", retry_after=60))
    assert job.attempts == 1  # the cancelled attempt was given back


async def test_the_queue_tables_take_the_rest_of_syncpay_later(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'later.sqlite'}"
    async with await open_queue(url) as q:
        await q.push("x.y", {"n": 1})
    settings = settings_for(url)
    db = await connect(settings, create=False)
    try:
        ran = await migrate(db, tables_for(settings))
        assert ran and not set(ran) & set(QUEUE_MIGRATIONS)
        assert int(await db.fetch_value("count_jobs")) == 1
    finally:
        await db.close()


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("postgres://localhost/x", "expected sqlite:///PATH or mysql://"),
        ("sqlite://host/file.db", "write a SQLite file as"),
        ("sqlite:///", "write a SQLite file as"),
        ("mysql://root@localhost:port/x", "Port could not be cast"),
        ("mysql://root@localhost/bad-name!", "DB_DATABASE"),
        ("mysql://app:s3cret@localhost:port/x", "'mysql://app:***@localhost:port/x'"),
        ("mariadb://app:s3cret@db/bad-name!", "'mariadb://app:***@db/bad-name!'"),
    ],
)
def test_a_url_that_cannot_be_used_is_one_line(url: str, words: str) -> None:
    with pytest.raises(QueueUrlError) as caught:
        settings_for(url)
    message = str(caught.value)
    assert words in message and "\n" not in message
    assert "s3cret" not in message and ("s3cret" in url or url in message)


def test_the_queue_name_is_checked_as_db_queue_is() -> None:
    with pytest.raises(QueueUrlError, match="must not contain commas or whitespace"):
        settings_for("sqlite:///x.sqlite", queue="two words")
    settings = settings_for("mysql://app:p%40ss@db.example:3307/school", queue="mail")
    assert (settings.db_username, settings.db_password, settings.db_host) == (
        "app",
        "p@ss",
        "db.example",
    )
    assert (settings.db_port, settings.db_database, settings.db_queue) == (3307, "school", "mail")
    assert settings_for("sqlite:////abs/q.sqlite").db_database == "/abs/q.sqlite"
    assert settings_for("sqlite:///rel/q.sqlite").db_database == "rel/q.sqlite"


def test_every_migration_of_the_queue_tables_is_applied_by_open_queue() -> None:
    """A new migration touching a queue table must join QUEUE_MIGRATIONS."""
    pattern = re.compile(r"\{jobs\}|\bfailed_jobs\b|\bcache\b|\bworkers\b")
    for dialect in ("sqlite", "mysql"):
        folder = ROOT / "syncpay" / "db" / "migrations" / dialect
        touching = {
            path.stem
            for path in folder.glob("*.sql")
            if path.stem != "0000_create_migrations_table"
            and pattern.search(
                "\n".join(
                    line
                    for line in path.read_text(encoding="utf-8").splitlines()
                    if not line.lstrip().startswith("--")
                )
            )
        }
        assert touching == set(QUEUE_MIGRATIONS), dialect
