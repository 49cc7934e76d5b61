"""The sync end to end (SPEC §4) on SQLite and MariaDB: a real simulator over HTTP, real
workers, the real queue; nothing patched.

Every expectation is computed from the simulator's own prediction of each student's
fault category (`Simulator.category`) and answer (`Simulator.answer_text`).
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import json
import os
import re
import secrets
import time
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from syncpay.config import Settings
from syncpay.db import Tx, connect, migrate, tables_for
from syncpay.db.queries import parse_queries
from syncpay.queue import Payload, PermanentFailure, Queue, Worker, WorkerOptions
from syncpay.service import SyncPay
from syncpay.students import import_rows
from syncpay.sync.accounting import record_failure, record_success
from syncpay.sync.activity import log_line
from syncpay.sync.errors import ALREADY_RUNNING, NO_STUDENTS, NoStudents, RunConflict
from syncpay.sync.jobs import dispatch_failed, students_settling
from syncpay.sync.keys import (
    DISPATCH_JOB,
    STUDENT_JOB,
    dispatch_key,
    idperson_of_key,
    student_key,
)
from syncpay.sync.money import compute_totals
from syncpay.sync.parsers import parse_flat
from syncpay.sync.progress import Progress
from syncpay.sync.runs import Sync
from syncpay.sync.scope import Scope
from tests.conftest import mysql_connect
from tests.sync_helpers import (
    Harness,
    Monitor,
    items_of,
    log_lines,
    rows,
    run_next_job,
    siswa_rows,
    stored_mismatches,
    student_jobs,
    synced_ids,
    until,
)

TRIES = 3


# --- exact counts under every kind of fault ------------------------------------------------


async def test_exact_counts_with_faults(h: Harness) -> None:
    sim = await h.simulator(
        error_rate=0.1,
        fail_rate=0.05,
        timeout_rate=0.03,
        rate_limit_rate=0.03,
        malformed_rate=0.03,
        hang=2,
        retry_after=1,
    )
    roster = await h.students(300, seed=0)
    ids = {s["idperson"] for s in roster}
    category = {i: sim.category(i) for i in ids}
    failing = {i for i, c in category.items() if c == "fail"}
    # The seed gives every category a few students (else the test proves little).
    for name in ("fail", "error_once", "timeout_once", "rate_limited_once", "malformed_once"):
        assert sum(c == name for c in category.values()) >= 3, name

    sp = h.syncpay(sim)
    run = await sp.start(started_by="tester")
    monitor = Monitor(sp, run.id).start()
    done = await asyncio.wait_for(sp.wait(run.id, workers=8), 90)
    await monitor.stop()

    assert done.status == "completed"
    assert (done.total, done.processed, done.failed) == (300, 300, len(failing))
    assert monitor.breaches == []
    assert len(monitor.samples) > 5

    failed = await sp.failed_students(run.id)
    assert {f.idperson for f in failed} == failing
    assert all(f.reason == "HTTP 500" for f in failed), failed
    assert all(f.attempts == TRIES for f in failed), failed

    items = await items_of(h.db, run.id)
    assert set(items) == ids
    expected_attempts = {
        "ok": 1,
        "error_once": 2,
        "timeout_once": 2,
        "malformed_once": 2,
        "rate_limited_once": 1,  # a 429 with Retry-After does not spend an attempt
        "fail": TRIES,
    }
    wrong = {
        i: (category[i], item["attempts"])
        for i, item in items.items()
        if item["attempts"] != expected_attempts[category[i]]
    }
    assert wrong == {}
    assert {i for i, item in items.items() if item["status"] == "failed"} == failing

    stored = await siswa_rows(h.db)
    assert stored_mismatches(sim, stored, ids - failing) == []
    for i in failing:
        assert stored[i]["pembayaran"] is None
        assert stored[i]["is_lunas"] is None
        assert stored[i]["sync_error"] == "HTTP 500"
    progress = await sp.progress(run.id)
    assert progress.percent == 100.0
    assert progress.success_count == 300 - len(failing)
    assert await student_jobs(h.db) == []


async def test_not_found_fails_at_once_and_429_spends_no_attempt(h: Harness) -> None:
    # The API asks for 30 s; PAYMENT_API_RETRY_AFTER_MAX=1 caps the wait to 1 s.
    sim = await h.simulator(not_found_rate=0.25, rate_limit_rate=0.25, retry_after=30)
    roster = await h.students(40, seed=3)
    ids = {s["idperson"] for s in roster}
    missing = {i for i in ids if sim.category(i) == "not_found"}
    limited = {i for i in ids if sim.category(i) == "rate_limited_once"}
    assert missing and limited

    sp = h.syncpay(sim, sync_backoff="5")  # a counted retry would show as a 5 s wait
    run = await sp.start()
    started = time.monotonic()
    done = await asyncio.wait_for(sp.wait(run.id, workers=8), 60)
    assert done.status == "completed"
    assert (done.processed, done.failed) == (40, len(missing))
    assert time.monotonic() - started < 5  # no backoff for a 404, Retry-After capped

    failed = {f.idperson: f for f in await sp.failed_students(run.id)}
    assert set(failed) == missing
    for f in failed.values():
        assert f.attempts == 1, f
        assert "404" in f.reason, f
    items = await items_of(h.db, run.id)
    assert {i: items[i]["attempts"] for i in limited} == dict.fromkeys(limited, 1)
    assert {items[i]["status"] for i in limited} == {"done"}
    # Each missing student was asked once, each rate-limited one twice.
    asked = sim.stats(detail=True)["per_idperson"]
    assert {i: asked[i] for i in missing} == dict.fromkeys(missing, 1)
    assert {i: asked[i] for i in limited} == dict.fromkeys(limited, 2)


# --- a second run, duplicate deliveries, lapsed leases -------------------------------------


async def test_second_run_is_all_unchanged_and_rewrites_nothing(h: Harness) -> None:
    sim = await h.simulator()
    await h.students(60, seed=5)
    sp = h.syncpay(sim)
    first = await sp.wait((await sp.start()).id, workers=8)
    assert (first.status, first.processed, first.unchanged) == ("completed", 60, 0)
    before = await siswa_rows(h.db)
    assert all(r["updated_at"] is not None and r["synced_at"] is not None for r in before.values())

    await asyncio.sleep(1.1)  # the stored times are whole seconds: a rewrite would show
    second = await sp.wait((await sp.start()).id, workers=8)
    assert (second.status, second.processed, second.failed) == ("completed", 60, 0)
    progress = await sp.progress(second.id)
    assert progress.unchanged == progress.total == 60
    assert {i["status"] for i in (await items_of(h.db, second.id)).values()} == {"unchanged"}
    after = await siswa_rows(h.db)
    assert {i: r["updated_at"] for i, r in after.items()} == {
        i: r["updated_at"] for i, r in before.items()
    }
    assert {i: r["pembayaran"] for i, r in after.items()} == {
        i: r["pembayaran"] for i, r in before.items()
    }


async def test_duplicate_delivery_counts_once(h: Harness) -> None:
    sim = await h.simulator()
    roster = await h.students(5, seed=7)
    sp = h.syncpay(sim)
    ids = [s["idperson"] for s in roster]
    run = await sp.start(idpersons=ids)  # no worker: the accounting is driven by hand
    assert await run_next_job(sp) == "sync.dispatch"  # the run queues its students
    one = ids[0]
    text = sim.answer_text(one)
    digest = hashlib.sha256(text.encode()).hexdigest()
    totals = compute_totals(parse_flat(text).items, date.today())

    async def deliver(tx: Tx) -> bool:
        return await record_success(tx, one, text, digest, totals, 1)

    assert await h.db.transact(deliver) is True
    again = await h.db.transact(deliver)  # the same student delivered a second time
    late_failure = await h.db.transact(lambda tx: record_failure(tx, one, "HTTP 500", 3))
    now = await sp.sync.get(run.id)
    assert (now.processed, now.failed, now.status) == (1, 0, "running"), (again, late_failure)
    items = await items_of(h.db, run.id)
    assert items[one]["status"] == "done"
    assert {i["status"] for k, i in items.items() if k != one} == {"queued"}
    assert stored_mismatches(sim, await siswa_rows(h.db), {one}) == []
    await sp.cancel(run.id)


async def test_lapsed_lease_second_worker_counts_exactly(h: Harness) -> None:
    # The first request of a timeout_once student hangs 5 s. Worker A renews its leases
    # only every 30 s (retry_after 660); worker B treats a lease older than 2 s as lost
    # and takes the job over. A's late result must then be dropped by the lease fence.
    sim = await h.simulator(timeout_rate=0.2, hang=5)
    roster = await h.students(40, seed=11)
    hung = {s["idperson"] for s in roster if sim.category(s["idperson"]) == "timeout_once"}
    assert len(hung) >= 3
    sp = h.syncpay(sim, payment_api_timeout="30")
    run = await sp.start()
    a = h.track(
        Worker(
            sp.queue,
            sp.jobs,
            WorkerOptions(queues=(sp.settings.db_queue,), concurrency=20, sleep=0.2, backoff=(0,)),
            app=sp.runtime,
        )
    )
    a.start()
    await until(
        lambda: _processed_at_least(sp, run.id, 40 - len(hung)), 20, what="the quick students"
    )
    b = h.track(
        Worker(
            sp.queue,
            sp.jobs,
            WorkerOptions(
                queues=(sp.settings.db_queue,),
                concurrency=4,
                timeout=1,
                retry_after=2,
                sleep=0.2,
                expired_check=0.2,
                backoff=(0,),
            ),
            app=sp.runtime,
        )
    )
    b.start()
    done = await asyncio.wait_for(sp.sync.wait(run.id, poll=0.1), 20)
    assert (done.status, done.total, done.processed, done.failed) == ("completed", 40, 40, 0)
    await until(lambda: _no_running(a), 10, what="worker A's hung jobs")
    await asyncio.sleep(0.5)  # A's late acks have been settled (and refused)
    assert a.stats.lost == len(hung)
    assert b.stats.done == len(hung)
    items = await items_of(h.db, run.id)
    assert set(items) == {s["idperson"] for s in roster}
    assert {items[i]["attempts"] for i in hung} == {2}
    again = await sp.sync.get(run.id)
    assert (again.processed, again.failed) == (40, 0)
    assert stored_mismatches(sim, await siswa_rows(h.db), set(items)) == []


async def _processed_at_least(sp: SyncPay, run_id: int, n: int) -> bool:
    return (await sp.sync.get(run_id)).processed >= n


async def _no_running(worker: Worker) -> bool:
    return worker.running == 0


# --- cancel ---------------------------------------------------------------------------------


async def test_cancel_mid_run_freezes_everything(h: Harness) -> None:
    sim = await h.simulator(latency=0.2)
    await h.students(200, seed=13)
    sp = h.syncpay(sim)
    run = await sp.start(started_by="tester")
    worker = h.worker(sp, 4)
    worker.start()
    running: list[Progress] = []
    monitor = Monitor(sp, run.id, keep=lambda p: p.is_running and p.processed > 0)
    monitor.start()
    await until(lambda: _processed_at_least(sp, run.id, 30), 30, what="30 students")
    running = list(monitor.extra)

    cancelled = await sp.cancel(run.id, by="tester")
    stopped = await sp.cancel_in_flight(worker)
    frozen = await sp.sync.get(run.id)
    synced_at_cancel = await synced_ids(h.db)
    assert cancelled.status == frozen.status == "cancelled"
    assert stopped > 0  # jobs were in flight (latency 0.2 s, 4 workers)
    assert frozen.processed < 200

    await asyncio.sleep(2.0)
    await monitor.stop()
    later = await sp.sync.get(run.id)
    assert (later.status, later.processed, later.failed) == (
        "cancelled",
        frozen.processed,
        frozen.failed,
    )
    assert monitor.breaches == []
    assert await student_jobs(h.db) == []
    assert await synced_ids(h.db) == synced_at_cancel
    # Every stored student was counted, every counted student stored.
    counted = {k for k, i in (await items_of(h.db, run.id)).items() if i["status"] != "queued"}
    assert synced_at_cancel == counted
    assert len(synced_at_cancel) == frozen.processed
    progress = await sp.progress(run.id)
    assert progress.status == "cancelled" and not progress.is_running
    assert any("dibatalkan oleh tester" in line.message for line in progress.logs)

    # While it ran, the rate and the estimate were there.
    assert running, "no sample while running"
    assert all(p.rate_per_second > 0 and p.eta_seconds is not None for p in running[-5:])
    last = running[-1]
    assert last.eta_seconds == pytest.approx(
        (last.total - last.processed) / last.rate_per_second, rel=0.1, abs=2
    )


# --- start: single flight, nothing to do --------------------------------------------------


async def test_two_concurrent_start_all_make_one_run(h: Harness) -> None:
    sim = await h.simulator()
    await h.students(20, seed=17)
    sp1 = h.syncpay(sim)
    sp2 = h.syncpay(sim, db=await h.connection())
    for attempt in range(8):
        first, second = (sp1, sp2) if attempt % 2 == 0 else (sp2, sp1)
        results = await asyncio.gather(
            first.start(started_by="officer-1"),
            second.start(started_by="officer-2"),
            return_exceptions=True,
        )
        runs = [r for r in results if not isinstance(r, BaseException)]
        conflicts = [r for r in results if isinstance(r, RunConflict)]
        assert len(runs) == 1 and len(conflicts) == 1, results
        assert conflicts[0].message == ALREADY_RUNNING
        assert conflicts[0].status == 409
        assert conflicts[0].run is not None and conflicts[0].run.id == runs[0].id
        assert conflicts[0].run.started_by == runs[0].started_by
        running = await rows(h.db, "ts_running")
        assert [int(r["id"]) for r in running] == [runs[0].id]
        # A third, later, is refused the same way.
        with pytest.raises(RunConflict) as third:
            await second.start()
        assert third.value.run is not None and third.value.run.id == runs[0].id
        await first.cancel(runs[0].id)
    assert len(await rows(h.db, "ts_runs")) == 8


async def test_no_students(h: Harness) -> None:
    sim = await h.simulator()
    sp = h.syncpay(sim)
    with pytest.raises(NoStudents) as empty:
        await sp.start()
    assert empty.value.message == NO_STUDENTS == "Tidak ada siswa di database."
    assert empty.value.status == 400
    await h.students(10, seed=19)
    with pytest.raises(NoStudents):
        await sp.start(kelas="Kelas Yang Tidak Ada")
    with pytest.raises(NoStudents):
        await sp.start(unit="Unit Yang Tidak Ada")
    with pytest.raises(NoStudents):
        await sp.start(idpersons=["999999999"])
    assert await rows(h.db, "ts_runs") == []


# --- the typed pieces: keys, the idle progress object, a transaction's state ----------------


def test_a_student_key_gives_its_student_back() -> None:
    assert idperson_of_key(student_key("0042")) == "0042"
    assert idperson_of_key(student_key("")) == ""
    assert idperson_of_key(dispatch_key(7)) is None


def test_the_idle_progress_object_is_the_json_it_always_was() -> None:
    """SPEC §6's object before any run, field for field and in order (the page, the
    command line's --json and scripts read it)."""
    idle = {
        "total": 0,
        "processed": 0,
        "failed": 0,
        "successCount": 0,
        "unchanged": 0,
        "percent": 0.0,
        "isRunning": False,
        "status": "idle",
        "run_id": None,
        "scope": None,
        "scope_detail": None,
        "started_at": None,
        "finished_at": None,
        "started_by": None,
        "elapsed_seconds": 0,
        "eta_seconds": None,
        "rate_per_second": 0.0,
        "waiting_for_worker": False,
        "retry_waiting": 0,
        "next_retry_seconds": None,
        "logs": [],
        "changes": None,
    }
    assert json.dumps(Progress.idle().to_json()) == json.dumps(idle)


