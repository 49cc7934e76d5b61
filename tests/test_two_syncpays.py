"""No process globals: two ``SyncPay`` objects on two databases, in one process, syncing at
once, each against its own simulator. Each database gets exactly its own students with
exactly its own simulator's answers (the same ids, different answers): a job type, a
runtime or a worker shared through the process would mix them up."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import syncpay
from syncpay.config import Settings
from syncpay.simulator import demo_students
from syncpay.students.importing import import_rows
from tests.conftest import mysql_connect
from tests.sync_helpers import siswa_rows, stored_mismatches, synced_ids, teach


@contextlib.asynccontextmanager
async def second_database(settings: Settings, db_kind: str, tmp_path: Any) -> AsyncIterator[str]:
    """Another database next to the test's own: a second file, or a second MariaDB
    database (dropped at the end)."""
    if db_kind == "sqlite":
        yield str(tmp_path / "second.sqlite")
        return
    name = f"{settings.db_database}_b"
    conn = mysql_connect()
    try:
        with conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
            cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        yield name
    finally:
        with conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        conn.close()


async def test_two_syncpay_objects_on_two_databases_sync_at_once(
    h: Any, db_kind: str, tmp_path: Any
) -> None:
    sim_a = await h.simulator(seed=1)
    sim_b = await h.simulator(seed=2)
    roster_a = await h.students(30, seed=1)
    ids_a = {s["idperson"] for s in roster_a}
    roster_b = demo_students(45, seed=2)
    ids_b = {s["idperson"] for s in roster_b}
    shared = sorted(ids_a & ids_b)
    # The same students answered differently: a mix-up would show in what is stored.
    assert shared and sim_a.answer_text(shared[0]) != sim_b.answer_text(shared[0])
    sp_a = h.syncpay(sim_a)
    async with second_database(h.settings, db_kind, tmp_path) as name:
        sp_b = await syncpay.open(h.sync_settings(sim_b, db_database=name))
        try:
            teach(sp_b.db, sp_b.settings.db_queue_table)
            report = await import_rows(sp_b.db, enumerate(roster_b, start=2))
            assert not report.invalid
            run_a = await sp_a.start(started_by="a")
            run_b = await sp_b.start(started_by="b")
            done_a, done_b = await asyncio.wait_for(
                asyncio.gather(sp_a.wait(run_a.id, workers=4), sp_b.wait(run_b.id, workers=4)),
                60,
            )
            got = [(r.status, r.total, r.processed, r.failed) for r in (done_a, done_b)]
            assert got == [("completed", 30, 30, 0), ("completed", 45, 45, 0)]
            assert await synced_ids(h.db) == ids_a
            assert await synced_ids(sp_b.db) == ids_b
            assert stored_mismatches(sim_a, await siswa_rows(h.db), ids_a) == []
            assert stored_mismatches(sim_b, await siswa_rows(sp_b.db), ids_b) == []
            # Each queue is empty: no job went to the other database's queue.
            assert await sp_a.queue.size() == 0 and await sp_b.queue.size() == 0
        finally:
            await sp_b.close()
