"""The queue's verbs on both databases: push, claim, ack, fail, release, renew, stats."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import pytest

from syncpay.db import Database, Tx, connect
from syncpay.queue import (
    FailedJobs,
    JobRegistry,
    Payload,
    Queue,
    UnknownFailedJob,
    Worker,
    WorkerOptions,
)
from syncpay.queue.errors import describe_exception
from syncpay.queue.queue import ClaimedJob, FailedItem
from tests.conftest import mysql_connect
from tests.jobs import add_test_queries, db_now, failed_rows, job_rows

Q = "default"


@pytest.fixture
def queue(db: Database) -> Queue:
    add_test_queries(db)
    return Queue(db, default_queue=Q)


async def claim(
    queue: Queue,
    queues: tuple[str, ...] = (Q,),
    limit: int = 1,
    worker: str = "w1",
    *,
    retry_after: int = 60,
    expired: bool = True,
) -> list[ClaimedJob]:
    return await queue.db.transact(
        lambda tx: queue.claim(tx, queues, limit, worker, retry_after=retry_after, expired=expired)
    )


async def row_of(db: Database, job_id: int) -> dict[str, Any] | None:
    return next((r for r in await job_rows(db) if r["id"] == job_id), None)


def data_of(job: ClaimedJob) -> dict[str, Any]:
    return Payload.parse(job.raw_payload).data


# --- push, claim, ack -------------------------------------------------------------------


async def test_push_claim_ack(queue: Queue):
    job_id = await queue.push("tests.x", {"n": 1})
    assert await queue.size() == 1
    (job,) = await claim(queue)
    assert job.id == job_id and job.queue == Q and job.attempts == 1
    assert job.token == f"w1.{job_id}.1"
    assert data_of(job) == {"n": 1}
    row = await row_of(queue.db, job_id)
    assert row is not None
    assert row["attempts"] == 1 and row["reserved_by"] == job.token
    assert row["reserved_at"] is not None and abs(row["reserved_at"] - time.time()) < 5
    # Reserved: nobody else gets it.
    assert await claim(queue, worker="w2") == []
    held = await queue.db.transact(lambda tx: queue.ack(tx, [job]))
    assert held == {job_id}
    assert await queue.size() == 0
    assert await job_rows(queue.db) == []
    # A second ack of the same job holds nothing.
    assert await queue.db.transact(lambda tx: queue.ack(tx, [job])) == set()


async def test_payload_is_laravel_shaped_json(queue: Queue):
    job_id = await queue.push(
        "tests.x", {"n": 1, "nama": "Siti Ä"}, max_tries=5, timeout=30, backoff=[1, 2]
    )
    other = await queue.push("tests.y")
    rows = {r["id"]: r for r in await job_rows(queue.db)}
    payload = json.loads(rows[job_id]["payload"])
    assert set(payload) >= {"uuid", "displayName", "job", "maxTries", "timeout", "backoff", "data"}
    assert uuid.UUID(payload["uuid"]).version == 4
    assert payload["job"] == "tests.x" and payload["displayName"] == "tests.x"
    assert payload["maxTries"] == 5 and payload["timeout"] == 30 and payload["backoff"] == [1, 2]
    assert payload["data"] == {"n": 1, "nama": "Siti Ä"}
    parsed = Payload.parse(rows[job_id]["payload"])
    assert (parsed.max_tries, parsed.timeout, parsed.backoff) == (5, 30.0, (1, 2))
    plain = json.loads(rows[other]["payload"])
    assert plain["data"] == {} and plain["maxTries"] is None and plain["backoff"] is None
    assert plain["uuid"] != payload["uuid"]
    assert rows[job_id]["attempts"] == 0 and rows[job_id]["reserved_at"] is None
    assert rows[job_id]["queue"] == Q


class _RecordingTx:
    """Wraps a Tx, recording multi-row inserts."""

    def __init__(self, tx: Tx, log: list[int]) -> None:
        self._tx, self._log = tx, log

    async def insert_many(self, name: str, rows: Any) -> int:
        self._log.append(len(rows))
        return await self._tx.insert_many(name, rows)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tx, name)


async def test_push_many_is_one_chunked_transaction(queue: Queue, monkeypatch):
    db = queue.db
    transactions: list[int] = []
    inserts: list[int] = []
    real_transact = db.transact

    async def transact(fn):
        transactions.append(1)
        return await real_transact(lambda tx: fn(_RecordingTx(tx, inserts)))

    monkeypatch.setattr(db, "transact", transact)
    items = ({"n": n} for n in range(10_000))
    assert await queue.push_many("tests.x", items, chunk=3000, max_tries=4) == 10_000
    monkeypatch.undo()
    assert len(transactions) == 1
    assert inserts == [3000, 3000, 3000, 1000]
    rows = await job_rows(db)
    assert len(rows) == 10_000
    assert sorted(json.loads(r["payload"])["data"]["n"] for r in rows) == list(range(10_000))
    assert len({json.loads(r["payload"])["uuid"] for r in rows}) == 10_000
    payload = json.loads(rows[0]["payload"])
    assert payload["job"] == "tests.x" and payload["maxTries"] == 4
    assert all(r["queue"] == Q and r["attempts"] == 0 for r in rows)


async def test_push_many_is_all_or_nothing(queue: Queue):
    def jobs():
        for n in range(2500):
            if n == 2200:
                raise RuntimeError("generator broke")
            yield {"n": n}

    with pytest.raises(RuntimeError, match="generator broke"):
        await queue.push_many("tests.x", jobs(), chunk=1000)
    assert await queue.size() == 0


async def test_push_inside_a_callers_transaction(queue: Queue):
    async def work(tx: Tx) -> None:
        await queue.push("tests.x", {"n": 1}, tx=tx)
        await queue.push_many("tests.x", [{"n": 2}], tx=tx)
        raise ValueError("roll back")

    with pytest.raises(ValueError):
        await queue.db.transact(work)
    assert await queue.size() == 0


async def test_a_delayed_job_is_not_claimed_before_it_is_due(queue: Queue):
    later = await queue.push("tests.x", {"n": "later"}, delay=2)
    now = await queue.push("tests.x", {"n": "now"})
    row = await row_of(queue.db, later)
    assert row is not None and row["available_at"] - row["created_at"] == 2
    jobs = await claim(queue, limit=10)
    assert [j.id for j in jobs] == [now]
    started = time.monotonic()
    got: list[ClaimedJob] = []
    while not got and time.monotonic() - started < 4:
        got = await claim(queue, limit=10)
        if not got:
            await asyncio.sleep(0.1)
    assert [j.id for j in got] == [later]
    assert 0.5 < time.monotonic() - started <= 3.2


async def test_named_queues_in_priority_order(queue: Queue):
    ids: dict[str, list[int]] = {"high": [], "low": []}
    for n in range(3):
        ids["low"].append(await queue.push("tests.x", {"n": n}, queue="low"))
        ids["high"].append(await queue.push("tests.x", {"n": n}, queue="high"))
    other = await queue.push("tests.x", queue="other")

    order = [(await claim(queue, ("high", "low")))[0].id for _ in range(4)]
    assert order == [*ids["high"], ids["low"][0]]
    # Several at once: the first queue empties, the next fills the rest.
    await queue.push("tests.x", queue="high")
    rest = await claim(queue, ("high", "low"), limit=10)
    assert [j.queue for j in rest] == ["high", "low", "low"]
    assert await claim(queue, ("high", "low"), limit=10) == []
    (job,) = await claim(queue, ("other",), limit=10)
    assert job.id == other and job.queue == "other"


async def test_sort_key_orders_within_a_queue(queue: Queue):
    late = await queue.push("tests.x", sort_key=5)
    early = await queue.push("tests.x", sort_key=1)
    middle = await queue.push("tests.x", sort_key=3)
    assert [j.id for j in await claim(queue, limit=3)] == [early, middle, late]


async def test_push_many_sort_steps_interleave_two_batches(queue: Queue):
    await queue.push_many("tests.x", ({"b": "first", "n": n} for n in range(3)), sort_step=2)
    await queue.push_many(
        "tests.x", ({"b": "second", "n": n} for n in range(3)), sort_key=1, sort_step=2
    )
    jobs = await claim(queue, limit=6)
    assert [(data_of(j)["b"], data_of(j)["n"]) for j in jobs] == [
        ("first", 0),
        ("second", 0),
        ("first", 1),
        ("second", 1),
        ("first", 2),
        ("second", 2),
    ]


async def test_push_many_with_a_unique_key_keeps_one_queued_job_per_key(queue: Queue):
    def key(item):
        return f"siswa:{item['n']}"

    await queue.push_many("tests.x", ({"n": n} for n in range(3)), sort_key=10, unique_key=key)
    await queue.push_many("tests.x", ({"n": n} for n in range(2, 5)), sort_key=5, unique_key=key)
    await queue.push_many("tests.x", [{"n": 4}], sort_key=50, unique_key=key)
    rows = await job_rows(queue.db)
    by_n = {json.loads(r["payload"])["data"]["n"]: r for r in rows}
    assert sorted(by_n) == [0, 1, 2, 3, 4] and len(rows) == 5
    # A second push of a queued key moves it forward to the lower sort key only.
    assert {n: r["sort_key"] for n, r in by_n.items()} == {0: 10, 1: 10, 2: 5, 3: 5, 4: 5}
    # Once done, the key is free again.
    jobs = await claim(queue, limit=10)
    await queue.db.transact(lambda tx: queue.ack(tx, jobs))
    await queue.push_many("tests.x", [{"n": 2}], unique_key=key)
    assert await queue.size() == 1


#: Text that a hand-made SQL literal could get wrong: quotes, backslashes, what a
#: driver reads as a placeholder, control characters, NUL, 4-byte UTF-8.
AWKWARD = "it's \\ a \"test\" 100% %s %(x)s ? :name \x00\x1a\n\r\t ü 中文 😀 \u2028 '; --"


async def test_push_many_stores_every_character_of_its_data_and_keys(queue: Queue):
    """MySQL writes the rows of a bulk push as SQL text (issue #16): data and unique keys
    come back exactly, quoted text or hex."""
    items = [
        {"n": 0, "s": AWKWARD},
        {"n": 1, "s": "Siti Ä 😀 plain"},  # nothing to escape: quoted as it is
        {"n": 2, "s": ""},
        {"n": 3, "s": "\\"},
    ]
    keys = {0: AWKWARD, 1: "plain 😀", 2: "k'2", 3: "k\\3"}
    count = await queue.push_many(
        "tests.x", items, unique_key=lambda item: keys[item["n"]], sort_key=-(2**62), sort_step=3
    )
    assert count == 4
    rows = await job_rows(queue.db)
    assert [json.loads(r["payload"])["data"] for r in rows] == items
    assert [r["unique_key"] for r in rows] == [keys[n] for n in range(4)]
    assert [r["sort_key"] for r in rows] == [-(2**62) + 3 * n for n in range(4)]
    assert all(r["queue"] == Q and r["attempts"] == 0 for r in rows)
    # The same keys again: found (no new row), each moved to the lower sort key.
    await queue.push_many(
        "tests.x", items, unique_key=lambda item: keys[item["n"]], sort_key=-(2**63)
    )
    again = await job_rows(queue.db)
    assert [r["id"] for r in again] == [r["id"] for r in rows]
    assert [r["sort_key"] for r in again] == [-(2**63)] * 4
    assert [json.loads(r["payload"])["data"] for r in again] == items  # the queued job stays


async def test_push_many_keeps_the_lowest_sort_key_per_key_within_and_across_chunks(queue: Queue):
    """2,500 items over 1,000 keys in chunks of 1,000 (the MySQL statement's size too):
    a key met again in the same statement or a later one keeps its first job and the
    lowest sort key of all its pushes."""
    count = await queue.push_many(
        "tests.x",
        ({"n": n} for n in range(2500)),
        unique_key=lambda item: f"k{item['n'] % 1000}",
        sort_key=5000,
        sort_step=-2,
        chunk=1000,
    )
    assert count == 2500
    rows = await job_rows(queue.db)
    assert len(rows) == 1000
    by_key = {r["unique_key"]: r for r in rows}
    for k in range(1000):
        row = by_key[f"k{k}"]
        last = k + 2000 if k < 500 else k + 1000  # the last n with n % 1000 == k
        assert row["sort_key"] == 5000 - 2 * last
        assert json.loads(row["payload"])["data"] == {"n": k}


async def test_push_many_of_big_jobs_is_cut_to_the_servers_packet_size(queue: Queue):
    """24 jobs of 400 kB with a backslash each (MySQL writes them in hex: 19 MB, more than
    MariaDB's max_allowed_packet of 16 MiB in one statement) land in one push."""
    big = "x\\" * 200_000
    assert await queue.push_many("tests.x", ({"n": n, "big": big} for n in range(24))) == 24
    rows = await job_rows(queue.db)
    assert [json.loads(r["payload"])["data"]["n"] for r in rows] == list(range(24))
    assert all(json.loads(r["payload"])["data"]["big"] == big for r in rows)


async def test_push_many_stays_whole_when_its_transaction_runs_again(queue: Queue, db_kind):
    """A connection lost in the middle of a push (killed by the server here) makes
    ``transact`` run the push again: from the first item, also for a generator (it had
    committed 500 of 2,500 jobs). A real fault, so MariaDB only."""
    if db_kind != "mysql":
        pytest.skip("a MariaDB connection killed mid-transaction")
    database = queue.db.database  # type: ignore[attr-defined]
    killed: list[int] = []

    def items():
        for n in range(2500):
            if n == 1500 and not killed:  # the first 1,000 are inserted, not committed
                conn = mysql_connect()
                with conn.cursor() as cursor:
                    # This test's database only: the server is shared with other runs.
                    cursor.execute(
                        "SELECT t.trx_mysql_thread_id FROM information_schema.INNODB_TRX t "
                        "JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id "
                        "WHERE t.trx_rows_modified > 0 AND p.DB = %s",
                        (database,),
                    )
                    killed.extend(row[0] for row in cursor.fetchall())
                    for thread in killed:
                        cursor.execute(f"KILL CONNECTION {int(thread)}")
                conn.close()
            yield {"n": n}

    assert await queue.push_many("tests.x", items()) == 2500
    assert len(killed) == 1
    rows = await job_rows(queue.db)
    assert sorted(json.loads(r["payload"])["data"]["n"] for r in rows) == list(range(2500))


async def test_claim_several_at_once(queue: Queue):
    ids = [await queue.push("tests.x", {"n": n}) for n in range(5)]
    first = await claim(queue, limit=3)
    assert [j.id for j in first] == ids[:3]
    assert all(j.attempts == 1 and j.token == f"w1.{j.id}.1" for j in first)
    second = await claim(queue, limit=10, worker="w2")
    assert [j.id for j in second] == ids[3:]
    assert await claim(queue, limit=10) == []
    rows = await job_rows(queue.db)
    assert [r["reserved_by"] for r in rows] == [j.token for j in first + second]


async def test_concurrent_claimers_never_get_the_same_job(queue: Queue, settings):
    total = 300
    await queue.push_many("tests.x", ({"n": n} for n in range(total)))
    extra = [await connect(settings) for _ in range(2)]
    queues = [queue, *(Queue(d, default_queue=Q) for d in extra)]
    taken: list[tuple[str, int]] = []

    async def claimer(index: int) -> None:
        q = queues[index % len(queues)]
        while True:
            jobs = await claim(q, limit=7, worker=f"c{index}")
            if not jobs:
                return
            taken.extend((f"c{index}", j.id) for j in jobs)
            await asyncio.sleep(0)

    try:
        await asyncio.gather(*(claimer(i) for i in range(12)))
    finally:
        for d in extra:
            await d.close()
    ids = [job_id for _worker, job_id in taken]
    assert len(ids) == len(set(ids)), "a job was claimed twice"
    assert len(ids) == total
    rows = await job_rows(queue.db)
    owner = dict((job_id, worker) for worker, job_id in taken)
    assert all(r["attempts"] == 1 for r in rows)
    assert all(r["reserved_by"] == f"{owner[r['id']]}.{r['id']}.1" for r in rows)
    assert len({w for w, _ in taken}) > 1


# --- leases and fences ------------------------------------------------------------------


async def test_a_lapsed_lease_is_fenced(queue: Queue):
    job_id = await queue.push("tests.x")
    (mine,) = await claim(queue, retry_after=1)
    # Without expired, a reserved job is never taken.
    await asyncio.sleep(2.0)
    assert await claim(queue, worker="w2", retry_after=1, expired=False) == []
    (theirs,) = await claim(queue, worker="w2", retry_after=1)
    assert theirs.id == job_id and theirs.attempts == 2 and theirs.token == f"w2.{job_id}.2"
    before = await row_of(queue.db, job_id)

    db = queue.db
    assert await db.transact(lambda tx: queue.ack(tx, [mine])) == set()
    assert await db.transact(lambda tx: queue.fail(tx, [FailedItem(mine, "E")])) == set()
    assert await db.transact(lambda tx: queue.release(tx, mine, 0)) is False
    assert await db.transact(lambda tx: queue.release(tx, mine, 0, count_attempt=False)) is False
    assert await queue.renew([mine]) == 0
    assert await row_of(db, job_id) == before
    assert await failed_rows(db) == []

    assert await db.transact(lambda tx: queue.ack(tx, [theirs])) == {job_id}


async def test_an_attempt_cut_off_by_its_worker_is_counted_apart(queue: Queue):
    """A lapsed lease whose attempt had started was cut off (its worker stopped mid-job):
    the next claim counts it in ``cut_offs``, so it is not one of the job's tries. A job
    held ahead that never started was not cut off (and spent no attempt)."""
    started_id = await queue.push("tests.x", {"n": 1})
    ahead_id = await queue.push("tests.x", {"n": 2})
    first = await queue.db.transact(
        lambda tx: queue.claim(tx, (Q,), 2, "w1", retry_after=1, start_now=1)
    )
    assert [(j.id, j.ahead, j.cut_offs) for j in first] == [
        (started_id, False, 0),
        (ahead_id, True, 0),
    ]
    await asyncio.sleep(2.0)  # w1 vanished: both leases lapse
    again = {j.id: j for j in await claim(queue, limit=2, worker="w2", retry_after=1)}
    assert (again[started_id].attempts, again[started_id].cut_offs) == (2, 1)
    assert again[started_id].tries == 1
    assert (again[ahead_id].attempts, again[ahead_id].cut_offs) == (1, 0)
    rows = {r["id"]: r for r in await job_rows(queue.db)}
    assert (rows[started_id]["attempts"], rows[started_id]["cut_offs"]) == (2, 1)
    assert (rows[ahead_id]["attempts"], rows[ahead_id]["cut_offs"]) == (1, 0)
    # Released after a failed try: the next claim is no cut-off.
    assert await queue.db.transact(lambda tx: queue.release(tx, again[started_id], 0))
    (third,) = await claim(queue, worker="w3", retry_after=60)
    assert (third.id, third.attempts, third.cut_offs, third.tries) == (started_id, 3, 1, 2)


async def test_renew_returns_how_many_leases_are_still_held(queue: Queue):
    for _ in range(3):
        await queue.push("tests.x")
    first, second, third = await claim(queue, limit=3)
    # Renewed in the same second as the claim: the lease is held all the same.
    assert await queue.renew([first, second]) == 2
    assert await queue.db.transact(lambda tx: queue.ack(tx, [third])) == {third.id}
    assert await queue.renew([first, second, third]) == 2


async def test_renew_keeps_a_lease_alive_past_retry_after(queue: Queue):
    renewed_id = await queue.push("tests.x", {"n": "renewed"})
    lapsed_id = await queue.push("tests.x", {"n": "lapsed"})
    renewed, lapsed = await claim(queue, limit=2)
    first = (await row_of(queue.db, renewed_id) or {})["reserved_at"]
    started = time.monotonic()
    while time.monotonic() - started < 2.6:
        await queue.renew([renewed])
        assert renewed_id not in [j.id for j in await claim(queue, worker="w2", retry_after=2)]
        await asyncio.sleep(0.3)
    row = await row_of(queue.db, renewed_id)
    assert row is not None and row["reserved_at"] >= first + 2
    assert row["reserved_by"] == renewed.token and row["attempts"] == 1
    # The job that was not renewed lapsed meanwhile and went to the other worker.
    lapsed_row = await row_of(queue.db, lapsed_id)
    assert lapsed_row is not None and lapsed_row["reserved_by"] == f"w2.{lapsed_id}.2"
    assert await queue.renew([lapsed]) == 0


# --- release and backoff ----------------------------------------------------------------


def test_backoff_takes_the_nth_value_then_the_last():
    options = WorkerOptions(backoff=(1, 5, 10))
    assert [options.delay_for(n, None) for n in range(1, 6)] == [1, 5, 10, 10, 10]
    assert [options.delay_for(n, (3,)) for n in range(1, 4)] == [3, 3, 3]
    assert [options.delay_for(n, (0, 7)) for n in range(1, 4)] == [0, 7, 7]
    assert WorkerOptions(backoff=()).delay_for(2, None) == 0


def test_worker_options_refuse_retry_after_not_above_timeout():
    with pytest.raises(ValueError, match="retry_after"):
        WorkerOptions(timeout=10, retry_after=10)
    with pytest.raises(ValueError, match="concurrency"):
        WorkerOptions(concurrency=0)


async def test_a_claim_run_again_after_an_unseen_commit_adopts_what_it_reserved(queue: Queue):
    """The connection is lost while a claim commits: the claim ran, but its caller does
    not know. Run again under the same tag with ``adopt``, it returns the jobs it
    reserved, tokens and ahead flags as they were, and takes nothing more; and a job's
    start counted twice (the same transaction run again) is written once."""
    ids = [await queue.push("tests.x", {"n": n}) for n in range(6)]

    def claim_as(tag: str, adopt: bool) -> Any:
        return lambda tx: queue.claim(tx, (Q,), 4, tag, retry_after=60, start_now=2, adopt=adopt)

    first = await queue.db.transact(claim_as("w1-7", adopt=False))
    again = await queue.db.transact(claim_as("w1-7", adopt=True))
    assert again == first
    assert [j.id for j in first] == ids[:4]
    assert [(j.attempts, j.ahead) for j in first] == [(1, False)] * 2 + [(1, True)] * 2
    # Another round's tag adopts nothing of these and claims the rest as usual.
    other = await queue.db.transact(claim_as("w1-8", adopt=True))
    assert [j.id for j in other] == ids[4:]
    started = [j for j in first if j.ahead]
    for _ in range(2):
        await queue.db.transact(lambda tx: queue.count_started(tx, started))
    rows = {r["id"]: r for r in await job_rows(queue.db)}
    assert [rows[i]["attempts"] for i in ids[:4]] == [1, 1, 1, 1]
    held = await queue.db.transact(lambda tx: queue.ack(tx, first))
    assert held == set(ids[:4])


async def test_release_with_delay(queue: Queue):
    job_id = await queue.push("tests.x")
    (job,) = await claim(queue)
    assert await queue.db.transact(lambda tx: queue.release(tx, job, 30)) is True
    row = await row_of(queue.db, job_id)
    assert row is not None
    assert row["reserved_at"] is None and row["reserved_by"] is None and row["attempts"] == 1
    assert 29 <= row["available_at"] - await db_now(queue.db) <= 30
    assert await claim(queue) == []
    # The old token no longer holds it.
    assert await queue.db.transact(lambda tx: queue.release(tx, job, 0)) is False


async def test_release_without_counting_the_attempt(queue: Queue):
    job_id = await queue.push("tests.x")
    (job,) = await claim(queue)
    assert job.attempts == 1
    assert await queue.db.transact(lambda tx: queue.release(tx, job, 0, count_attempt=False))
    assert (await row_of(queue.db, job_id) or {})["attempts"] == 0
    (again,) = await claim(queue)
    assert again.attempts == 1 and again.token == f"w1.{job_id}.1"
    assert await queue.db.transact(lambda tx: queue.release(tx, again, 0)) is True
    (third,) = await claim(queue)
    assert third.attempts == 2


async def test_the_worker_releases_with_the_backoff_list(queue: Queue):
    registry = JobRegistry()
    runs: list[int] = []

    @registry.register("tests.flaky")
    async def flaky(job):
        runs.append(job.attempts)
        raise RuntimeError(f"attempt {job.attempts}")

    job_id = await queue.push("tests.flaky", queue="b")
    options = WorkerOptions(
        queues=("b",),
        tries=5,
        timeout=5,
        retry_after=10,
        backoff=(0, 30, 60),
        sleep=0.1,
        stop_when_empty=True,
    )
    worker = Worker(queue, registry, options)
    await asyncio.wait_for(worker.run(), 20)
    # Attempt 1 waited 0 s (ran again at once); attempt 2 waits 30 s.
    assert runs == [1, 2]
    row = await row_of(queue.db, job_id)
    assert row is not None and row["attempts"] == 2 and row["reserved_at"] is None
    assert 29 <= row["available_at"] - await db_now(queue.db) <= 30
    assert worker.stats.released == 2 and worker.stats.failed == 0

    # A payload's own backoff wins over the worker's.
    other = await queue.push("tests.flaky", queue="b", backoff=[0, 0, 7])
    runs.clear()
    worker = Worker(queue, registry, options)
    await asyncio.wait_for(worker.run(), 20)
    assert runs == [1, 2, 3]
    row = await row_of(queue.db, other)
    assert row is not None and row["attempts"] == 3
    assert 6 <= row["available_at"] - await db_now(queue.db) <= 7


# --- failing ----------------------------------------------------------------------------


def _raise_inner() -> None:
    raise ValueError("the inner reason")


async def _failed(queue: Queue, queue_name: str = Q, data: dict[str, Any] | None = None):
    job_id = await queue.push("tests.x", data or {}, queue=queue_name)
    (job,) = await claim(queue, (queue_name,))
    try:
        _raise_inner()
    except ValueError as exc:
        reason = describe_exception(exc)
    assert await queue.db.transact(lambda tx: queue.fail(tx, [FailedItem(job, reason)])) == {job_id}
    return job


async def test_fail_moves_the_job_to_failed_jobs_with_its_traceback(queue: Queue):
    job = await _failed(queue, data={"n": 7})
    assert await job_rows(queue.db) == []
    (row,) = await failed_rows(queue.db)
    assert row["uuid"] == Payload.parse(job.raw_payload).uuid
    assert row["connection"] == "database" and row["queue"] == Q
    assert row["payload"] == job.raw_payload
    exception = row["exception"]
    assert exception.startswith("ValueError: the inner reason\n")
    assert "Traceback (most recent call last)" in exception and "_raise_inner" in exception
    assert row["failed_at"] is not None


async def test_fail_is_one_transaction_with_the_callers_writes(queue: Queue):
    job_id = await queue.push("tests.x")
    (job,) = await claim(queue)

    async def work(tx: Tx) -> None:
        await queue.fail(tx, [FailedItem(job, "E")])
        raise RuntimeError("caller broke")

    with pytest.raises(RuntimeError):
        await queue.db.transact(work)
    assert await failed_rows(queue.db) == []
    row = await row_of(queue.db, job_id)
    assert row is not None and row["reserved_by"] == job.token


async def test_failed_jobs_retry_forget_flush(queue: Queue):
    failed = FailedJobs(queue)
    jobs = [await _failed(queue, "a", {"n": n}) for n in range(3)]
    other = await _failed(queue, "b", {"n": 9})
    listed = await failed.all()
    assert [f.queue for f in listed] == ["a", "a", "a", "b"]
    assert listed[0].reason == "ValueError: the inner reason"
    assert listed[0].job_name == "tests.x"

    # Retry one by id: back in jobs with attempts reset, gone from failed_jobs.
    (retried,) = await failed.retry([str(listed[0].id)])
    assert retried.uuid == Payload.parse(jobs[0].raw_payload).uuid
    (row,) = await job_rows(queue.db)
    assert row["attempts"] == 0 and row["reserved_at"] is None and row["queue"] == "a"
    assert Payload.parse(row["payload"]).uuid == retried.uuid
    assert [f.id for f in await failed.all()] == [f.id for f in listed[1:]]
    (again,) = await claim(queue, ("a",))
    assert again.attempts == 1

    # By uuid, and unknown ids.
    by_uuid = await failed.find([listed[1].uuid])
    assert [f.id for f in by_uuid] == [listed[1].id]
    with pytest.raises(UnknownFailedJob, match="999999"):
        await failed.find([str(listed[1].id), "999999"])
    with pytest.raises(UnknownFailedJob):
        await failed.retry(["999999"])
    with pytest.raises(UnknownFailedJob):
        await failed.forget("no-such-uuid")
    assert len(await failed.all()) == 3

    # Retry all of one queue.
    moved = await failed.retry(queue="b")
    assert [f.uuid for f in moved] == [Payload.parse(other.raw_payload).uuid]
    assert [f.queue for f in await failed.all()] == ["a", "a"]

    # Forget.
    forgotten = await failed.forget(listed[1].uuid)
    assert forgotten.id == listed[1].id
    assert [f.id for f in await failed.all()] == [listed[2].id]

    # Flush with hours: only rows older than that.
    await _failed(queue, "c")
    await queue.db.run_script(
        f"UPDATE failed_jobs SET failed_at = '2000-01-01 00:00:00' WHERE id = {listed[2].id};"
    )
    assert await failed.flush(hours=1) == 1
    assert [f.queue for f in await failed.all()] == ["c"]
    assert await failed.flush() == 1
    assert await failed.all() == []
    assert await failed.retry() == []


async def test_retry_all_failed_jobs(queue: Queue):
    failed = FailedJobs(queue)
    for n in range(3):
        await _failed(queue, "a", {"n": n})
    assert len(await failed.retry()) == 3
    assert await failed.all() == []
    assert await queue.size() == 3


# --- stats ------------------------------------------------------------------------------


async def test_queue_stats(queue: Queue):
    await queue.push("tests.x", queue="a")
    await queue.push("tests.x", queue="a", delay=60)
    for _ in range(3):
        await queue.push("tests.x", queue="b")
    await claim(queue, ("b",))
    stats = {s.queue: s for s in await queue.stats()}
    assert set(stats) == {"a", "b"}
    a, b = stats["a"], stats["b"]
    assert (a.pending, a.delayed, a.reserved) == (1, 1, 0)
    assert (b.pending, b.delayed, b.reserved) == (2, 0, 1)
    assert a.oldest_seconds is not None and 0 <= a.oldest_seconds < 5
    assert await queue.size() == 5
    assert await queue.clear("a") == 2
    assert await queue.size() == 3
    assert await queue.clear() == 3
    assert await queue.stats() == []