async def test_a_transactions_typed_state_is_its_own(h: Harness) -> None:
    class Seen:
        def __init__(self) -> None:
            self.n = 0

    async def twice(tx: Tx) -> int:
        tx.state(Seen).n += 1
        tx.state(Seen).n += 1
        return tx.state(Seen).n

    assert await h.db.transact(twice) == 2
    assert await h.db.transact(twice) == 2  # the next transaction starts from a new one


async def test_reset_refused_while_running_then_idle_and_restart(h: Harness) -> None:
    sim = await h.simulator(latency=0.05)
    await h.students(30, seed=23)
    sp = h.syncpay(sim)
    assert (await sp.progress()).status == "idle"
    run = await sp.start()
    with pytest.raises(RunConflict) as refused:
        await sp.reset()
    assert refused.value.status == 409
    done = await sp.wait(run.id, workers=8)
    assert done.status == "completed"
    assert (await sp.progress()).status == "completed"
    # A new run may start at once, without a reset.
    again = await sp.start()
    assert again.id != run.id
    await sp.wait(again.id, workers=8)
    await sp.reset()
    idle = await sp.progress()
    assert idle.status == "idle" and idle.run_id is None and not idle.is_running
    # History stays: the runs are still there by id.
    assert (await sp.progress(run.id)).status == "completed"
    assert len(await rows(h.db, "ts_runs")) == 2


