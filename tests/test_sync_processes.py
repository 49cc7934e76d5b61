"""The sync across processes (SPEC §4 Crash, §1 separate workers), SQLite and MariaDB.

The simulator runs in the test process; ``syncpay work`` processes fetch from it over
HTTP and write to the test's database. Runs are started and watched in-process.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncpay.simulator import Simulator
from tests.conftest import ROOT
from tests.sync_helpers import (
    Harness,
    Monitor,
    items_of,
    rows,
    siswa_rows,
    stored_mismatches,
    synced_ids,
    until,
)

pytestmark = pytest.mark.slow

#: Variables of the test's own environment that must not leak into a child.
_OURS = ("DB_", "SYNC_", "QUEUE_", "PAYMENT_", "APP_", "LOG_", "SISWA_")


class Children:
    """The subprocesses of one test, each with its output in a file of its own; any still
    alive at the end is killed by its own pid."""

    def __init__(self, env_vars: dict[str, str], tmp_path: Path) -> None:
        base = {k: v for k, v in os.environ.items() if not k.startswith(_OURS)}
        self.env = base | env_vars
        self.env |= {
            "PYTHONPATH": str(ROOT),
            "PYTHONUNBUFFERED": "1",
            "LOG_FILE": str(tmp_path / "syncpay.log"),
        }
        self.dir = tmp_path
        self.started: list[subprocess.Popen[bytes]] = []

    def spawn(self, argv: list[str], **env: str) -> subprocess.Popen[bytes]:
        out = self.dir / f"child{len(self.started)}.out"
        with out.open("wb") as sink:
            child = subprocess.Popen(
                argv, cwd=ROOT, env=self.env | env, stdout=sink, stderr=subprocess.STDOUT
            )
        self.started.append(child)
        return child

    def work(self, *args: str, **env: str) -> subprocess.Popen[bytes]:
        return self.spawn([sys.executable, "-m", "syncpay", "work", *args], **env)

    def output(self, child: subprocess.Popen[bytes]) -> str:
        index = self.started.index(child)
        return (self.dir / f"child{index}.out").read_text(errors="replace")

    def outputs(self) -> str:
        return "\n".join(
            f"--- child {c.pid} (rc={c.poll()}) ---\n{self.output(c)[-2500:]}" for c in self.started
        )

    async def end(self, child: subprocess.Popen[bytes], timeout: float = 20) -> int:
        """SIGTERM (a graceful stop), then SIGKILL if it lingers."""
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
        try:
            return await asyncio.to_thread(child.wait, timeout)
        except subprocess.TimeoutExpired:
            child.kill()
            return await asyncio.to_thread(child.wait)

    def kill_left(self) -> None:
        for child in self.started:
            if child.poll() is None:
                child.kill()
                child.wait()


@pytest.fixture
def children(env_vars: dict[str, str], tmp_path: Path) -> Iterator[Children]:
    pool = Children(env_vars, tmp_path)
    try:
        yield pool
    finally:
        pool.kill_left()


def sync_env(sim: Simulator, **extra: str) -> dict[str, str]:
    return {
        "PAYMENT_SOURCE": "http",
        "PAYMENT_API_URL": sim.payments_url,
        "PAYMENT_API_TIMEOUT": "5",
        "PAYMENT_API_RETRY_AFTER_MAX": "1",
        "SYNC_BACKOFF": "0",
        "SYNC_TRIES": "3",
        **extra,
    }


async def test_crash_mid_run_restart_finishes_exactly(h: Harness, children: Children) -> None:
    sim = await h.simulator(latency=0.05)
    roster = await h.students(400, seed=101)
    ids = {s["idperson"] for s in roster}
    sp = h.syncpay(sim)
    env = sync_env(sim, DB_QUEUE_RETRY_AFTER="4")
    run = await sp.start(started_by="crash test")
    monitor = Monitor(sp, run.id).start()

    first = children.work("--workers", "4", "--timeout", "3", "--sleep", "0.5", **env)

    async def a_fifth_done() -> bool:
        assert first.poll() is None, children.outputs()
        return (await sp.sync.get(run.id)).processed >= 80

    await until(a_fifth_done, 60, every=0.05, what="20 % of the run")
    first.kill()  # SIGKILL: no goodbye, its leases are left behind
    await asyncio.to_thread(first.wait)
    at_kill = await sp.sync.get(run.id)
    assert 80 <= at_kill.processed <= 240, at_kill
    reserved = [j for j in await rows(h.db, "ts_jobs") if j["reserved_at"] is not None]
    assert reserved, "the killed worker held no job: the crash proved nothing"

    second = children.work("--workers", "4", "--timeout", "3", "--sleep", "0.5", **env)

    async def ended() -> bool:
        assert second.poll() is None, children.outputs()
        return not (await sp.sync.get(run.id)).is_running

    await until(ended, 90, every=0.1, what="the run to end after the restart")
    await monitor.stop()
    done = await sp.sync.get(run.id)
    assert (done.status, done.total, done.processed, done.failed) == ("completed", 400, 400, 0)
    assert monitor.breaches == []
    items = await items_of(h.db, run.id)
    assert len(items) == 400 and set(items) == ids
    assert {i["status"] for i in items.values()} == {"done"}
    assert stored_mismatches(sim, await siswa_rows(h.db), ids) == []
    assert await rows(h.db, "ts_jobs") == []
    assert int((await rows(h.db, "ts_failed_jobs"))[0]["n"]) == 0
    # The jobs the killed worker held were fetched again by the new one.
    assert sim.stats()["requests"] > 400
    assert await children.end(second) == 0, children.outputs()


async def test_two_worker_processes_count_exactly(h: Harness, children: Children) -> None:
    sim = await h.simulator(latency=0.02, error_rate=0.1, fail_rate=0.05)
    roster = await h.students(600, seed=103)
    ids = {s["idperson"] for s in roster}
    failing = {i for i in ids if sim.category(i) == "fail"}
    assert failing
    sp = h.syncpay(sim)
    env = sync_env(sim)
    workers = [children.work("--workers", "4", "--sleep", "0.2", **env) for _ in range(2)]
    run = await sp.start(started_by="two workers")
    monitor = Monitor(sp, run.id).start()

    async def ended() -> bool:
        for child in workers:
            assert child.poll() is None, children.outputs()
        return not (await sp.sync.get(run.id)).is_running

    await until(ended, 120, every=0.1, what="the run to end")
    await monitor.stop()
    done = await sp.sync.get(run.id)
    assert (done.status, done.total, done.processed, done.failed) == (
        "completed",
        600,
        600,
        len(failing),
    )
    assert monitor.breaches == []
    items = await items_of(h.db, run.id)
    assert set(items) == ids
    assert {i for i, item in items.items() if item["status"] == "failed"} == failing
    assert {items[i]["attempts"] for i in failing} == {3}
    assert {f.reason for f in await sp.failed_students(run.id)} == {"HTTP 500"}
    assert stored_mismatches(sim, await siswa_rows(h.db), ids - failing) == []
    for child in workers:
        assert await children.end(child) == 0, children.outputs()
    # Both processes took part.
    for child in workers:
        assert jobs_done(children.output(child)) > 0, children.outputs()


def jobs_done(output: str) -> int:
    """The "N done" of the worker's goodbye line."""
    found = re.search(r"Worker stopped \([^)]*\): (\d+) done", output)
    assert found, output[-2000:]
    return int(found.group(1))


