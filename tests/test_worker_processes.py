"""Worker processes (``python -m syncpay work``): crashes, several processes on one
queue, and a MariaDB restart under load. Side effects are counted in a file (lines
appended with O_APPEND) and acks in the cache table (see ``tests/jobs.py``)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from syncpay.config import load_settings
from syncpay.db import Database, connect, migrate, tables_for
from syncpay.queue import Queue
from tests.conftest import ROOT
from tests.jobs import (
    add_test_queries,
    cache_values,
    count_lines,
    failed_rows,
    job_rows,
    pids_of,
)
from tests.reliability.mariadb_instance import (  # noqa: F401 (fixtures)
    MariaDB,
    mariadb,
    mariadb_template,
)

pytestmark = pytest.mark.slow


@pytest.fixture
def queue(db: Database) -> Queue:
    add_test_queries(db)
    return Queue(db, default_queue="default")


class Workers:
    """Worker processes started by one test; each ended by its own pid."""

    def __init__(self, env_vars: dict[str, str], tmp_path: Path) -> None:
        self.env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("DB_", "SYNC_", "QUEUE_", "PAYMENT_", "APP_", "LOG_"))
        }
        self.env |= env_vars | {"PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        self.tmp_path = tmp_path
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str, **extra_env: str) -> subprocess.Popen[bytes]:
        log = self.tmp_path / f"worker{len(self.procs)}.log"
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "syncpay", "work", "--import", "tests.jobs", *args],
                cwd=ROOT,
                env=self.env | extra_env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        proc.log = log  # type: ignore[attr-defined]
        self.procs.append(proc)
        return proc

    def output(self, proc: subprocess.Popen[bytes]) -> str:
        return proc.log.read_text(errors="replace")[-3000:]  # type: ignore[attr-defined]

    async def wait(self, proc: subprocess.Popen[bytes], timeout: float) -> int:
        try:
            return await asyncio.to_thread(proc.wait, timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(
                f"worker {proc.pid} still running after {timeout}s:\n{self.output(proc)}"
            ) from None

    async def stop(self, proc: subprocess.Popen[bytes], timeout: float = 15) -> None:
        if proc.poll() is None:
            proc.terminate()
            try:
                await asyncio.to_thread(proc.wait, timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                await asyncio.to_thread(proc.wait)

    def kill_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.fixture
def workers(env_vars, tmp_path) -> Iterator[Workers]:
    pool = Workers(env_vars, tmp_path)
    try:
        yield pool
    finally:
        pool.kill_all()


async def wait_until(predicate: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.1)


async def assert_all_acked_once(queue: Queue, out: Path, total: int) -> Counter[int]:
    """Every job ran at least once and was acked exactly once; nothing is left."""
    started = count_lines(out, "START")
    never = sorted(set(range(total)) - set(started))
    assert not never, f"{len(never)} jobs never ran (e.g. {never[:5]})"
    acks = await cache_values(queue.db)
    acked = {int(k.split(":")[1]): v for k, v in acks.items() if k.startswith("ack:")}
    assert set(acked) == set(range(total)), f"{total - len(acked)} jobs never acked"
    twice = {n: v for n, v in acked.items() if v != "1"}
    assert not twice, f"jobs acked more than once: {dict(list(twice.items())[:5])}"
    assert await job_rows(queue.db) == []
    assert await failed_rows(queue.db) == []
    return started


# --- a crash mid-job --------------------------------------------------------------------


async def test_a_killed_workers_job_runs_again_and_is_acked_once(queue: Queue, workers, tmp_path):
    out = tmp_path / "out.txt"
    await queue.push("tests.append", {"n": 0, "file": str(out), "sleep": 3}, queue="crash")
    args = ["--queue", "crash", "--timeout", "4", "--tries", "3", "--sleep", "0.2"]
    lease = {"DB_QUEUE_RETRY_AFTER": "5"}

    first = workers.start(*args, **lease)
    await wait_until(lambda: count_lines(out, "START")[0] == 1, 30, "the job to start")
    first.kill()  # SIGKILL mid-job: no cleanup at all
    await workers.wait(first, 10)
    (row,) = await job_rows(queue.db)
    assert row["attempts"] == 1 and row["reserved_at"] is not None, "still held by the dead worker"

    second = workers.start(*args, "--max-jobs", "1", **lease)
    restarted = time.monotonic()
    assert await workers.wait(second, 40) == 0, workers.output(second)
    # Taken again once its lease (5 s) lapsed, then run (3 s).
    assert time.monotonic() - restarted < 20
    assert count_lines(out, "START")[0] == 2
    assert count_lines(out, "END")[0] == 1
    assert count_lines(out, "DONE")[0] == 1
    assert pids_of(out, "DONE") == {second.pid}
    assert await cache_values(queue.db) == {"ack:0": "1"}
    assert await job_rows(queue.db) == []
    assert await failed_rows(queue.db) == []


# --- several worker processes on one queue ----------------------------------------------


async def test_two_worker_processes_share_five_thousand_jobs(queue: Queue, workers, tmp_path):
    total = 5000
    out = tmp_path / "out.txt"
    await queue.push_many(
        "tests.append", ({"n": n, "file": str(out)} for n in range(total)), queue="bulk"
    )
    args = ["--queue", "bulk", "--workers", "8", "--stop-when-empty", "--sleep", "0.2", "-q"]
    procs = [workers.start(*args) for _ in range(2)]
    for proc in procs:
        assert await workers.wait(proc, 150) == 0, workers.output(proc)

    started = await assert_all_acked_once(queue, out, total)
    # No crash, no lapsed lease: each job ran exactly once, and both processes worked.
    assert started == Counter(range(total))
    assert count_lines(out, "DONE") == Counter(range(total))
    assert pids_of(out, "DONE") == {p.pid for p in procs}


# --- MariaDB restarts under load ---------------------------------------------------------


@pytest.mark.xdist_group("private-mariadb")  # as tests/reliability/test_database_faults.py
async def test_workers_survive_a_mariadb_restart(
    mariadb: MariaDB,  # noqa: F811 (the fixture)
    tmp_path: Path,
) -> None:
    """Two worker processes keep going across a restart of their MariaDB. The server is
    a private one (tests/reliability/mariadb_instance.py): the shared server of the
    suite is never stopped, since other tests (and xdist workers) use it meanwhile."""
    conn = mariadb.connect()
    with conn.cursor() as cursor:
        cursor.execute("CREATE DATABASE syncpay_restart CHARACTER SET utf8mb4")
    conn.close()
    env = mariadb.env | {"DB_DATABASE": "syncpay_restart"}
    settings = load_settings(env, environ={}, env_file=None)
    db = await connect(settings, create=True)
    await migrate(db, tables_for(settings))
    add_test_queries(db)
    queue = Queue(db, default_queue="default")
    workers = Workers(env, tmp_path)
    total = 2000
    out = tmp_path / "out.txt"
    try:
        await queue.push_many(
            "tests.append",
            ({"n": n, "file": str(out), "sleep": 0.03} for n in range(total)),
            queue="restart",
        )
        # A short lease: a round whose commit was cut off may leave jobs reserved by
        # nobody; they come back after retry_after (that is at least once, not a loss).
        args = ["--queue", "restart", "--workers", "8", "--timeout", "5", "--sleep", "0.2", "-q"]
        procs = [workers.start(*args, DB_QUEUE_RETRY_AFTER="8") for _ in range(2)]
        await wait_until(
            lambda: len(count_lines(out, "DONE")) >= 300, 60, "the workers to get going"
        )
        assert all(p.poll() is None for p in procs)
        await asyncio.to_thread(mariadb.stop)
        down_at = len(count_lines(out, "DONE"))
        await asyncio.sleep(3)
        await asyncio.to_thread(mariadb.start)
        assert down_at < total, "the restart came too late to test anything"

        async def finished() -> bool:
            return await queue.size() == 0

        await wait_until(finished, 90, "every job to be done after the restart")
        for proc in procs:
            assert proc.poll() is None, f"a worker died:\n{workers.output(proc)}"
            await workers.stop(proc)
            assert proc.returncode == 0, workers.output(proc)
        await assert_all_acked_once(queue, out, total)
    finally:
        workers.kill_all()
        await db.close()