async def test_reset_refused_while_an_older_run_is_still_active(h: Harness) -> None:
    # An all-run is going; a single student's "sync now" starts and ends meanwhile. The
    # all-run is still active, so a reset must be refused (SPEC §4 Reset).
    sim = await h.simulator(latency=0.2)
    roster = await h.students(60, seed=83)
    sp = h.syncpay(sim)
    big = await sp.start()
    single = await sp.start(idpersons=[roster[-1]["idperson"]])
    worker = h.worker(sp, 2)
    worker.start()
    await until(lambda: _ended(sp, single.id), 30, what="the single run")
    assert (await sp.sync.get(big.id)).status == "running"
    with pytest.raises(RunConflict):
        await sp.reset()


# --- scopes and sharing ---------------------------------------------------------------------


async def test_scopes_count_exactly_their_students(h: Harness) -> None:
    sim = await h.simulator(latency=0.01)
    roster = await h.students(120, seed=29)
    by_id = {s["idperson"]: s for s in roster}
    unit = "SMP"
    kelas = "X IPA 3"  # a class name several units may use: kelas alone spans them
    pick = sorted(by_id)[5::9]
    expected = {
        "unit": {i for i, s in by_id.items() if s["UnitFormal"] == unit},
        "kelas": {i for i, s in by_id.items() if s["KelasFormal"] == kelas},
        "unit+kelas": {
            i for i, s in by_id.items() if s["UnitFormal"] == "SMP" and s["KelasFormal"] == "VII C"
        },
        "ids": set(pick),
    }
    assert all(expected.values()), expected
    sp = h.syncpay(sim)
    # Scoped runs may run side by side (only "all students" is single-flight).
    runs = {
        "unit": await sp.start(unit=unit),
        "kelas": await sp.start(kelas=kelas),
        "unit+kelas": await sp.start(unit="SMP", kelas="VII C"),
        "ids": await sp.start(idpersons=[*pick, "not-a-student"]),
    }
    for name, run in runs.items():
        assert run.total == len(expected[name]), name
    worker = h.worker(sp, 8)
    worker.start()
    for name, run in runs.items():
        done = await asyncio.wait_for(sp.sync.wait(run.id, poll=0.1), 30)
        assert (done.status, done.total, done.processed, done.failed) == (
            "completed",
            len(expected[name]),
            len(expected[name]),
            0,
        ), name
        assert set(await items_of(h.db, run.id)) == expected[name], name
    synced = set().union(*expected.values())
    assert await synced_ids(h.db) == synced
    assert stored_mismatches(sim, await siswa_rows(h.db), synced) == []


async def test_single_student_during_all_run_is_queued_once(h: Harness) -> None:
    sim = await h.simulator(latency=0.02)
    roster = await h.students(30, seed=31)
    ids = sorted(s["idperson"] for s in roster)
    one = ids[-1]  # the all-run would reach this student last
    sp = h.syncpay(sim)
    big = await sp.start()
    # Run only the big run's dispatcher: every student is queued.
    assert await run_next_job(sp) == "sync.dispatch"
    assert len(await student_jobs(h.db)) == 30
    single = await sp.start(idpersons=[one])
    assert single.total == 1
    # Only the single run's dispatcher: the student is not queued a second time.
    assert await run_next_job(sp) == "sync.dispatch"
    queued = await student_jobs(h.db)
    assert len(queued) == 30
    mine = [j for j in queued if j["unique_key"] == f"siswa:{one}"]
    assert len(mine) == 1
    # ... but it moved to the front.
    assert int(mine[0]["sort_key"]) <= min(int(j["sort_key"]) for j in queued)

    done = await asyncio.wait_for(sp.wait(big.id, workers=4), 30)
    assert (done.status, done.processed, done.failed) == ("completed", 30, 0)
    small = await sp.sync.get(single.id)
    assert (small.status, small.total, small.processed) == ("completed", 1, 1)
    assert set(await items_of(h.db, single.id)) == {one}
    assert set(await items_of(h.db, big.id)) == set(ids)
    assert sim.stats(detail=True)["per_idperson"][one] == 1  # fetched once for both runs
    assert small.finished_at is not None and done.finished_at is not None
    assert small.finished_at <= done.finished_at