async def test_cancel_while_another_process_works(h: Harness, children: Children) -> None:
    # The worker is another process: nobody cancels its tasks, yet the jobs it has in
    # flight when the run is cancelled must write nothing.
    sim = await h.simulator(latency=0.2)
    await h.students(200, seed=109)
    sp = h.syncpay(sim)
    run = await sp.start(started_by="cancel test")
    worker = children.work("--workers", "4", "--sleep", "0.2", **sync_env(sim))

    async def some_done() -> bool:
        assert worker.poll() is None, children.outputs()
        return (await sp.sync.get(run.id)).processed >= 20

    await until(some_done, 60, every=0.05, what="20 students")
    cancelled = await sp.cancel(run.id, by="tester")
    synced = await synced_ids(h.db)
    asked = sim.stats()["requests"]
    assert cancelled.status == "cancelled"
    await asyncio.sleep(2.0)
    # It may still finish what it held (4 running, 4 claimed ahead), then it stops asking.
    assert sim.stats()["requests"] - asked <= 16
    later = await sp.sync.get(run.id)
    assert (later.status, later.processed, later.failed) == (
        "cancelled",
        cancelled.processed,
        cancelled.failed,
    )
    assert await synced_ids(h.db) == synced
    counted = {k for k, i in (await items_of(h.db, run.id)).items() if i["status"] != "queued"}
    assert synced == counted
    assert await rows(h.db, "ts_student_jobs") == []
    assert await children.end(worker) == 0, children.outputs()


_STARTER = textwrap.dedent(
    """
    import asyncio, json, sys, time
    import syncpay

    async def main() -> None:
        sp = await syncpay.open()
        try:
            await asyncio.sleep(max(0.0, float(sys.argv[1]) - time.time()))
            try:
                run = await sp.start(started_by=sys.argv[2])
                print(json.dumps({"run": run.id}))
            except syncpay.RunConflict as exc:
                print(json.dumps({"conflict": exc.run.id if exc.run else None}))
        finally:
            await sp.close()

    asyncio.run(main())
    """
)


async def test_start_all_from_two_processes_at_once(h: Harness, children: Children) -> None:
    sim = await h.simulator()
    await h.students(10, seed=107)
    env = sync_env(sim)
    for attempt in range(3):
        at = time.time() + 2.0  # both processes are up by then; they start together
        pair = [
            children.spawn([sys.executable, "-c", _STARTER, str(at), f"p{n}"], **env)
            for n in range(2)
        ]
        for child in pair:
            assert await asyncio.to_thread(child.wait, 30) == 0, children.outputs()
        answers = [json.loads(children.output(c).strip().splitlines()[-1]) for c in pair]
        made = [a["run"] for a in answers if "run" in a]
        refused = [a["conflict"] for a in answers if "conflict" in a]
        assert len(made) == 1 and refused == made, answers
        running = await rows(h.db, "ts_running")
        assert [int(r["id"]) for r in running] == made
        sp = h.syncpay(sim)
        await sp.cancel(made[0])
        assert len(await rows(h.db, "ts_runs")) == attempt + 1
