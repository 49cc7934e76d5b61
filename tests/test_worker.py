"""The in-process worker pool on both databases."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest

from syncpay.db import Database, DatabaseUnavailable, Tx, connect
from syncpay.db.cache import RESTART_KEY, Cache
from syncpay.db.queries import parse_queries
from syncpay.queue import (
    FailureReason,
    JobContext,
    JobRegistry,
    Payload,
    PermanentFailure,
    Queue,
    RetryLater,
    Worker,
    WorkerOptions,
    job_type,
)
from tests.jobs import add_test_queries, cache_values, db_now, failed_rows, job_rows

Q = "default"


@pytest.fixture
def queue(db: Database) -> Queue:
    add_test_queries(db)
    return Queue(db, default_queue=Q)


def options(**changes: Any) -> WorkerOptions:
    base: dict[str, Any] = {
        "queues": (Q,),
        "concurrency": 8,
        "tries": 3,
        "timeout": 5,
        "retry_after": 10,
        "backoff": (0,),
        "sleep": 0.1,
        "stop_when_empty": True,
        "grace": 5,
    }
    return WorkerOptions(**(base | changes))


async def reap_orphans() -> list[str]:
    """Tasks still alive besides this test's own: cancel them (twice: a job task that
    catches the first cancel waits for its outcome to settle) and name them."""
    current = asyncio.current_task()
    names = []
    for _ in range(5):
        alive = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
        if not alive:
            break
        names += [repr(t.get_coro()) for t in alive]
        for task in alive:
            task.cancel()
        await asyncio.wait(alive, timeout=0.5)
    return sorted(set(names))


@pytest.fixture(autouse=True)
async def no_orphan_tasks():
    yield
    await reap_orphans()


async def run(worker: Worker, timeout: float = 30) -> float:
    """Run the worker to its end; the seconds it took. Nothing of it may outlive it."""
    started = time.monotonic()
    await asyncio.wait_for(worker.run(), timeout)
    elapsed = time.monotonic() - started
    orphans = await reap_orphans()
    assert not orphans, f"the worker returned while job tasks still ran: {orphans}"
    return elapsed


async def wait_for(predicate, timeout: float = 5, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def failure_hook_recorder(calls: list[tuple[Any, str, int]]):
    async def failed(tx: Tx, payload: Payload, reason: str, attempts: int) -> None:
        await tx.execute("cache_put", {"key": f"failed:{payload.uuid}", "value": reason, "ttl": 0})
        tx.after_commit(lambda: calls.append((payload.data.get("n"), reason, attempts)))

    return failed


# --- throughput and exactly-once accounting ---------------------------------------------


async def test_a_thousand_jobs_on_eight_slots_each_done_once(queue: Queue):
    registry = JobRegistry()
    runs: Counter[int] = Counter()
    acks: Counter[int] = Counter()
    running = [0, 0]  # now, peak

    @registry.register("tests.count")
    async def count(job: JobContext) -> None:
        n = job.data["n"]
        runs[n] += 1
        running[0] += 1
        running[1] = max(running)
        await asyncio.sleep(0.002)
        running[0] -= 1

        async def hook(tx: Tx) -> None:
            await tx.execute("cache_put", {"key": f"done:{n}", "value": "1", "ttl": 0})
            tx.after_commit(lambda: acks.update([n]))

        job.on_success(hook)

    total = 1000
    await queue.push_many("tests.count", ({"n": n} for n in range(total)))
    worker = Worker(queue, registry, options(concurrency=8))
    await run(worker, 120)
    assert runs == Counter(range(total)), "every job ran exactly once"
    assert acks == Counter(range(total)), "every job was acked exactly once"
    assert 1 < running[1] <= 8
    assert (worker.stats.done, worker.stats.failed, worker.stats.lost) == (total, 0, 0)
    assert len(await cache_values(queue.db)) == total
    assert await queue.size() == 0
    assert await failed_rows(queue.db) == []


# --- job types: records, defaults, the pool's app ----------------------------------------


async def test_a_job_type_is_collected_not_registered_and_its_defaults_and_app_apply(
    queue: Queue,
):
    """``@job_type`` only marks a handler; a registry collects it (with its hooks and
    defaults); each handler sees the ``app`` its pool was given; the job type's tries and
    backoff apply where the payload sets none (before the pool's options)."""
    seen: list[tuple[int, object]] = []
    failed_calls: list[tuple[Any, str, int]] = []

    @job_type("tests.typed", failed=failure_hook_recorder(failed_calls), tries=2, backoff=[0])
    async def typed(job: JobContext) -> None:
        seen.append((job.attempts, job.app))
        raise RuntimeError("not today")

    async def other(job: JobContext) -> None: ...

    registry = JobRegistry()
    assert registry.names() == []
    assert registry.collect(SimpleNamespace(typed=typed, other=other, n=1)) == ["tests.typed"]
    assert registry.get("tests.typed").tries == 2
    with pytest.raises(ValueError, match="already registered"):
        registry.add("tests.typed", other)
    app = object()
    await queue.push("tests.typed", {"n": 1})
    await run(Worker(queue, registry, options(tries=5, backoff=(60,)), app=app))
    assert seen == [(1, app), (2, app)]
    assert [(n, attempts) for n, _reason, attempts in failed_calls] == [(1, 2)]
    assert len(await failed_rows(queue.db)) == 1


async def test_a_pool_without_queues_takes_its_queue_s_default(queue: Queue):
    options_without = WorkerOptions(timeout=5, retry_after=10)
    assert Worker(queue, JobRegistry(), options_without).options.queues == (Q,)
    assert Worker(queue, JobRegistry()).options.queues == (Q,)


# --- errors, retries and failures -------------------------------------------------------


async def test_a_failing_job_is_retried_then_failed_with_its_traceback(queue: Queue):
    registry = JobRegistry()
    attempts: list[int] = []
    failed_calls: list[tuple[Any, str, int]] = []

    async def broken(job: JobContext) -> None:
        attempts.append(job.attempts)
        raise ValueError(f"broken {job.data['n']}")

    registry.add("tests.broken", broken, failed=failure_hook_recorder(failed_calls))
    await queue.push("tests.broken", {"n": 1})
    worker = Worker(queue, registry, options(tries=3, backoff=(0,)))
    elapsed = await run(worker)
    assert attempts == [1, 2, 3]
    assert elapsed < 5
    assert failed_calls == [(1, "broken 1", 3)], "the failed hook ran exactly once"
    (row,) = await failed_rows(queue.db)
    assert row["exception"].startswith("ValueError: broken 1\n")
    assert "Traceback (most recent call last)" in row["exception"]
    assert "in broken" in row["exception"]
    assert await job_rows(queue.db) == []
    assert await cache_values(queue.db) == {
        f"failed:{Payload.parse(row['payload']).uuid}": "broken 1"
    }
    assert (worker.stats.done, worker.stats.released, worker.stats.failed) == (0, 2, 1)


async def test_the_pool_tells_its_observers_what_it_settled_and_ran(queue: Queue):
    """The observer interface (what the metrics subscribe to): every settled outcome with
    its job's name, every handler's end, and the pool's stop once, last, with its final
    counts; a pool without observers reports nothing."""
    registry = JobRegistry()

    @registry.register("tests.observed")
    async def observed(job: JobContext) -> None:
        if job.data["n"] == 2:
            raise ValueError("no")

    class Recorder:
        def __init__(self) -> None:
            self.settled: list[tuple[str, str, str]] = []
            self.ran: list[str] = []
            self.stopped: list[tuple[str, str, tuple[int, int, int]]] = []

        def job_settled(self, kind: str, job: Any, payload: Payload | None) -> None:
            self.settled.append((kind, job.queue, payload.job if payload else "?"))

        def job_ran(self, name: str, started: float) -> None:
            assert 0 <= time.perf_counter() - started < 5
            assert not self.stopped, "nothing is reported after the stop"
            self.ran.append(name)

        def pool_stopped(self, name: str, reason: str, stats: Any) -> None:
            self.stopped.append((name, reason, (stats.done, stats.released, stats.failed)))

    first, second = Recorder(), Recorder()
    await queue.push_many("tests.observed", ({"n": n} for n in (1, 2)))
    worker = Worker(queue, registry, options(tries=2), observers=[first])
    worker.subscribe(second)
    await run(worker)
    for seen in (first, second):
        assert Counter(seen.settled) == Counter(
            {("ack", Q, "tests.observed"): 1, ("release", Q, "tests.observed"): 1}
            | {("fail", Q, "tests.observed"): 1}
        )
        assert seen.ran == ["tests.observed"] * 3
        assert seen.stopped == [(worker.name, worker.stop_reason, (1, 1, 1))]
    assert worker.stop_reason
    assert worker.observers == [first, second]
    assert Worker(queue, registry, options()).observers == []


async def test_a_job_retried_at_once_is_still_tracked_by_the_worker(queue: Queue):
    """Attempt 1 fails; the same round that releases it claims it again (backoff 0).
    The worker must keep tracking attempt 2 after attempt 1's task ends: it may not
    stop as "queue empty" (nor give up its slot, heartbeat or grace) while it runs."""
    registry = JobRegistry()
    attempts: list[int] = []

    @registry.register("tests.second_time_lucky")
    async def lucky(job: JobContext) -> None:
        attempts.append(job.attempts)
        if job.attempts == 1:
            raise RuntimeError("first attempt fails")
        await asyncio.sleep(0.5)

    await queue.push("tests.second_time_lucky")
    worker = Worker(queue, registry, options(tries=3, backoff=(0,)))
    await run(worker)
    assert attempts == [1, 2]
    assert worker.running == 0
    assert (worker.stats.released, worker.stats.done) == (1, 1)
    assert await job_rows(queue.db) == []


async def test_a_job_past_its_timeout_is_cancelled_retried_and_failed(queue: Queue):
    registry = JobRegistry()
    starts: Counter[str] = Counter()
    cancelled: Counter[str] = Counter()

    @registry.register("tests.hang")
    async def hang(job: JobContext) -> None:
        starts[job.data["n"]] += 1
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            cancelled[job.data["n"]] += 1
            raise

    await queue.push("tests.hang", {"n": "default"})
    await queue.push("tests.hang", {"n": "own"}, timeout=0.3)
    # retry_after is long: the retry must not wait for the lease.
    worker = Worker(queue, registry, options(timeout=0.5, retry_after=60, tries=2, backoff=(0,)))
    elapsed = await run(worker)
    assert elapsed < 5
    assert starts == Counter({"default": 2, "own": 2})
    assert cancelled == starts
    reasons = {
        Payload.parse(r["payload"]).data["n"]: r["exception"] for r in await failed_rows(queue.db)
    }
    assert reasons["default"].startswith("JobTimedOut: tests.hang ran longer than 0.5s")
    assert reasons["own"].startswith("JobTimedOut: tests.hang ran longer than 0.3s")
    assert await job_rows(queue.db) == []


async def test_unrunnable_payloads_fail_and_the_worker_carries_on(queue: Queue):
    registry = JobRegistry()
    ran: list[int] = []
    failed_calls: list[tuple[Any, str, int]] = []

    async def ok(job: JobContext) -> None:
        ran.append(job.data["n"])

    registry.add("tests.ok", ok, failed=failure_hook_recorder(failed_calls))
    await queue.push("tests.ok", {"n": 1})
    bad = await queue.push("tests.ok", {"n": 2})
    await queue.push("tests.unknown", {"n": 3})
    await queue.push("tests.ok", {"n": 4})
    await queue.push("tests.ok", {"n": 5})
    await queue.db.run_script(f"UPDATE jobs SET payload = '{{bad' WHERE id = {bad};")
    worker = Worker(queue, registry, options())
    await run(worker)
    assert sorted(ran) == [1, 4, 5]
    failed = {r["payload"]: r for r in await failed_rows(queue.db)}
    assert len(failed) == 2
    malformed = failed["{bad"]
    assert "malformed payload JSON" in malformed["exception"]
    assert malformed["uuid"].startswith(f"job-{bad}-")
    (other,) = [r for r in failed.values() if r is not malformed]
    assert "'tests.unknown' is not registered" in other["exception"]
    assert Payload.parse(other["payload"]).job == "tests.unknown"
    assert await job_rows(queue.db) == []
    assert (worker.stats.done, worker.stats.failed) == (3, 2)
    assert failed_calls == []


async def test_retry_later_without_counting_the_attempt(queue: Queue):
    registry = JobRegistry()
    seen: list[tuple[str, int]] = []

    @registry.register("tests.busy")
    async def busy(job: JobContext) -> None:
        kind = job.data["kind"]
        seen.append((kind, job.attempts))
        if kind == "free" and len([s for s in seen if s[0] == "free"]) <= 4:
            raise RetryLater(0, "server busy (503)", count_attempt=False)
        if kind == "counted":
            raise RetryLater(0, "try again")
        if kind == "later":
            raise RetryLater(30, "Retry-After: 30", count_attempt=False)

    await queue.push("tests.busy", {"kind": "free"})
    await queue.push("tests.busy", {"kind": "counted"})
    later = await queue.push("tests.busy", {"kind": "later"})
    worker = Worker(queue, registry, options(tries=2))
    await run(worker)
    # Five runs, the attempt always given back: never more than attempt 1, and done.
    assert [a for k, a in seen if k == "free"] == [1, 1, 1, 1, 1]
    # Counted RetryLater spends tries like an error.
    assert [a for k, a in seen if k == "counted"] == [1, 2]
    (failed,) = await failed_rows(queue.db)
    assert Payload.parse(failed["payload"]).data == {"kind": "counted"}
    assert failed["exception"].startswith("RetryLater: try again")
    # Put back for its delay, attempt given back.
    (row,) = await job_rows(queue.db)
    assert row["id"] == later and row["attempts"] == 0 and row["reserved_at"] is None
    assert 29 <= row["available_at"] - await db_now(queue.db) <= 30
    assert worker.stats.done == 1


async def test_permanent_failure_fails_at_once(queue: Queue):
    registry = JobRegistry()
    runs: list[int] = []
    failed_calls: list[tuple[Any, str, int]] = []

    async def gone(job: JobContext) -> None:
        runs.append(job.attempts)
        raise PermanentFailure("student not found (404)")

    registry.add("tests.gone", gone, failed=failure_hook_recorder(failed_calls))
    await queue.push("tests.gone", {"n": 1})
    worker = Worker(queue, registry, options(tries=5))
    await run(worker)
    assert runs == [1]
    assert failed_calls == [(1, "student not found (404)", 1)]
    (row,) = await failed_rows(queue.db)
    assert row["exception"].startswith("PermanentFailure: student not found (404)")


async def test_a_payloads_own_max_tries_wins(queue: Queue):
    registry = JobRegistry()
    runs: list[int] = []

    @registry.register("tests.fragile")
    async def fragile(job: JobContext) -> None:
        runs.append(job.attempts)
        raise RuntimeError("nope")

    await queue.push("tests.fragile", max_tries=2)
    worker = Worker(queue, registry, options(tries=5, backoff=(0,)))
    await run(worker)
    assert runs == [1, 2]
    assert len(await failed_rows(queue.db)) == 1


async def test_a_failure_hook_that_raises_still_fails_the_job(queue: Queue):
    registry = JobRegistry()

    async def failed(tx: Tx, payload: Payload, reason: str, attempts: int) -> None:
        await tx.execute("cache_put", {"key": "half-written", "value": "x", "ttl": 0})
        raise RuntimeError("the failure hook broke")

    async def doomed(job: JobContext) -> None:
        raise PermanentFailure("gone")

    registry.add("tests.doomed", doomed, failed=failed)
    await queue.push("tests.doomed")
    worker = Worker(queue, registry, options())
    await run(worker)
    (row,) = await failed_rows(queue.db)
    assert row["exception"].startswith("PermanentFailure: gone")
    assert await job_rows(queue.db) == []
    assert await cache_values(queue.db) == {}, "the broken hook's writes were rolled back"


async def test_a_job_taken_too_often_fails_without_running(queue: Queue):
    registry = JobRegistry()
    runs: list[int] = []
    failed_calls: list[tuple[Any, str, int]] = []

    async def job(job: JobContext) -> None:
        runs.append(job.attempts)

    registry.add("tests.vanishing", job, failed=failure_hook_recorder(failed_calls))
    job_id = await queue.push("tests.vanishing", {"n": 1})
    # Its workers vanished three times already.
    await queue.db.execute("t_set_attempts", {"id": job_id, "attempts": 3})
    worker = Worker(queue, registry, options(tries=3))
    await run(worker)
    assert runs == []
    (row,) = await failed_rows(queue.db)
    assert row["exception"].startswith("MaxAttemptsExceeded: ")
    assert len(failed_calls) == 1 and "attempted too many times" in failed_calls[0][1]


async def test_attempts_cut_off_by_vanished_workers_are_not_tries(queue: Queue):
    """A job whose workers vanished twice while running it still gets its three tries;
    one they vanished on as many times as it has tries fails without running again (it
    may be what stops them), saying so."""
    registry = JobRegistry()
    runs: list[tuple[int, int]] = []
    failed_calls: list[tuple[Any, str, int]] = []

    async def job(job: JobContext) -> None:
        runs.append((job.data["n"], job.attempts))
        raise RuntimeError("the API is down")

    registry.add("tests.cut", job, failed=failure_hook_recorder(failed_calls))
    twice = await queue.push("tests.cut", {"n": 1})
    thrice = await queue.push("tests.cut", {"n": 2})
    await queue.db.execute("t_set_cut_offs", {"id": twice, "attempts": 2, "cut_offs": 2})
    await queue.db.execute("t_set_cut_offs", {"id": thrice, "attempts": 3, "cut_offs": 3})
    worker = Worker(queue, registry, options(tries=3))
    await run(worker)
    assert runs == [(1, 3), (1, 4), (1, 5)], "three tries after two cut-offs"
    by_n = {n: (n, reason, attempts) for n, reason, attempts in failed_calls}
    assert "the API is down" in by_n[1][1] and by_n[1][2] == 5
    assert "was cut off 3 times" in by_n[2][1] and by_n[2][2] == 4
    exceptions = sorted(str(r["exception"]).splitlines()[0] for r in await failed_rows(queue.db))
    assert exceptions[0].startswith("MaxAttemptsExceeded: tests.cut was cut off 3 times")
    assert exceptions[1] == "RuntimeError: the API is down"


async def test_the_failure_hook_is_told_whether_the_job_was_cut_off(queue: Queue):
    """Only a job whose attempts ran out while its workers vanished is "cut off" -- not
    one whose own error happens to use the queue's words."""
    registry = JobRegistry()
    reasons: dict[int, FailureReason] = {}

    async def failed(tx: Tx, payload: Payload, reason: FailureReason, attempts: int) -> None:
        reasons[int(payload.data["n"])] = reason

    async def job(job: JobContext) -> None:
        raise PermanentFailure("the API says: attempted too many times (its own limit)")

    registry.add("tests.told", job, failed=failed)
    vanished = await queue.push("tests.told", {"n": 1})
    await queue.db.execute("t_set_attempts", {"id": vanished, "attempts": 3})
    await queue.push("tests.told", {"n": 2})
    worker = Worker(queue, registry, options(tries=3))
    await run(worker)
    assert set(reasons) == {1, 2}
    assert reasons[1].cut_off and "attempted too many times" in reasons[1]
    assert not reasons[2].cut_off
    assert reasons[2] == "the API says: attempted too many times (its own limit)"


async def test_prepare_runs_once_per_round_before_the_hooks_in_their_transaction(queue: Queue):
    """A job name's ``prepare`` hook sees the payloads of every job of that name the
    round settles (acked, failed, released with a ``retried`` hook), once, before their
    hooks, in the same transaction: what it writes, the hooks read."""
    registry = JobRegistry()
    events: list[tuple[str, Any]] = []
    gate = asyncio.Event()

    @dataclass
    class Prepared:  # what prepare read, for the hooks of the same transaction
        ns: list[int] | None = None

    async def prepare(tx: Tx, payloads: list[Payload]) -> None:
        ns = sorted(int(p.data["n"]) for p in payloads)
        events.append(("prepare", ns))
        tx.state(Prepared).ns = ns

    async def job(job: JobContext) -> None:
        n = int(job.data["n"])
        await gate.wait()  # every job finishes at once: one round settles them all
        if n == 3:
            raise PermanentFailure("three")
        if n == 4 and job.attempts == 1:
            raise RuntimeError("four, once")

        async def hook(tx: Tx) -> None:
            events.append(("success", (n, tx.state(Prepared).ns)))

        job.on_success(hook)

    async def failed(tx: Tx, payload: Payload, reason: FailureReason, attempts: int) -> None:
        events.append(("failed", (int(payload.data["n"]), tx.state(Prepared).ns)))

    async def retried(tx: Tx, payload: Payload, reason: FailureReason, attempts: int) -> None:
        events.append(("retried", (int(payload.data["n"]), tx.state(Prepared).ns)))

    async def other(job: JobContext) -> None:
        async def hook(tx: Tx) -> None:
            events.append(("other", tx.state(Prepared).ns))

        job.on_success(hook)

    registry.add("tests.batched", job, failed=failed, retried=retried, prepare=prepare)
    registry.add("tests.other", other)
    for n in range(1, 5):
        await queue.push("tests.batched", {"n": n})
    worker = Worker(queue, registry, options(concurrency=4, prefetch=0))
    running = asyncio.create_task(worker.run())
    await asyncio.sleep(0.3)  # the four are running, waiting at the gate
    gate.set()
    await asyncio.wait_for(running, 20)
    prepared = [e for e in events if e[0] == "prepare"]
    first_round = prepared[0][1]
    assert first_round == [1, 2, 3, 4], events
    # each hook ran after its round's prepare, seeing what it left in the transaction
    assert ("success", (1, [1, 2, 3, 4])) in events and ("success", (2, [1, 2, 3, 4])) in events
    assert ("failed", (3, [1, 2, 3, 4])) in events
    assert ("retried", (4, [1, 2, 3, 4])) in events
    assert events.index(prepared[0]) == 0
    # the retry of 4 is a round of its own, prepared again with just it
    assert prepared[1:] == [("prepare", [4])] and events[-1] == ("success", (4, [4]))
    await queue.push("tests.other")
    await run(Worker(queue, registry, options()))
    assert events[-1] == ("other", None)  # no prepare hook: nothing prepared


# --- leases: a job running past retry_after is never run twice --------------------------


async def test_the_heartbeat_keeps_a_long_job_from_a_second_worker(queue: Queue, settings):
    """Jobs whose own timeout (10 s) lets them run past retry_after (2 s): the running
    worker's heartbeat keeps the lease, so a second worker polling for lapsed leases
    never takes them. Control: a worker whose heartbeat is disabled loses its jobs."""
    runs: Counter[tuple[str, int]] = Counter()
    started: Counter[str] = Counter()

    def registry_for(label: str) -> JobRegistry:
        registry = JobRegistry()

        @registry.register("tests.long")
        async def long(job: JobContext) -> None:
            runs[(label, job.data["n"])] += 1
            started[label] += 1
            await asyncio.sleep(job.data["sleep"])

        return registry

    for n in range(3):
        await queue.push("tests.long", {"n": n, "sleep": 4.5}, queue="renewed", timeout=10)
    for n in range(10, 12):
        await queue.push("tests.long", {"n": n, "sleep": 4.5}, queue="unrenewed", timeout=10)

    lease = {"timeout": 1.5, "retry_after": 2, "expired_check": 0.2, "sleep": 0.2}
    other_dbs = [await connect(settings) for _ in range(2)]
    try:
        renewed = Worker(
            queue, registry_for("A"), options(queues=("renewed",), concurrency=4, **lease)
        )
        unrenewed_queue = Queue(other_dbs[0], default_queue=Q)

        async def no_renewal(jobs: Any) -> int:
            return 0

        unrenewed_queue.renew = no_renewal  # type: ignore[method-assign]
        # (It does not look for lapsed leases itself, or it would take its own back.)
        unrenewed = Worker(
            unrenewed_queue,
            registry_for("C"),
            options(queues=("unrenewed",), **(lease | {"expired_check": 1000})),
        )
        thief = Worker(
            Queue(other_dbs[1], default_queue=Q),
            registry_for("B"),
            options(queues=("renewed", "unrenewed"), stop_when_empty=False, grace=0, **lease),
        )
        a_task, c_task = renewed.start(), unrenewed.start()
        await wait_for(lambda: started["A"] == 3 and started["C"] == 2, 5, "the jobs to start")
        b_task = thief.start()
        await asyncio.wait_for(asyncio.gather(a_task, c_task), 15)
        await thief.close()
        await b_task
    finally:
        for other in other_dbs:
            await other.close()

    assert all(runs[("A", n)] == 1 for n in range(3))
    assert not any(runs[("B", n)] for n in range(3)), "a job still running was run again"
    assert (renewed.stats.done, renewed.stats.lost) == (3, 0)
    # The control: without a heartbeat the lease lapsed and the second worker took over.
    assert all(runs[("C", n)] == 1 and runs[("B", n)] == 1 for n in range(10, 12)), runs
    assert unrenewed.stats.lost == 2


# --- stopping ---------------------------------------------------------------------------


async def test_stop_lets_running_jobs_finish_within_grace(queue: Queue):
    registry = JobRegistry()
    started: list[int] = []
    finished: list[int] = []

    @registry.register("tests.short")
    async def short(job: JobContext) -> None:
        started.append(job.data["n"])
        await asyncio.sleep(0.6)
        finished.append(job.data["n"])

    for n in range(8):
        await queue.push("tests.short", {"n": n})
    worker = Worker(queue, registry, options(concurrency=4, stop_when_empty=False, grace=5))
    task = worker.start()
    await wait_for(lambda: len(started) == 4, what="four jobs running")
    worker.stop()
    began = time.monotonic()
    await asyncio.wait_for(task, 10)
    assert time.monotonic() - began < 3
    assert sorted(finished) == [0, 1, 2, 3] and sorted(started) == [0, 1, 2, 3]
    assert worker.stats.done == 4
    rows = await job_rows(queue.db)
    assert len(rows) == 4
    assert all(r["attempts"] == 0 and r["reserved_at"] is None for r in rows)


async def test_jobs_running_past_grace_are_cancelled_and_given_back(queue: Queue):
    registry = JobRegistry()
    started: list[int] = []
    cancelled: list[int] = []

    @registry.register("tests.slow")
    async def slow(job: JobContext) -> None:
        started.append(job.data["n"])
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(job.data["n"])
            raise

    for n in range(3):
        await queue.push("tests.slow", {"n": n})
    worker = Worker(queue, registry, options(stop_when_empty=False, grace=0.3))
    task = worker.start()
    await wait_for(lambda: len(started) == 3, what="three jobs running")
    worker.stop()
    began = time.monotonic()
    await asyncio.wait_for(task, 10)
    assert time.monotonic() - began < 2.5
    assert sorted(cancelled) == [0, 1, 2]
    rows = await job_rows(queue.db)
    assert len(rows) == 3
    now = await db_now(queue.db)
    for row in rows:
        assert row["attempts"] == 0, "the interrupted attempt is given back"
        assert row["reserved_at"] is None and row["reserved_by"] is None
        assert row["available_at"] <= now
    assert worker.stats.released == 3 and worker.stats.done == 0


async def test_a_stop_during_a_claim_puts_the_claimed_jobs_back(queue: Queue):
    """stop() arrives while a round that claims jobs is in flight: the jobs it claims
    must not stay reserved by a worker that is gone (they would wait out retry_after
    with an attempt spent); they go back at once, the attempt given back."""
    registry = JobRegistry()
    ran: list[int] = []

    @registry.register("tests.quick")
    async def quick(job: JobContext) -> None:
        ran.append(job.data["n"])

    for n in range(5):
        await queue.push("tests.quick", {"n": n})
    claiming = asyncio.Event()
    real_claim = queue.claim

    async def slow_claim(*args: Any, **kwargs: Any) -> Any:
        claiming.set()
        claimed = await real_claim(*args, **kwargs)
        await asyncio.sleep(0.5)  # the round is still in flight when stop() comes
        return claimed

    queue.claim = slow_claim  # type: ignore[method-assign]
    worker = Worker(queue, registry, options(stop_when_empty=False, retry_after=600, grace=2))
    task = worker.start()
    await asyncio.wait_for(claiming.wait(), 5)
    worker.stop()
    await asyncio.wait_for(task, 10)
    assert ran == [], "no job starts after stop()"
    rows = await job_rows(queue.db)
    assert len(rows) == 5
    held = [r["id"] for r in rows if r["reserved_at"] is not None]
    assert not held, f"jobs {held} stay reserved by the stopped worker"
    assert all(r["attempts"] == 0 for r in rows)


@pytest.mark.parametrize("how", ["run again", "raised"])
async def test_a_round_whose_commit_went_unseen_loses_no_job(
    queue: Queue, how: str, caplog: pytest.LogCaptureFixture
):
    """The database goes away while a round commits: the round's claim and acks landed,
    but the worker saw an error. ``run again``: the connection's retry runs the same
    transaction once more (db.transact); ``raised``: the error reaches the pump, which
    tries the round later. Either way the jobs that round reserved are the worker's, not
    orphans waiting out retry_after (600 s here) with nobody running them; each job
    runs and is acked once, and its attempt is counted once."""
    caplog.set_level(logging.INFO, logger="syncpay.worker")
    registry = JobRegistry()
    runs: Counter[int] = Counter()
    acks: Counter[int] = Counter()
    attempts: dict[int, int] = {}

    @registry.register("tests.count")
    async def count(job: JobContext) -> None:
        n = job.data["n"]
        runs[n] += 1
        attempts[n] = job.attempts
        await asyncio.sleep(0.005)

        async def hook(tx: Tx) -> None:
            tx.after_commit(lambda: acks.update([n]))

        job.on_success(hook)

    total = 60
    await queue.push_many("tests.count", ({"n": n} for n in range(total)))
    db = queue.db
    real_transact = db.transact
    unseen = [0]

    async def transact(fn: Any) -> Any:
        result = await real_transact(fn)
        claimed = isinstance(result, tuple) and len(result) == 2 and result[1]
        if not claimed or unseen[0] >= 4:
            return result
        unseen[0] += 1  # committed; the answer is lost
        if how == "raised":
            raise DatabaseUnavailable("lost connection while committing")
        return await real_transact(fn)

    db.transact = transact  # type: ignore[method-assign]
    try:
        worker = Worker(queue, registry, options(concurrency=4, retry_after=600))
        await run(worker, 60)
    finally:
        del db.transact
    assert unseen[0] == 4
    assert await queue.size() == 0, await job_rows(db)
    assert runs == Counter(range(total)), "every job ran exactly once"
    assert acks == Counter(range(total)), "every job was acked exactly once"
    assert set(attempts.values()) == {1}
    assert await failed_rows(db) == []
    took_back = [r for r in caplog.records if r.message.startswith("Took back")]
    assert len(took_back) == 4 and took_back[0].name == "syncpay.queue"
    # The acks of those rounds landed with their commits: the log says so, not "dropped".
    assert not [r for r in caplog.records if "its result is dropped" in r.message]
    settled = [r for r in caplog.records if "settled by a commit whose answer" in r.message]
    assert len(settled) == worker.stats.lost
    if how == "run again":  # (raised: each unseen round only claimed, the pump waiting a second)
        assert worker.stats.lost > 0


async def test_max_jobs_stops_the_worker(queue: Queue):
    registry = JobRegistry()
    ran: list[int] = []

    @registry.register("tests.one")
    async def one(job: JobContext) -> None:
        ran.append(job.data["n"])

    for n in range(10):
        await queue.push("tests.one", {"n": n})
    worker = Worker(queue, registry, options(max_jobs=3, stop_when_empty=False))
    await run(worker, 10)
    assert sorted(ran) == [0, 1, 2]
    assert "max jobs" in worker.stop_reason
    rows = await job_rows(queue.db)
    assert len(rows) == 7 and all(r["reserved_at"] is None for r in rows)


async def test_stop_when_empty_and_max_time(queue: Queue):
    registry = JobRegistry()
    worker = Worker(queue, registry, options(stop_when_empty=True, sleep=30))
    assert await run(worker, 10) < 2
    assert worker.stop_reason == "queue empty"

    worker = Worker(queue, registry, options(stop_when_empty=False, sleep=30, max_time=0.5))
    elapsed = await run(worker, 10)
    assert 0.4 < elapsed < 3
    assert worker.stop_reason == "max time reached"


async def test_the_restart_signal_stops_the_worker(queue: Queue):
    cache = Cache(queue.db)
    await cache.put(RESTART_KEY, "earlier restart")
    worker = Worker(
        queue, JobRegistry(), options(stop_when_empty=False, sleep=0.1, restart_check=0.1)
    )
    task = worker.start()
    await asyncio.sleep(0.7)
    assert not task.done(), "an old restart mark must not stop a new worker"
    await cache.put(RESTART_KEY, str(time.time()))
    await asyncio.wait_for(task, 5)
    assert "restart" in worker.stop_reason


async def test_cancel_jobs_by_predicate(queue: Queue):
    registry = JobRegistry()
    started: list[int] = []
    cancelled: list[int] = []
    finish = asyncio.Event()

    @registry.register("tests.run")
    async def job(job: JobContext) -> None:
        started.append(job.data["n"])
        if job.data["run"] == 2:
            await finish.wait()
            return
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.append(job.data["n"])
            raise

    ids = {}
    for n in range(5):
        ids[n] = await queue.push("tests.run", {"n": n, "run": 1 if n < 3 else 2})
    worker = Worker(queue, registry, options(stop_when_empty=False, max_jobs=5))
    task = worker.start()
    await wait_for(lambda: len(started) == 5, what="five jobs running")
    assert worker.cancel_jobs(lambda p: p.data["run"] == 1) == 3
    await wait_for(lambda: len(cancelled) == 3, what="three cancellations")

    async def released() -> bool:
        rows = await job_rows(queue.db)
        return sum(1 for r in rows if r["reserved_at"] is None) == 3

    deadline = time.monotonic() + 5
    while not await released():
        assert time.monotonic() < deadline, "cancelled jobs were not put back"
        await asyncio.sleep(0.05)
    assert worker.running == 2
    finish.set()
    await asyncio.wait_for(task, 5)
    rows = await job_rows(queue.db)
    assert sorted(r["id"] for r in rows) == [ids[0], ids[1], ids[2]]
    assert all(r["attempts"] == 0 for r in rows)
    assert worker.stats.done == 2 and worker.stats.released == 3


async def test_cancel_jobs_covers_jobs_claimed_but_not_yet_started(queue: Queue):
    """A worker claims ahead of its free slots. Cancelling a run (its rows deleted,
    then ``cancel_jobs``) must stop those claimed-ahead jobs too: none of them may
    start after the cancel."""
    registry = JobRegistry()
    started: list[int] = []

    @registry.register("tests.blocking")
    async def blocking(job: JobContext) -> None:
        started.append(job.data["n"])
        await asyncio.sleep(30)

    for n in range(4):
        await queue.push("tests.blocking", {"n": n, "run": 1})
    worker = Worker(queue, registry, options(concurrency=1, stop_when_empty=False, grace=1))
    task = worker.start()
    try:
        await wait_for(lambda: started == [0], what="the first job to start")
        await asyncio.sleep(0.3)
        held = [r["id"] for r in await job_rows(queue.db) if r["reserved_by"]]
        assert len(held) >= 2, "the worker claims ahead of its one slot"
        # What the sync's cancel does: delete the run's rows, then stop what runs.
        await queue.clear(Q)
        cancelled = worker.cancel_jobs(lambda p: p.data["run"] == 1)
        await asyncio.sleep(0.5)
        assert started == [0], "a job of the cancelled run started after the cancel"
        assert cancelled == len(held)
    finally:
        worker.stop()
        await asyncio.wait_for(task, 10)
    assert worker.stats.done == 0


async def test_a_push_wakes_a_sleeping_worker(queue: Queue):
    registry = JobRegistry()
    ran = asyncio.Event()

    @registry.register("tests.ping")
    async def ping(job: JobContext) -> None:
        ran.set()

    worker = Worker(queue, registry, options(stop_when_empty=False, sleep=30))
    worker.start()
    try:
        await asyncio.sleep(0.5)  # it found nothing and sleeps for 30 s
        pushed = time.monotonic()
        await queue.push("tests.ping")
        await asyncio.wait_for(ran.wait(), 5)
        assert time.monotonic() - pushed < 1
    finally:
        closing = time.monotonic()
        await asyncio.wait_for(worker.close(), 10)
    assert time.monotonic() - closing < 2
    assert worker.stats.done == 1


# --- on_success writes ------------------------------------------------------------------


async def test_on_success_writes_commit_with_the_ack(queue: Queue):
    registry = JobRegistry()
    seen_in_tx: list[bool] = []

    @registry.register("tests.write")
    async def write(job: JobContext) -> None:
        async def hook(tx: Tx) -> None:
            rows = await tx.fetch_all("t_jobs")
            seen_in_tx.append(any(r["id"] == job.id for r in rows))
            await tx.execute("cache_put", {"key": f"ok:{job.data['n']}", "value": "1", "ttl": 0})

        job.on_success(hook)

    for n in range(3):
        await queue.push("tests.write", {"n": n})
    worker = Worker(queue, registry, options())
    await run(worker)
    assert seen_in_tx == [False, False, False], "the hook runs in the tx that deleted the job"
    assert await cache_values(queue.db) == {"ok:0": "1", "ok:1": "1", "ok:2": "1"}
    assert await job_rows(queue.db) == []


async def test_a_hook_that_raises_turns_the_ack_into_a_failed_attempt(queue: Queue):
    registry = JobRegistry()
    runs: Counter[str] = Counter()
    failed_calls: list[tuple[Any, str, int]] = []

    async def job(job: JobContext) -> None:
        kind = job.data["kind"]
        runs[kind] += 1
        attempt = job.attempts

        async def hook(tx: Tx) -> None:
            key = f"{kind}:{job.data['n']}:{attempt}"
            await tx.execute("cache_put", {"key": key, "value": "written", "ttl": 0})
            if kind == "always" or (kind == "once" and attempt == 1):
                raise RuntimeError(f"hook broke on attempt {attempt}")

        job.on_success(hook)

    registry.add("tests.hooked", job, failed=failure_hook_recorder(failed_calls))
    await queue.push("tests.hooked", {"kind": "once", "n": 0})
    await queue.push("tests.hooked", {"kind": "always", "n": 0})
    for n in range(5):
        await queue.push("tests.hooked", {"kind": "fine", "n": n})
    worker = Worker(queue, registry, options(tries=2, backoff=(0,)))
    await run(worker)

    assert runs == Counter({"once": 2, "always": 2, "fine": 5})
    values = await cache_values(queue.db)
    written = {k for k, v in values.items() if v == "written"}
    # Nothing of a rolled-back hook is left; the others committed with their acks.
    assert written == {"once:0:2"} | {f"fine:{n}:1" for n in range(5)}
    (row,) = await failed_rows(queue.db)
    assert Payload.parse(row["payload"]).data["kind"] == "always"
    assert row["exception"].startswith("RuntimeError: hook broke on attempt 2")
    assert [(reason, n) for _k, reason, n in failed_calls] == [("hook broke on attempt 2", 2)]
    assert await job_rows(queue.db) == []
    assert worker.stats.done == 6 and worker.stats.failed == 1


# --- a job whose settle cannot be written fails alone (#12, item 18) --------------------

_SISWA_QUERIES = {
    "tw_siswa_add": "INSERT INTO siswa (idperson, nama) VALUES (:idperson, :nama)",
    "tw_siswa_gender": "UPDATE siswa SET gender = :gender WHERE idperson = :idperson",
}


def _teach_siswa(db: Database) -> None:
    for name, sql in _SISWA_QUERIES.items():
        db.queries.update(parse_queries(f"-- name: {name}\n{sql}\n", db.placeholder, {}))


async def _settles_in(running: asyncio.Task[None], timeout: float) -> None:
    """Wait for a worker's run; fail (not hang) when its rounds never commit. The
    autouse fixture cancels what is left."""
    try:
        await asyncio.wait_for(asyncio.shield(running), timeout)
    except TimeoutError:
        raise AssertionError(f"the worker's rounds did not commit within {timeout:g}s") from None


def _tracebacks(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.exc_info or r.exc_text]


async def test_a_failure_reason_that_cannot_be_stored_fails_its_job_alone(
    queue: Queue, caplog: pytest.LogCaptureFixture
):
    """An API that cut a string inside an emoji leaves a lone surrogate in the error;
    no database can store it. The round with that job still commits the others, the job
    fails once with a reason that can be stored, and the log has no traceback loop."""
    caplog.set_level(logging.INFO, logger="syncpay")
    registry = JobRegistry()
    failed_calls: list[tuple[Any, str, int]] = []
    gate = asyncio.Event()

    async def mixed(job: JobContext) -> None:
        n = int(job.data["n"])
        await gate.wait()  # all finish together: one round settles them
        if n == 0:
            raise PermanentFailure("bad \ud800 thing")

        async def hook(tx: Tx) -> None:
            await tx.execute("cache_put", {"key": f"ok:{n}", "value": "1", "ttl": 0})

        job.on_success(hook)

    registry.add("tests.mixed", mixed, failed=failure_hook_recorder(failed_calls))
    for n in range(6):
        await queue.push("tests.mixed", {"n": n})
    worker = Worker(queue, registry, options(tries=3))
    running = asyncio.create_task(worker.run())
    await asyncio.sleep(0.3)
    gate.set()
    await _settles_in(running, 10)

    assert await job_rows(queue.db) == []
    values = await cache_values(queue.db)
    assert {k for k in values if k.startswith("ok:")} == {f"ok:{n}" for n in range(1, 6)}
    (row,) = await failed_rows(queue.db)
    assert row["exception"].startswith("PermanentFailure: bad \ufffd thing")
    assert failed_calls == [(0, "bad \ufffd thing", 1)], "counted once, with a storable reason"
    assert (worker.stats.done, worker.stats.failed) == (5, 1)
    assert _tracebacks(caplog) == []


async def test_a_result_the_database_refuses_fails_with_a_reason_a_person_can_read(
    queue: Queue, caplog: pytest.LogCaptureFixture
):
    """A success write the database refuses (a CHECK constraint) is a failed attempt of
    that job alone; the others commit, and the reason names what was refused in words,
    not as the driver's ``(4025, 'CONSTRAINT …')``. One log line per attempt."""
    caplog.set_level(logging.INFO, logger="syncpay")
    _teach_siswa(queue.db)
    await queue.db.execute("tw_siswa_add", {"idperson": "S1", "nama": "Siti"})
    registry = JobRegistry()
    failed_calls: list[tuple[Any, str, int]] = []

    async def store(job: JobContext) -> None:
        n = int(job.data["n"])

        async def hook(tx: Tx) -> None:
            await tx.execute("cache_put", {"key": f"ok:{n}", "value": "1", "ttl": 0})
            if n == 0:  # a value the table's CHECK refuses
                await tx.execute("tw_siswa_gender", {"idperson": "S1", "gender": "X"})

        job.on_success(hook)

    registry.add("tests.store", store, failed=failure_hook_recorder(failed_calls))
    for n in range(4):
        await queue.push("tests.store", {"n": n})
    worker = Worker(queue, registry, options(tries=2, backoff=(0,)))
    await _settles_in(asyncio.create_task(worker.run()), 10)

    assert await job_rows(queue.db) == []
    values = await cache_values(queue.db)
    assert {k for k in values if k.startswith("ok:")} == {"ok:1", "ok:2", "ok:3"}
    (row,) = await failed_rows(queue.db)
    first_line = row["exception"].splitlines()[0]
    ((n, reason, attempts),) = failed_calls
    assert (n, attempts) == (0, 2)
    assert reason.startswith("the result could not be stored: the database refused it (CHECK ")
    assert "gender" in reason, reason
    assert "4025" not in reason and "CONSTRAINT" not in reason, reason
    assert first_line.endswith(reason), first_line
    assert (worker.stats.done, worker.stats.failed) == (3, 1)
    assert _tracebacks(caplog) == []
    refused = [r for r in caplog.records if "could not be stored" in r.getMessage()]
    assert len(refused) == 2, [r.getMessage() for r in refused]  # one line per attempt


async def test_a_failure_hook_whose_own_write_cannot_be_stored_still_fails_the_job_alone(
    queue: Queue, caplog: pytest.LogCaptureFixture
):
    """The failure hook writes text of its own that no database can store: the job is
    failed without the hook's writes (one log line, no traceback), the others commit."""
    caplog.set_level(logging.INFO, logger="syncpay")
    registry = JobRegistry()
    gate = asyncio.Event()

    async def failed(tx: Tx, payload: Payload, reason: str, attempts: int) -> None:
        text = f"note {chr(0xD800)}"  # a lone surrogate: no database can store it
        await tx.execute("cache_put", {"key": "note", "value": text, "ttl": 0})

    async def job(job: JobContext) -> None:
        n = int(job.data["n"])
        await gate.wait()
        if n == 0:
            raise PermanentFailure("gone")

        async def hook(tx: Tx) -> None:
            await tx.execute("cache_put", {"key": f"ok:{n}", "value": "1", "ttl": 0})

        job.on_success(hook)

    registry.add("tests.noted", job, failed=failed)
    for n in range(4):
        await queue.push("tests.noted", {"n": n})
    worker = Worker(queue, registry, options())
    running = asyncio.create_task(worker.run())
    await asyncio.sleep(0.3)
    gate.set()
    await _settles_in(running, 10)

    assert await job_rows(queue.db) == []
    assert await cache_values(queue.db) == {"ok:1": "1", "ok:2": "1", "ok:3": "1"}
    (row,) = await failed_rows(queue.db)
    assert row["exception"].startswith("PermanentFailure: gone")
    assert (worker.stats.done, worker.stats.failed) == (3, 1)
    assert _tracebacks(caplog) == []
    without = [r for r in caplog.records if "settling it without them" in r.getMessage()]
    assert len(without) == 1


class _RefusingQueue(Queue):
    """A queue whose move to ``failed_jobs`` is refused for some reasons (as a database
    refuses a text it cannot store): ``refuse(reason)`` decides."""

    def __init__(self, db: Database, refuse: Any) -> None:
        super().__init__(db, default_queue=Q)
        self.refuse = refuse

    async def fail(self, tx: Tx, items: Any) -> set[int]:
        for item in items:
            if self.refuse(item.exception):
                raise UnicodeEncodeError("utf-8", item.exception, 0, 1, "refused by the test")
        return await super().fail(tx, items)


@pytest.mark.parametrize("always", [False, True])
async def test_a_failure_that_cannot_be_moved_gets_a_fixed_reason_or_waits_for_its_lease(
    queue: Queue, caplog: pytest.LogCaptureFixture, always: bool
):
    """The last steps of the fallback: the job's own reason refused → the fixed reason;
    that refused too → the job is left to its lease with one error line. Either way the
    other jobs of the round commit and the worker never loops."""
    from syncpay.queue.rounds import UNSTORABLE_REASON

    caplog.set_level(logging.INFO, logger="syncpay")
    refusing = _RefusingQueue(queue.db, lambda text: always or text != UNSTORABLE_REASON)
    registry = JobRegistry()
    gate = asyncio.Event()

    async def job(job: JobContext) -> None:
        n = int(job.data["n"])
        await gate.wait()
        if n == 0:
            raise PermanentFailure("gone")

        async def hook(tx: Tx) -> None:
            await tx.execute("cache_put", {"key": f"ok:{n}", "value": "1", "ttl": 0})

        job.on_success(hook)

    registry.add("tests.refused", job)
    for n in range(3):
        await refusing.push("tests.refused", {"n": n})
    worker = Worker(refusing, registry, options())
    running = asyncio.create_task(worker.run())
    await asyncio.sleep(0.3)
    gate.set()
    await _settles_in(running, 10)

    assert await cache_values(queue.db) == {"ok:1": "1", "ok:2": "1"}
    assert _tracebacks(caplog) == []
    failed = await failed_rows(queue.db)
    left = await job_rows(queue.db)
    if always:
        assert failed == [] and len(left) == 1 and left[0]["reserved_at"] is not None
        assert (worker.stats.done, worker.stats.failed, worker.stats.lost) == (2, 0, 1)
        errors = [r for r in caplog.records if "left to its lease" in r.getMessage()]
        assert len(errors) == 1
    else:
        assert [row["exception"] for row in failed] == [UNSTORABLE_REASON] and left == []
        assert (worker.stats.done, worker.stats.failed) == (2, 1)


async def test_an_outcome_waits_for_the_round_writing_its_jobs_start(queue: Queue) -> None:
    """A job claimed ahead has its start written by the next round (count_started
    updates its row). If it finishes while that round is in flight, a second round
    settling it beside would wait on the row's lock for the first one's COMMIT (with its
    claim, so the slots starve): its outcome goes with a round after the first, and the
    others of the outbox do not wait."""
    from syncpay.queue.pool import Outcome
    from syncpay.queue.queue import ClaimedJob

    worker = Worker(queue, JobRegistry(), options(concurrency=3))

    def outcome(job_id: int) -> Outcome:
        return Outcome(ClaimedJob(job_id, Q, 1, f"t{job_id}", "{}"), "ack")

    worker._outbox = [outcome(1), outcome(2), outcome(3)]
    worker._starting = {2}  # a round in flight writes job 2's start
    assert not worker._worth_a_round()  # two of three ready: not the 3 slots' worth
    assert [o.job.id for o in worker._outcomes_for_a_round()] == [1, 3]
    assert [o.job.id for o in worker._outbox] == [2]
    worker._starting = set()  # that round ended
    assert [o.job.id for o in worker._outcomes_for_a_round()] == [2]
    assert worker._outbox == []