async def test_fairness_small_runs_are_not_queued_behind_a_big_one(h: Harness) -> None:
    sim = await h.simulator(latency=0.02)
    roster = await h.students(3000, seed=37)
    ids = sorted(s["idperson"] for s in roster)
    sp = h.syncpay(sim)
    big = await sp.start()
    monitor = Monitor(sp, big.id).start()
    worker = h.worker(sp, 8)
    worker.start()
    await until(lambda: _processed_at_least(sp, big.id, 300), 60, what="10 % of the big run")
    mark = time.monotonic()
    mark_processed = (await sp.sync.get(big.id)).processed

    small = await sp.start(idpersons=ids[-50:])  # the last ones the big run would reach
    small_seconds = await until(lambda: _ended(sp, small.id), 60, what="the small run")
    await until(lambda: _processed_at_least(sp, big.id, 1500), 60, what="half the big run")
    # Three single-student runs, one after the other; their median is the figure (one
    # stall of a shared machine - a slow fsync, a busy core - is not the design's).
    singles, timings = [], []
    for idperson in (ids[-60], ids[-70], ids[-80]):
        single = await sp.start(idpersons=[idperson])
        singles.append(single)
        timings.append(await until(lambda run=single: _ended(sp, run.id), 60, what="a single run"))
    single_seconds = sorted(timings)[1]
    now = await sp.sync.get(big.id)
    big_rate = (now.processed - mark_processed) / (time.monotonic() - mark)
    assert now.status == "running" and now.processed < 3000  # the smaller ones went first

    for run_id, n in ((small.id, 50), *((one.id, 1) for one in singles)):
        ended = await sp.sync.get(run_id)
        assert (ended.status, ended.processed, ended.failed) == ("completed", n, 0)
        assert len(await items_of(h.db, run_id)) == n
    # In jobs at the big run's own pace: the small run waited for at most ~300 jobs,
    # the single student for at most ~200 (a worker's prefetched jobs may be ahead of it:
    # one per slot on SQLite, three per slot and four rounds in flight on MySQL).
    assert small_seconds * big_rate <= 300, (small_seconds, big_rate)
    assert single_seconds * big_rate <= 200, (timings, big_rate)
    assert single_seconds < 3  # "sync now" answers within a couple of seconds

    # The rest of the big run is not needed: stop it (unless it ended meanwhile); its
    # counts stay exact.
    try:
        await sp.cancel(big.id)
    except RunConflict:
        pass  # it completed meanwhile
    await sp.cancel_in_flight(worker)
    await monitor.stop()
    assert monitor.breaches == []
    stopped = await sp.sync.get(big.id)
    big_items = (await items_of(h.db, big.id)).values()
    assert stopped.processed == sum(1 for i in big_items if i["status"] != "queued")
    assert set(ids[-50:]) | {ids[-60], ids[-70], ids[-80]} <= set(await items_of(h.db, big.id))


async def _ended(sp: SyncPay, run_id: int) -> bool:
    return not (await sp.sync.get(run_id)).is_running


# --- failed students, the activity log ------------------------------------------------------


async def test_a_student_removed_from_the_roster_mid_run_is_counted_failed(h: Harness) -> None:
    sim = await h.simulator()
    roster = await h.students(3, seed=5)
    gone = roster[1]["idperson"]
    sp = h.syncpay(sim)
    run = await sp.start()
    await h.worker(sp, 1, max_jobs=1, stop_when_empty=True).run()  # the dispatcher only
    assert (await sp.sync.get(run.id)).total == 3
    await h.db.run_script(f"DELETE FROM siswa WHERE idperson = '{gone}'")
    done = await asyncio.wait_for(sp.wait(run.id, workers=2), 30)
    assert (done.status, done.processed, done.failed) == ("completed", 3, 1)
    (failed,) = await sp.failed_students(run.id)
    assert (failed.idperson, failed.reason) == (gone, "siswa tidak ada lagi")
    assert gone not in await synced_ids(h.db)


async def test_a_student_whose_last_attempts_were_cut_off_keeps_the_apis_error(
    h: Harness,
) -> None:
    """A failed attempt's error stays on the student's item; when the attempts then run
    out without an error of their own (workers killed mid-job), the page still shows the
    API's error, not only the queue's "attempted too many times"."""
    sim = await h.simulator(fail_rate=1.0)  # HTTP 500 on every attempt
    (student,) = await h.students(1, seed=3)
    sp = h.syncpay(sim, sync_backoff="600")  # after the first attempt: wait (for ever)
    run = await sp.start()
    worker = h.worker(sp, 2)
    worker.start()

    async def noted() -> bool:
        item = (await items_of(h.db, run.id)).get(student["idperson"])
        return item is not None and item["status"] == "queued" and item["reason"] is not None

    await until(noted, 30, what="the first attempt's error on the item")
    item = (await items_of(h.db, run.id))[student["idperson"]]
    assert (item["reason"], item["attempts"]) == ("HTTP 500", 1)
    # Two more attempts were cut off by killed workers: they spent their attempts and
    # left no error. The job comes back with none left.
    await h.db.run_script("UPDATE jobs SET attempts = 3, available_at = 0")
    done = await asyncio.wait_for(sp.wait(run.id), 30)
    assert (done.status, done.processed, done.failed) == ("completed", 1, 1)
    (failed,) = await sp.failed_students(run.id)
    assert failed.reason.startswith("HTTP 500 (percobaan terakhir terputus: "), failed
    assert "attempted too many times" in failed.reason


async def test_retry_failed_runs_exactly_the_failed(h: Harness) -> None:
    sim = await h.simulator(fail_rate=0.2)
    roster = await h.students(40, seed=41)
    ids = {s["idperson"] for s in roster}
    failing = {i for i in ids if sim.category(i) == "fail"}
    assert 3 <= len(failing) < 40
    sp = h.syncpay(sim)
    first = await sp.wait((await sp.start()).id, workers=8)
    assert (first.status, first.processed, first.failed) == ("completed", 40, len(failing))

    sim.configure(fail_rate=0.0)  # the finance API is healthy again
    retry = await sp.retry_failed(first.id, started_by="tester")
    assert retry.scope.idpersons == tuple(sorted(failing))
    assert retry.total == len(failing)
    done = await sp.wait(retry.id, workers=8)
    assert (done.status, done.processed, done.failed) == ("completed", len(failing), 0)
    assert set(await items_of(h.db, retry.id)) == failing
    assert stored_mismatches(sim, await siswa_rows(h.db), ids) == []
    # The first run's list of failures is history: unchanged.
    assert {f.idperson for f in await sp.failed_students(first.id)} == failing
    with pytest.raises(NoStudents):
        await sp.retry_failed(retry.id)


async def test_activity_log(h: Harness) -> None:
    sim = await h.simulator(fail_rate=0.1, error_rate=0.1)
    roster = await h.students(60, seed=43)
    names = {s["idperson"]: s["nama"] for s in roster}
    failing = {i for i in names if sim.category(i) == "fail"}
    assert failing
    sp = h.syncpay(sim)
    run = await sp.start(started_by="Bu Siti")
    done = await sp.wait(run.id, workers=8)
    assert done.status == "completed"

    lines = await log_lines(h.db, run.id)
    messages = [str(line["message"]) for line in lines]
    assert "Bu Siti" in messages[0] and "60 siswa" in messages[0], messages[0]
    errors = [line for line in lines if line["level"] == "error"]
    assert len(errors) == len(failing), messages
    for i in failing:
        mine = [str(e["message"]) for e in errors if i in str(e["message"])]
        assert len(mine) == 1, (i, messages)
        assert "HTTP 500" in mine[0] and names[i] in mine[0]
    finish = f"Sinkronisasi selesai - {60 - len(failing)} berhasil, {len(failing)} gagal"
    assert messages.count(finish) == 1, messages
    assert not any("selesai" in m for m in messages[: messages.index(finish)])

    progress = await sp.sync.progress(run.id)
    assert sorted(line.id for line in progress.logs) == [int(x["id"]) for x in lines]
    start_id = int(lines[0]["id"])
    newer = await sp.sync.progress(run.id, after_log=start_id)
    assert sorted(line.id for line in newer.logs) == [int(x["id"]) for x in lines[1:]]
    assert (await sp.sync.progress(run.id, after_log=int(lines[-1]["id"]))).logs == ()
    assert progress.eta_seconds is None  # no estimate once the run ended


