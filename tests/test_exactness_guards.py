"""Each guard of exact counting, reached on its own (issue #12, item 31).

The counting of a student has several guards in a row, and each used to be hidden behind
another: a duplicate delivery stops at the covering check (`_covering`) before it reaches
`sync_item_finish`'s ``AND status = 'queued'`` and the ``if not finished`` after it; a run
never counts beyond its total, so `percent` never meets a value above 100 and
``sync_run_count``'s ``processed + :processed <= total`` never refuses anything. A
one-line deletion of any of those four survived the whole suite. These tests go past
the guard in front, so each of the four is the only thing between a test and a wrong
count (each was deleted again and its test failed; see docs/reliability.md).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from syncpay.db import Tx
from syncpay.sync.accounting import CountMismatch, _count, _covering
from syncpay.sync.progress import percent
from syncpay.sync.records import Run
from tests.sync_helpers import Harness, items_of, run_next_job

#: sync_run_count's change-summary parameters, adding nothing.
NO_CHANGES = dict.fromkeys(
    ("became_lunas", "became_belum_lunas", "first_synced", "arrears_up", "arrears_down"), 0
) | {"tunggakan_before": "0", "tunggakan_after": "0"}


async def _queued_run(h: Harness, n: int = 3) -> tuple[Any, Run, list[str]]:
    """A run over ``n`` students, dispatched by hand (no worker): every item queued."""
    sim = await h.simulator()
    roster = await h.students(n, seed=31)
    sp = h.syncpay(sim)
    ids = [s["idperson"] for s in roster]
    started = await sp.start(idpersons=ids)
    assert await run_next_job(sp) == "sync.dispatch"
    run = await sp.sync.get(started.id)
    assert run is not None
    return sp, run, ids


async def test_a_count_past_a_stale_covering_check_is_refused_by_the_item_row(
    h: Harness,
) -> None:
    """Two transactions both passed the covering check for one student; the first
    counts, the second reaches `_count` with what it read before the first committed.
    Only ``status = 'queued'`` and ``if not finished`` stand between it and a second
    count (on SQLite the write lock orders them, so the second's check is made stale by
    reading it in a transaction of its own first)."""
    sp, run, ids = await _queued_run(h)
    one = ids[0]

    async def check(tx: Tx) -> list[Run]:
        _student, runs = await _covering(tx, one)
        return runs

    stale = await h.db.transact(check)  # passes: the student is still queued
    assert [r.id for r in stale] == [run.id]

    async def count(tx: Tx, runs: list[Run], status: str, attempts: int) -> None:
        for covering in runs:
            reason = "HTTP 500" if status == "failed" else None
            await _count(tx, covering, one, status, attempts, reason, "nama")

    # The second delivery writes other values (MySQL reports an UPDATE that changes
    # nothing as 0 rows, which would hide a missing status guard).
    await h.db.transact(lambda tx: count(tx, stale, "done", 1))  # the first delivery
    if h.db.dialect == "sqlite":
        await h.db.transact(lambda tx: count(tx, stale, "failed", 3))  # past a stale check
    else:
        # MySQL writes a round's items in one statement before the COMMIT: fewer rows
        # finished than were counted rolls the whole transaction back.
        with pytest.raises(CountMismatch, match="0 of 1 queued items finished"):
            await h.db.transact(lambda tx: count(tx, stale, "failed", 3))
    now = await sp.sync.get(run.id)
    assert (now.processed, now.failed) == (1, 0)
    assert (await items_of(h.db, run.id))[one]["status"] == "done"
    await sp.cancel(run.id)


async def test_two_transactions_at_the_covering_check_at_once_count_one(
    h: Harness, db_kind: str
) -> None:
    """MariaDB runs counting transactions side by side. The covering check reads the
    student's items FOR UPDATE: a second delivery's check waits for the first's COMMIT,
    then finds nothing queued and counts nothing (without the lock both would read
    "queued", and the first one's count would meet the second's CountMismatch)."""
    if db_kind != "mysql":
        pytest.skip("SQLite has one writer: two counting transactions never overlap")
    sp, run, ids = await _queued_run(h)
    one = ids[0]
    other = await h.connection()
    first_read = asyncio.Event()
    second_reading = asyncio.Event()

    async def deliver(tx: Tx, me: int) -> int:
        if me == 1:
            await asyncio.wait_for(first_read.wait(), 20)
            second_reading.set()
        _student, runs = await _covering(tx, one)
        if me == 0:
            first_read.set()
            await asyncio.wait_for(second_reading.wait(), 20)
            await asyncio.sleep(0.5)  # the second's read is waiting for our lock now
        for covering in runs:  # other values each (see the test above)
            status, reason = ("done", None) if me == 0 else ("failed", "HTTP 500")
            await _count(tx, covering, one, status, 1 + me, reason, "nama")
        return len(runs)

    passed = await asyncio.gather(
        h.db.transact(lambda tx: deliver(tx, 0)), other.transact(lambda tx: deliver(tx, 1))
    )
    assert passed == [1, 0]  # the second read after the first's COMMIT
    now = await sp.sync.get(run.id)
    assert (now.processed, now.failed) == (1, 0)
    assert (await items_of(h.db, run.id))[one]["status"] == "done"
    await sp.cancel(run.id)


async def test_sync_run_count_never_passes_the_total(h: Harness) -> None:
    sp, run, _ids = await _queued_run(h, n=3)
    params = {"id": run.id, "failed": 0, "unchanged": 0, **NO_CHANGES}
    assert await h.db.execute("sync_run_count", params | {"processed": 2}) == 1
    assert await h.db.execute("sync_run_count", params | {"processed": 2}) == 0  # 4 > 3
    assert (await sp.sync.get(run.id)).processed == 2
    assert await h.db.execute("sync_run_count", params | {"processed": 1}) == 1  # 3 = 3
    assert (await sp.sync.get(run.id)).processed == 3


async def test_counts_beyond_the_total_are_refused_and_logged(
    h: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    """The flush before COMMIT asks sync_run_count; a refusal is an error in the log,
    and the run's figures stay within its total."""
    sp, run, ids = await _queued_run(h, n=2)
    await h.db.execute(
        "sync_run_count",
        {"id": run.id, "processed": 2, "failed": 0, "unchanged": 0, **NO_CHANGES},
    )
    with caplog.at_level(logging.ERROR, logger="syncpay"):
        await h.db.transact(
            lambda tx: _count(tx, run, ids[0], "done", 1, None, "nama")
        )  # a third student's worth for a run of two
    now = await sp.sync.get(run.id)
    assert now.processed == 2
    assert any("not counted (beyond its total)" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("processed", "total", "expected"),
    [(0, 10, 0.0), (5, 10, 50.0), (10, 10, 100.0), (11, 10, 100.0), (10**9, 3, 100.0)],
)
def test_percent_is_never_above_100(processed: int, total: int, expected: float) -> None:
    assert percent(processed, total) == expected


def test_percent_of_an_empty_run_is_zero() -> None:
    assert percent(0, 0) == 0.0
    assert percent(5, 0) == 0.0
