"""An idle worker pool is woken by a job pushed elsewhere (another process, another
connection), long before its ``--sleep`` poll: the pools here sleep 60 s, so only the
watch (``syncpay/queue/watch.py``) can explain a job that starts within seconds."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from syncpay.config import Settings
from syncpay.db import Database, connect
from syncpay.queue import JobContext, JobRegistry, Queue, Worker, WorkerOptions
from tests.conftest import ROOT, mysql_connect

Q = "default"
JOB = "wake.note"
SLEEP = 60.0
#: Far below SLEEP: a job not taken by then was not woken for.
WITHIN = 20.0

PUSHER = """
import asyncio, json, sys
from syncpay.config import load_settings
from syncpay.db import connect
from syncpay.queue import Queue

async def main():
    db = await connect(load_settings(json.loads(sys.argv[1]), environ={}, env_file=None))
    try:
        for n in json.loads(sys.argv[2]):
            await Queue(db, default_queue="default").push("wake.note", {"n": n})
    finally:
        await db.close()

asyncio.run(main())
"""


class Pool:
    """An idle pool of this process (60 s sleep) and the jobs it started."""

    def __init__(self, db: Database) -> None:
        self.started: list[int] = []
        self.arrived = asyncio.Event()
        registry = JobRegistry()

        @registry.register(JOB)
        async def note(job: JobContext) -> None:
            self.started.append(int(job.data["n"]))
            self.arrived.set()

        options = WorkerOptions(queues=(Q,), concurrency=2, sleep=SLEEP, timeout=5, grace=5)
        self.worker = Worker(Queue(db, default_queue=Q), registry, options)

    async def until_idle(self) -> None:
        """Until a claim of the pool found the queue empty (its watch looks from then)."""
        deadline = time.monotonic() + WITHIN
        while not self.worker._idling():
            assert time.monotonic() < deadline, "the pool never went idle"
            await asyncio.sleep(0.01)

    async def until_started(self, count: int) -> None:
        deadline = time.monotonic() + WITHIN
        while len(self.started) < count:
            self.arrived.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"{len(self.started)} of {count} jobs started within {WITHIN:g}s "
                    f"(sleep {SLEEP:g}s): the idle pool was not woken"
                )
            await asyncio.wait({asyncio.ensure_future(self.arrived.wait())}, timeout=left)


@pytest.fixture
async def pool(db: Database) -> AsyncIterator[Pool]:
    await Queue(db, default_queue=Q).clear()
    idle = Pool(db)
    idle.worker.start()
    try:
        await idle.until_idle()
        yield idle
    finally:
        await asyncio.wait_for(idle.worker.close(), 15)


@pytest.fixture
async def other(settings: Settings) -> AsyncIterator[Database]:
    """A second connection (pool) to the same database, with no worker of its own."""
    database = await connect(settings, create=False)
    try:
        yield database
    finally:
        await database.close()


async def test_a_job_pushed_by_another_process_wakes_an_idle_worker(
    pool: Pool, env_vars: dict[str, str]
) -> None:
    pusher = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        PUSHER,
        json.dumps(env_vars),
        json.dumps([1, 2]),
        cwd=ROOT,
        stderr=subprocess.PIPE,
    )
    _out, err = await asyncio.wait_for(pusher.communicate(), 60)
    assert pusher.returncode == 0, err.decode(errors="replace")
    await pool.until_started(2)
    assert sorted(pool.started) == [1, 2]
    assert pool.worker._watch.wakes >= 1


async def test_each_push_of_another_connection_wakes_the_pool_again(
    pool: Pool, other: Database
) -> None:
    queue = Queue(other, default_queue=Q)  # pushes here wake none of this process's pools
    for n in range(1, 4):
        await queue.push(JOB, {"n": n})
        await pool.until_started(n)
        await pool.until_idle()
    assert pool.started == [1, 2, 3]
    assert pool.worker._watch.wakes == 3


async def test_writes_that_push_no_job_leave_the_idle_pool_asleep(
    pool: Pool, other: Database
) -> None:
    """Another pool's presence, a delayed job: commits, but nothing to claim now."""
    worker = pool.worker
    rounds = worker._round_seq
    for n in range(5):
        row: dict[str, Any] = {"name": f"elsewhere-{n}", "queues": "[]", "slots": 1, "ttl": 10}
        await other.execute("worker_seen", row)
        await asyncio.sleep(0.03)
    assert worker._round_seq == rounds and worker._watch.wakes == 0
    # A delayed job wakes the pool once (its id is new), which claims nothing and idles.
    await Queue(other, default_queue=Q).push(JOB, {"n": 9}, delay=3600)
    deadline = time.monotonic() + WITHIN
    while worker._watch.wakes == 0 or not worker._idling():
        assert time.monotonic() < deadline, "the delayed job's push woke nothing"
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    assert worker._watch.wakes == 1 and pool.started == []


@pytest.mark.parametrize("db_kind", ["mysql"], indirect=True)
async def test_a_watch_whose_connection_was_killed_takes_another(
    pool: Pool, other: Database, settings: Settings
) -> None:
    from syncpay.db.watch import MysqlWatch

    watch = pool.worker._watch._watch
    assert isinstance(watch, MysqlWatch)
    deadline = time.monotonic() + WITHIN
    while watch._conn is None:
        assert time.monotonic() < deadline, "the watch never looked"
        await asyncio.sleep(0.01)
    killed = watch._conn.thread_id()
    server = mysql_connect(settings.db_database)
    try:
        with server.cursor() as cursor:
            cursor.execute(f"KILL CONNECTION {int(killed)}")
    finally:
        server.close()
    await Queue(other, default_queue=Q).push(JOB, {"n": 1})
    await pool.until_started(1)
    assert pool.worker._watch.wakes == 1
    assert watch.dropped == 1  # the killed one, noticed at its next look


async def test_a_database_closed_under_an_idle_watching_pool_closes(
    settings: Settings, db: Database
) -> None:
    """The database closed while a pool idles and its watch holds a connection (a test,
    or a library user closing in the wrong order): the close ends. MariaDB's pool waits
    for every lent connection — the watch's included — and it hung for ever."""
    await Queue(db, default_queue=Q).clear()  # (``db``: the migrated tables)
    database = await connect(settings, create=False)
    idle = Pool(database)
    idle.worker.start()
    try:
        await idle.until_idle()
        await asyncio.sleep(0.5)  # the watch has looked (every 50 ms, 100 ms on MariaDB)
        await asyncio.wait_for(database.close(), 10)
    finally:
        await asyncio.wait_for(idle.worker.close(), 15)