async def test_log_lines_keep_their_key_and_values(h: Harness) -> None:
    """Each activity-log line stores its template's key (``js.log.<key>``) and values, from
    which a page words it in its language; ``message`` is the Indonesian text as before.
    What comes from outside (a name, an API's error, who started) is a value."""
    sim = await h.simulator(fail_rate=0.2)
    roster = await h.students(20, seed=41)
    names = {s["idperson"]: s["nama"] for s in roster}
    failing = {i for i in names if sim.category(i) == "fail"}
    assert failing
    sp = h.syncpay(sim)
    starter = "Bu {name} <b>Siti</b>"  # braces too: a value is never read as a template
    run = await sp.start(started_by=starter)
    done = await sp.wait(run.id, workers=8)
    assert (done.status, done.failed) == ("completed", len(failing))

    stored = await rows(h.db, "ts_log_keys", {"run_id": run.id})
    lines = [
        (str(r["message_key"]), json.loads(str(r["message_values"])), str(r["message"]))
        for r in stored
    ]
    detail = {"kind": "all", "unit": None, "kelas": None, "idperson": None, "students": None}
    started = {"by": starter, "scope": "Semua siswa", "total": 20, "scope_detail": detail}
    assert lines[:2] == [
        ("started", started, f"Sinkronisasi dimulai oleh {starter}: Semua siswa, 20 siswa"),
        ("queued", {"total": 20}, "20 siswa masuk antrean"),
    ]
    failed = {line[1]["idperson"]: line for line in lines if line[0] == "student_failed"}
    assert failed == {
        i: (
            "student_failed",
            {"name": names[i], "idperson": i, "reason": "HTTP 500"},
            f"Gagal: {names[i]} ({i}) - HTTP 500",
        )
        for i in failing
    }
    success, retries = 20 - len(failing), (TRIES - 1) * len(failing)
    assert lines[-2:] == [
        (
            "finished",
            {"success": success, "failed": len(failing)},
            f"Sinkronisasi selesai - {success} berhasil, {len(failing)} gagal",
        ),
        (
            "unchanged_retries",
            {"unchanged": 0, "retries": retries},
            f"0 siswa tidak berubah, {retries} percobaan ulang",
        ),
    ]
    assert len(lines) == 4 + len(failing)
    levels = {str(r["message_key"]): str(r["level"]) for r in stored}
    assert (levels["student_failed"], levels["finished"]) == ("error", "success")

    # The progress object carries them, line by line.
    progress = await sp.sync.progress(run.id)
    shown = {line.id: (line.key, line.values, line.message) for line in progress.logs}
    assert shown == {int(r["id"]): line for r, line in zip(stored, lines, strict=True)}

    # A cancel, and a dispatcher that gave up (its error is a value).
    second = await sp.start(started_by="tester")
    await sp.cancel(second.id, by="tester")
    third = await sp.start(started_by="tester")
    payload = Payload.create(DISPATCH_JOB, {"run_id": third.id})
    await h.db.transact(lambda tx: dispatch_failed(tx, payload, "HTTP 503 {oops}", 10))
    assert [
        (r["message_key"], json.loads(str(r["message_values"])), r["message"], r["level"])
        for r in await rows(h.db, "ts_log_keys", {"run_id": second.id})
    ][-1] == ("cancelled_by", {"by": "tester"}, "Sinkronisasi dibatalkan oleh tester", "warning")
    assert [
        (r["message_key"], json.loads(str(r["message_values"])), r["message"], r["level"])
        for r in await rows(h.db, "ts_log_keys", {"run_id": third.id})
    ][-2:] == [
        (
            "dispatch_failed",
            {"reason": "HTTP 503 {oops}"},
            "Penjadwalan siswa gagal: HTTP 503 {oops}",
            "error",
        ),
        ("cancelled_by_system", {}, "Sinkronisasi dibatalkan oleh sistem", "warning"),
    ]


async def test_log_lines_written_before_migration_0009_are_shown_as_their_message(
    settings: Settings, db_kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """0009 adds the log's key and values as nullable columns, on a database that holds
    lines already (an upgrade): those keep NULL and are shown as their message, and a
    process of the previous version (which names its four columns) still writes lines."""
    migrations = importlib.import_module("syncpay.db.migrate")  # syncpay.db.migrate: the function
    name = f"syncpay_log_keys_{os.getpid()}_{secrets.token_hex(3)}"
    if db_kind == "sqlite":
        fresh = settings.replace(db_database=str(tmp_path / f"{name}.sqlite"))
    else:
        fresh = settings.replace(db_database=name)
    old = await connect(fresh, create=True)
    try:
        every = migrations.available(old.dialect)
        monkeypatch.setattr(
            migrations, "available", lambda d: [m for m in every if m.name < "0009"]
        )
        await migrate(old, tables_for(fresh))
        scope = Scope().to_json().replace("'", "''")
        older_line = (
            "INSERT INTO sync_logs (run_id, at, level, message) VALUES (1, 1764300000,"
            " 'success', 'Sinkronisasi selesai - 2 berhasil, 0 gagal')"
        )
        await old.run_script(
            "INSERT INTO sync_runs (scope_type, scope, scope_label, status, total, processed,"
            " dispatched, started_by, started_at, finished_at) VALUES ('all',"
            f" '{scope}', 'Semua siswa', 'completed', 2, 2, 1, 'lama', 1764300000,"
            f" 1764300001);\n{older_line}"
        )
        monkeypatch.setattr(migrations, "available", lambda d: every)
        assert "0009_sync_log_message_keys" in await migrate(old, tables_for(fresh))
        await old.run_script(older_line)  # the previous version, against the new table
        await old.transact(lambda tx: log_line(tx, 1, "cancelled_by", "warning", by="admin"))
        progress = await Sync(old, Queue(old, default_queue=fresh.db_queue)).progress(1)
        assert [(line.key, line.values, line.message) for line in progress.logs] == [
            ("cancelled_by", {"by": "admin"}, "Sinkronisasi dibatalkan oleh admin"),
            (None, None, "Sinkronisasi selesai - 2 berhasil, 0 gagal"),
            (None, None, "Sinkronisasi selesai - 2 berhasil, 0 gagal"),
        ]
    finally:
        await old.close()
        if db_kind == "mysql":
            conn = mysql_connect()
            with conn.cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
            conn.close()


async def test_connection_resets_are_retried(h: Harness) -> None:
    sim = await h.simulator(reset_rate=0.3)
    roster = await h.students(40, seed=47)
    ids = {s["idperson"] for s in roster}
    dropped = {i for i in ids if sim.category(i) == "reset_once"}
    assert dropped
    sp = h.syncpay(sim)
    done = await asyncio.wait_for(sp.wait((await sp.start()).id, workers=8), 60)
    assert (done.status, done.processed, done.failed) == ("completed", 40, 0)
    items = await items_of(h.db, done.id)
    assert {i: items[i]["attempts"] for i in dropped} == dict.fromkeys(dropped, 2)
    assert stored_mismatches(sim, await siswa_rows(h.db), ids) == []


async def test_sync_one(h: Harness) -> None:
    sim = await h.simulator(latency=0.02)
    roster = await h.students(10, seed=53)
    one = roster[4]["idperson"]
    sp = h.syncpay(sim)
    started = time.monotonic()
    run = await asyncio.wait_for(sp.sync_one(one), 10)
    assert time.monotonic() - started < 3
    assert (run.status, run.total, run.processed, run.failed) == ("completed", 1, 1, 0)
    assert run.scope.idpersons == (one,)
    assert await synced_ids(h.db) == {one}
    assert stored_mismatches(sim, await siswa_rows(h.db), {one}) == []


async def test_cancel_before_dispatch_leaves_no_job(h: Harness) -> None:
    """SPEC §4 Cancel: "pending jobs of the run are removed" — the dispatcher too."""
    sim = await h.simulator()
    await h.students(10, seed=59)
    sp = h.syncpay(sim)
    run = await sp.start()  # no worker yet: its dispatcher is pending
    assert len(await rows(h.db, "ts_jobs")) == 1
    cancelled = await sp.cancel(run.id)
    assert cancelled.status == "cancelled"
    left = await rows(h.db, "ts_jobs")
    assert left == [], f"jobs left in the queue after cancel: {left}"


# --- the roster changing under a run ----------------------------------------------------------


async def test_a_rounds_students_are_read_at_once_and_still_count_once(h: Harness) -> None:
    """The student job's ``prepare`` hook reads every student of a worker's round in one
    query; each student's hook takes its rows, a second job of the same student in the
    round reads again (and counts nothing), a student of another run is not confused."""
    sim = await h.simulator()
    roster = await h.students(4, seed=3)
    sp = h.syncpay(sim)
    ids = [s["idperson"] for s in roster]
    run = await sp.start(idpersons=ids[:3])  # no worker: the accounting is driven by hand
    assert await run_next_job(sp) == "sync.dispatch"
    answers = {}
    for one in ids:
        text = sim.answer_text(one)
        totals = compute_totals(parse_flat(text).items, date.today())
        answers[one] = (text, hashlib.sha256(text.encode()).hexdigest(), totals)
    asked: list[str] = []

    class Spy:
        """The round's Tx, noting the queries asked through it."""

        def __init__(self, tx: Tx) -> None:
            self._tx = tx

        def __getattr__(self, name: str) -> Any:
            return getattr(self._tx, name)

        async def fetch_all(self, name: str, params: Any = None) -> Any:
            asked.append(name)
            return await self._tx.fetch_all(name, params)

    async def round_(tx: Tx) -> list[bool]:
        spy: Any = Spy(tx)
        # ids[3] is in no run; ids[0] twice (a duplicate delivery within the round)
        payloads = [Payload.create(STUDENT_JOB, {"idperson": i}) for i in [*ids, ids[0]]]
        await students_settling(spy, payloads)
        results = []
        for one in [ids[0], ids[0], ids[1], ids[3]]:
            text, digest, totals = answers[one]
            results.append(await record_success(spy, one, text, digest, totals, 1))
        # ids[2] fails for good in the same round
        results.append(await record_failure(spy, ids[2], "HTTP 404", 1))
        return results

    assert await h.db.transact(round_) == [True, False, True, False, True]
    assert asked.count("sync_items_queued_for_many") == 1
    # only the duplicate asked for its own rows again
    assert asked.count("sync_items_queued_for") == 1, asked
    now = await sp.sync.get(run.id)
    assert (now.processed, now.failed, now.status) == (3, 1, "completed")
    items = await items_of(h.db, run.id)
    assert {k: i["status"] for k, i in items.items()} == {
        ids[0]: "done",
        ids[1]: "done",
        ids[2]: "failed",
    }
    assert stored_mismatches(sim, await siswa_rows(h.db), set(ids[:2])) == []


async def test_a_rounds_read_seeks_each_student_by_the_primary_key(h: Harness) -> None:
    """The round's read must not walk every queued student of the run (the index on
    (run_id, status) holds them all): at 5,000 students that cost a sync 10 %."""
    sim = await h.simulator()
    roster = await h.students(300, seed=5)
    sp = h.syncpay(sim)
    run = await sp.start()
    assert await run_next_job(sp) == "sync.dispatch"
    db = h.db
    prefix = "EXPLAIN QUERY PLAN " if db.dialect == "sqlite" else "EXPLAIN "
    if "t_explain_many" not in db.queries:
        text = db.queries["sync_items_queued_for_many"].text
        db.queries.update(
            parse_queries(f"-- name: t_explain_many\n{prefix}{text}\n", db.placeholder, {})
        )
    if db.dialect == "mysql":
        db.queries.update(
            parse_queries("-- name: t_analyze\nANALYZE TABLE sync_run_items\n", db.placeholder, {})
        )
        await db.fetch_all("t_analyze")
    ids = [s["idperson"] for s in roster[:8]]
    plan = await db.fetch_all("t_explain_many", {"idpersons": ids, "run_ids": [run.id]})
    if db.dialect == "sqlite":
        first = str(plan[0]["detail"])
        assert "sqlite_autoindex_sync_run_items_1 (run_id=? AND idperson=?)" in first, plan
    else:
        item = next(r for r in plan if r["table"] == "i")
        assert item["key"] == "PRIMARY" and int(item["rows"]) <= 2 * len(ids), plan
    await sp.cancel(run.id)


async def _dispatch_only(h: Harness, sp: SyncPay, runs: int) -> None:
    """Run just the pending dispatcher jobs (they sort before every student job)."""
    for _ in range(runs):
        assert await run_next_job(sp) == "sync.dispatch"


async def _drain(h: Harness, sp: SyncPay, workers: int = 4) -> None:
    """Run workers until no student job is left, then stop them."""
    worker = h.worker(sp, workers)
    worker.start()
    await until(lambda: _queue_empty(h, worker), 30, what="the queue to empty")
    await worker.close()


async def _queue_empty(h: Harness, worker: Worker) -> bool:
    return not await rows(h.db, "ts_jobs") and worker.running == 0


async def test_student_removed_mid_run_still_ends_the_run(h: Harness) -> None:
    sim = await h.simulator()
    roster = await h.students(20, seed=61)
    sp = h.syncpay(sim)
    run = await sp.start()
    await _dispatch_only(h, sp, 1)
    assert len(await student_jobs(h.db)) == 20
    gone = roster[7]["idperson"]
    kept = [s for s in roster if s["idperson"] != gone]
    assert (await import_rows(h.db, enumerate(kept, start=2), prune=True)).pruned == 1
    await _drain(h, sp)
    ended = await sp.sync.get(run.id)
    # Its job ran and ended: the run must end too (not wait for it forever).
    assert (ended.status, ended.processed) == ("completed", ended.total), ended


async def test_removed_student_is_not_counted_by_a_run_that_never_covered_it(h: Harness) -> None:
    sim = await h.simulator(not_found_rate=0.3)
    roster = await h.students(40, seed=67)
    unit = "SMP"
    in_unit = {s["idperson"] for s in roster if s["UnitFormal"] == unit}
    outside = [
        s["idperson"]
        for s in roster
        if s["UnitFormal"] != unit and sim.category(s["idperson"]) == "not_found"
    ]
    assert in_unit and outside
    gone = outside[0]
    sp = h.syncpay(sim)
    everyone = await sp.start()
    scoped = await sp.start(unit=unit)
    await _dispatch_only(h, sp, 2)
    kept = [s for s in roster if s["idperson"] != gone]
    assert (await import_rows(h.db, enumerate(kept, start=2), prune=True)).pruned == 1
    await _drain(h, sp)

    unit_run = await sp.sync.get(scoped.id)
    counted = set(await items_of(h.db, scoped.id))
    assert counted == in_unit, (
        f"unit run counted {sorted(counted - in_unit)} (not in {unit}; {gone} was removed) "
        f"and never counted its own {sorted(in_unit - counted)}"
    )
    failing = {i for i in in_unit if sim.category(i) == "not_found"}
    assert (unit_run.status, unit_run.processed, unit_run.failed) == (
        "completed",
        len(in_unit),
        len(failing),
    )
    all_run = await sp.sync.get(everyone.id)
    assert (all_run.status, all_run.processed) == ("completed", all_run.total)


async def test_student_added_mid_run_does_not_take_another_students_place(h: Harness) -> None:
    # A new student is registered while the all-run goes, and "sync now" is pressed on
    # their page. The all-run queued 20 students: all 20 must still be synced.
    sim = await h.simulator()
    roster = await h.students(21, seed=71)
    newcomer = roster[-1]
    await import_rows(h.db, enumerate(roster[:-1], start=2), prune=True)  # 20 at first
    sp = h.syncpay(sim)
    run = await sp.start()
    await _dispatch_only(h, sp, 1)
    queued = {j["unique_key"][6:] for j in await student_jobs(h.db)}
    assert len(queued) == 20
    await import_rows(h.db, enumerate(roster, start=2))  # the newcomer arrives
    single = await sp.start(idpersons=[newcomer["idperson"]])
    await _drain(h, sp)

    ended = await sp.sync.get(run.id)
    one = await sp.sync.get(single.id)
    assert (one.status, one.processed) == ("completed", 1)
    assert ended.status == "completed"
    never = queued - await synced_ids(h.db)
    assert never == set(), f"students of the run never synced: {never}"
    counted = set(await items_of(h.db, run.id))
    assert queued <= counted, f"queued by the run but never counted: {queued - counted}"
    assert ended.processed == ended.total == len(counted)


# --- following the activity log -------------------------------------------------------------


async def test_log_followed_with_after_log_misses_no_line(h: Harness) -> None:
    # 250 students, all unknown to the API (404, failed at once): more than 200 log
    # lines appear between two polls of a follower that has seen the start line.
    sim = await h.simulator(not_found_rate=1.0)
    await h.students(250, seed=73)
    sp = h.syncpay(sim)
    run = await sp.start()
    first = await sp.sync.progress(run.id)
    assert len(first.logs) == 1
    after = first.logs[0].id
    done = await asyncio.wait_for(sp.wait(run.id, workers=8), 60)
    assert (done.status, done.failed) == ("completed", 250)

    every = [int(line["id"]) for line in await log_lines(h.db, run.id)]
    assert len(every) > 201
    seen = [after]
    for _ in range(10):
        state = await sp.sync.progress(run.id, after_log=after)
        if not state.logs:
            break
        ids = [line.id for line in state.logs]
        assert all(i > after for i in ids)
        seen += ids
        after = max(ids)
    missed = sorted(set(every) - set(seen))
    assert missed == [], f"{len(missed)} log lines never shown to the follower: {missed}"


# --- scopes written in another letter case ----------------------------------------------------


@pytest.mark.parametrize(
    "scope",
    [{"unit": "smp"}, {"kelas": "vii c"}, {"idpersons": ["ab12"]}],
    ids=["unit", "kelas", "idperson"],
)
async def test_scope_in_other_letter_case_never_leaves_a_run_hanging(
    h: Harness, scope: dict
) -> None:
    # The roster stores idpersons in upper case "so that MySQL and SQLite agree"; a unit,
    # class or id typed in lower case (`syncpay sync --unit smp`) must either be refused
    # or run to its end — never start a run that can never end.
    sim = await h.simulator()
    await h.students(30, seed=79)
    extra = {"idperson": "ab12", "nama": "Uji Huruf", "UnitFormal": "SMP", "KelasFormal": "VII C"}
    assert not (await import_rows(h.db, [(2, extra)])).invalid
    sp = h.syncpay(sim)
    try:
        run = await sp.start(**scope)
    except NoStudents:
        return  # refused: fine
    await _drain(h, sp)
    ended = await sp.sync.get(run.id)
    assert (ended.status, ended.processed) == ("completed", ended.total), ended
    counted = set(await items_of(h.db, run.id))
    assert len(counted) == ended.total and counted <= await synced_ids(h.db)


# --- dispatch: the students a run queues, a chunk per transaction ----------------------------

_DISPATCH_QUERIES = {
    "td_jobs": (
        "SELECT queue, payload, attempts, reserved_at, sort_key, unique_key FROM {jobs}"
        " WHERE unique_key LIKE 'siswa:%' ORDER BY sort_key, id"
    ),
    # A dispatcher that died after the chunk ending at :cursor: what it queued later never
    # committed, nor did its end.
    "td_forget_items": "DELETE FROM sync_run_items WHERE run_id = :run_id AND idperson > :cursor",
    "td_forget_jobs": "DELETE FROM {jobs} WHERE unique_key > :key AND unique_key LIKE 'siswa:%'",
    "td_rewind": (
        "UPDATE sync_runs SET dispatched = 0, dispatch_cursor = :cursor WHERE id = :run_id"
    ),
}
_UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def _teach_dispatch(h: Harness) -> None:
    for name, sql in _DISPATCH_QUERIES.items():
        h.db.queries.update(
            parse_queries(
                f"-- name: {name}\n{sql}\n", h.db.placeholder, {"jobs": h.settings.db_queue_table}
            )
        )


async def _queued_in_order(h: Harness, sp: SyncPay, expected: list[str]) -> None:
    """The student jobs are exactly ``expected``, taken in that order, each written as
    ``Queue.push_many`` writes a job (the payload's format is the queue's)."""
    jobs = await h.db.fetch_all("td_jobs")
    assert [j["unique_key"] for j in jobs] == [f"siswa:{i}" for i in expected]
    keys = [int(j["sort_key"]) for j in jobs]
    assert keys == sorted(set(keys)), "sort keys must be distinct and follow idperson"
    tries = sp.settings.sync_tries
    template = Payload.create(STUDENT_JOB, max_tries=tries)
    uuids = set()
    for idperson, job in zip(expected, jobs, strict=True):
        payload = Payload.parse(job["payload"])
        assert (payload.job, payload.data, payload.max_tries) == (
            STUDENT_JOB,
            {"idperson": idperson},
            tries,
        )
        assert job["payload"] == template.encode_with(payload.uuid, {"idperson": idperson})
        assert _UUID4.fullmatch(payload.uuid), payload.uuid
        uuids.add(payload.uuid)
        assert (job["queue"], int(job["attempts"]), job["reserved_at"]) == (
            sp.settings.db_queue,
            0,
            None,
        )
    assert len(uuids) == len(expected)


@pytest.mark.parametrize("scope", ["all", "unit", "ids"])
async def test_dispatch_in_chunks_queues_each_student_once(h: Harness, scope: str) -> None:
    _teach_dispatch(h)
    sim = await h.simulator()
    roster = await h.students(40, seed=83)
    ids = sorted(s["idperson"] for s in roster)
    unit = roster[0]["UnitFormal"]
    chosen = ids[::3]
    kwargs, expected = {
        "all": ({}, ids),
        "unit": ({"unit": unit}, sorted(s["idperson"] for s in roster if s["UnitFormal"] == unit)),
        # Ids that are no students are skipped (and still move the cursor on).
        "ids": ({"idpersons": ["0", *chosen, "ZZ99"]}, chosen),
    }[scope]
    assert 7 < len(expected) < len(roster) or scope == "all"
    sp = h.syncpay(sim)
    sp.runtime.dispatch_chunk = 7  # several transactions
    run = await sp.start(**kwargs)
    assert await run_next_job(sp) == "sync.dispatch"

    run = await sp.sync.get(run.id)
    assert (run.dispatched, run.total) == (True, len(expected))
    items = await items_of(h.db, run.id)
    assert sorted(items) == expected
    assert {r["status"] for r in items.values()} == {"queued"}
    await _queued_in_order(h, sp, expected)
    await _drain(h, sp)
    done = await sp.sync.get(run.id)
    assert (done.status, done.processed, done.failed) == ("completed", len(expected), 0)


async def test_sync_chunk_sizes_the_dispatch_transactions(h: Harness) -> None:
    """SYNC_CHUNK (SPEC §4) is the students queued per dispatch transaction: each chunk's
    jobs share the chunk's random uuid head, so the heads count the transactions."""
    _teach_dispatch(h)
    sim = await h.simulator()
    roster = await h.students(30, seed=97)
    ids = sorted(s["idperson"] for s in roster)
    sp = h.syncpay(sim, sync_chunk="7")  # the setting only: nothing set by hand
    run = await sp.start()
    assert await run_next_job(sp) == "sync.dispatch"

    run = await sp.sync.get(run.id)
    assert (run.dispatched, run.total) == (True, 30)
    await _queued_in_order(h, sp, ids)  # each student queued exactly once
    heads: dict[str, list[str]] = {}
    for job in await h.db.fetch_all("td_jobs"):
        heads.setdefault(Payload.parse(job["payload"]).uuid[:24], []).append(job["unique_key"])
    sizes = sorted((len(keys) for keys in heads.values()), reverse=True)
    assert sizes == [7, 7, 7, 7, 2], f"students per dispatch transaction: {sizes}"
    await _drain(h, sp)
    done = await sp.sync.get(run.id)
    assert (done.status, done.processed, done.failed) == ("completed", 30, 0)


async def test_dispatch_resumes_after_the_last_chunk_it_committed(h: Harness) -> None:
    _teach_dispatch(h)
    sim = await h.simulator()
    roster = await h.students(30, seed=89)
    ids = sorted(s["idperson"] for s in roster)
    sp = h.syncpay(sim)
    sp.runtime.dispatch_chunk = 7
    run = await sp.start()
    assert await run_next_job(sp) == "sync.dispatch"
    # As if its process died after two chunks: the rest never committed.
    cursor = ids[13]
    params = {"run_id": run.id, "cursor": cursor}

    async def crash(tx: Tx) -> None:
        await tx.execute("td_forget_items", params)
        await tx.execute("td_forget_jobs", {"key": f"siswa:{cursor}"})
        await tx.execute("td_rewind", params)
        await sp.queue.push(
            DISPATCH_JOB,
            {"run_id": run.id},
            sort_key=run.sort_base - 1,
            unique_key=dispatch_key(run.id),
            tx=tx,
        )

    await h.db.transact(crash)
    assert len(await items_of(h.db, run.id)) == 14
    assert await run_next_job(sp) == "sync.dispatch"  # its next delivery

    resumed = await sp.sync.get(run.id)
    assert (resumed.dispatched, resumed.total, resumed.dispatch_cursor) == (True, 30, ids[-1])
    assert sorted(await items_of(h.db, run.id)) == ids
    await _queued_in_order(h, sp, ids)  # the later chunks' keys follow the earlier ones
    await _drain(h, sp)
    done = await sp.sync.get(run.id)
    assert (done.status, done.processed, done.failed) == ("completed", 30, 0)


async def test_a_bill_falling_due_is_counted_though_the_answer_is_the_same(h: Harness) -> None:
    """Same answer, a later day: the totals change, so the row is rewritten ("done")."""
    from syncpay.sync.jobs import payment_digest

    sim = await h.simulator()
    roster = await h.students(1, seed=3)
    one = roster[0]["idperson"]
    sp = h.syncpay(sim)
    text = sim.answer_text(one)
    items = parse_flat(text).items
    early = compute_totals(items, date(2000, 1, 1))  # nothing due yet
    late = compute_totals(items, date(2100, 1, 1))  # everything due
    assert early.as_row() != late.as_row()
    for totals, expected in ((early, "done"), (early, "unchanged"), (late, "done")):
        run = await sp.start(idpersons=[one])
        assert await run_next_job(sp) == "sync.dispatch"
        digest = payment_digest(text, totals)

        async def deliver(tx: Tx, digest: str = digest, totals=totals) -> bool:
            return await record_success(tx, one, text, digest, totals, 1)

        assert await h.db.transact(deliver) is True
        assert (await items_of(h.db, run.id))[one]["status"] == expected
        await h.db.run_script("DELETE FROM jobs")
    stored = (await siswa_rows(h.db))[one]
    assert Decimal(str(stored["total_tunggakan"])) == late.total_tunggakan


# --- one student's unstorable text never freezes a run (#12, item 18) ----------------------


class _UnstorableSource:
    """A payment source whose answers carry what slips past the boundary: an error
    with a lone surrogate (an API that cut a string inside an emoji), and an answer
    nested deeper than MariaDB's JSON CHECK on ``pembayaran`` takes (SQLite takes it)."""

    DEEP = '{"data": [], "x": ' + "[" * 40 + "]" * 40 + "}"

    def __init__(self, bad_reason: set[str], deep: set[str]) -> None:
        self.bad_reason = bad_reason
        self.deep = deep

    async def fetch(self, idperson: str) -> str:
        if idperson in self.bad_reason:
            # Not a SourceError (whose reason the boundary cleans): text that slipped by.
            raise PermanentFailure("bad \ud800 thing")
        if idperson in self.deep:
            return self.DEEP
        return '{"data": []}'

    async def close(self) -> None:
        return None

    def describe(self) -> str:
        return "unstorable test source"


async def test_one_students_unstorable_text_never_freezes_the_run(h: Harness) -> None:
    sim = await h.simulator()
    roster = await h.students(12, seed=5)
    ids = sorted(s["idperson"] for s in roster)
    bad, deep = set(ids[:2]), set(ids[2:4])
    sp = h.syncpay(sim)
    sp.runtime._source = _UnstorableSource(bad, deep)
    run = await sp.start()
    worker = sp.worker(8)
    worker.start()
    try:
        done = await asyncio.wait_for(sp.sync.wait(run.id), 30)
    finally:
        worker.stop()
        assert worker.task is not None
        _finished, left = await asyncio.wait({worker.task}, timeout=10)
        for task in left:
            task.cancel()
    refused = deep if h.db.dialect == "mysql" else set()
    assert (done.status, done.processed, done.failed) == ("completed", 12, len(bad | refused))
    failed = {f.idperson: f.reason for f in await sp.failed_students(run.id)}
    assert set(failed) == bad | refused
    assert {failed[i] for i in bad} == {"bad \ufffd thing"}
    if refused:
        assert {failed[i] for i in refused} == {
            "the result could not be stored: the database refused it (CHECK pembayaran)"
        }
    assert await student_jobs(h.db) == []


async def test_a_waiter_is_woken_by_the_commit_that_ends_the_run(h: Harness) -> None:
    """Sync.wait (and the CLI's follow) looks at the run every ``poll`` seconds, and at
    once when a transaction of this process ends it: with a 60 s poll, only that wake
    can explain an end seen within the test's 30 s. Completed, and cancelled."""
    sim = await h.simulator()
    await h.students(20, seed=5)
    sp = h.syncpay(sim)
    run = await sp.start(started_by="tester")
    worker = h.worker(sp, 4)
    waiting = asyncio.ensure_future(sp.sync.wait(run.id, poll=60))
    await asyncio.sleep(0.2)  # the waiter has looked once and sleeps now
    assert not waiting.done()
    worker.start()
    done = await asyncio.wait_for(waiting, 30)
    assert (done.status, done.processed) == ("completed", 20)
    await worker.close()

    second = await sp.start(started_by="tester")  # no worker: it stays queued
    waiting = asyncio.ensure_future(sp.sync.wait(second.id, poll=60))
    await asyncio.sleep(0.2)
    assert not waiting.done()
    await sp.cancel(second.id, by="tester")
    assert (await asyncio.wait_for(waiting, 30)).status == "cancelled"
