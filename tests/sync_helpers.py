"""Shared helpers for the sync tests (``test_sync.py``, ``test_sync_processes.py``).

Everything talks to a real `Simulator` over HTTP and a real database; nothing in
syncpay is patched. The assertions read the tables with a few test-only queries that
are taught to one `Database` object (the engine's query files stay as they are).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from syncpay.config import Settings
from syncpay.db import Database, connect
from syncpay.db.queries import parse_queries
from syncpay.queue import JobContext, Payload, Worker
from syncpay.service import SyncPay
from syncpay.simulator import Simulator, SimulatorOptions, demo_students
from syncpay.students import import_rows
from syncpay.sync.money import compute_totals
from syncpay.sync.parsers import parse_flat
from syncpay.sync.progress import Progress

_QUERIES = {
    "ts_siswa": (
        "SELECT idperson, nama, UnitFormal, KelasFormal, pembayaran, pembayaran_hash,"
        " total_tagihan, total_dibayar, total_tunggakan, total_kelebihan, is_lunas,"
        " synced_at, sync_error, updated_at FROM siswa ORDER BY idperson"
    ),
    "ts_synced_ids": "SELECT idperson FROM siswa WHERE synced_at IS NOT NULL",
    "ts_items": (
        "SELECT idperson, status, attempts, reason FROM sync_run_items"
        " WHERE run_id = :run_id ORDER BY idperson"
    ),
    "ts_student_jobs": (
        "SELECT id, unique_key, reserved_at, attempts, sort_key FROM {jobs}"
        " WHERE unique_key LIKE 'siswa:%' ORDER BY id"
    ),
    "ts_jobs": "SELECT id, queue, payload, attempts, reserved_at, unique_key FROM {jobs}",
    "ts_runs": "SELECT * FROM sync_runs ORDER BY id",
    "ts_running": "SELECT * FROM sync_runs WHERE status = 'running' ORDER BY id",
    "ts_logs": "SELECT id, level, message FROM sync_logs WHERE run_id = :run_id ORDER BY id",
    "ts_log_keys": (
        "SELECT id, level, message, message_key, message_values FROM sync_logs"
        " WHERE run_id = :run_id ORDER BY id"
    ),
    "ts_failed_jobs": "SELECT COUNT(*) AS n FROM failed_jobs",
}
#: The sync's own tables; the ``db`` fixture of conftest does not empty them on MySQL.
SYNC_TABLES = ("sync_runs", "sync_run_items", "sync_logs")


def teach(db: Database, table: str = "jobs") -> Database:
    """Add the ``ts_*`` queries to this one Database object."""
    if "ts_siswa" not in db.queries:
        for name, sql in _QUERIES.items():
            db.queries.update(
                parse_queries(f"-- name: {name}\n{sql}\n", db.placeholder, {"jobs": table})
            )
    return db


async def rows(
    db: Database, name: str, params: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    return await teach(db).fetch_all(name, params)


async def items_of(db: Database, run_id: int) -> dict[str, dict[str, Any]]:
    """The run's per-student accounting rows by idperson."""
    return {str(r["idperson"]): r for r in await rows(db, "ts_items", {"run_id": run_id})}


async def siswa_rows(db: Database) -> dict[str, dict[str, Any]]:
    return {str(r["idperson"]): r for r in await rows(db, "ts_siswa")}


async def synced_ids(db: Database) -> set[str]:
    return {str(r["idperson"]) for r in await rows(db, "ts_synced_ids")}


async def student_jobs(db: Database) -> list[dict[str, Any]]:
    return await rows(db, "ts_student_jobs")


async def log_lines(db: Database, run_id: int) -> list[dict[str, Any]]:
    return await rows(db, "ts_logs", {"run_id": run_id})


async def clear_sync_tables(db: Database) -> None:
    await db.run_script(";\n".join(f"DELETE FROM {t}" for t in SYNC_TABLES))


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def stored_mismatches(
    sim: Simulator, stored: dict[str, dict[str, Any]], ids: set[str]
) -> list[str]:
    """Students of ``ids`` whose stored answer or totals differ from the simulator's."""
    today = date.today()
    wrong: list[str] = []
    for idperson in sorted(ids):
        row = stored.get(idperson)
        if row is None:
            wrong.append(f"{idperson}: no siswa row")
            continue
        text = sim.answer_text(idperson)
        if row["pembayaran"] != text:
            wrong.append(f"{idperson}: pembayaran differs from the simulator's answer")
            continue
        totals = compute_totals(parse_flat(text).items, today)
        got = (
            _decimal(row["total_tagihan"]),
            _decimal(row["total_dibayar"]),
            _decimal(row["total_tunggakan"]),
            _decimal(row["total_kelebihan"]),
            None if row["is_lunas"] is None else bool(row["is_lunas"]),
        )
        want = (
            totals.total_tagihan,
            totals.total_dibayar,
            totals.total_tunggakan,
            totals.total_kelebihan,
            totals.is_lunas,
        )
        if got != want:
            wrong.append(f"{idperson}: totals {got} != {want}")
    return wrong


@dataclass
class Sample:
    at: float
    total: int
    processed: int
    failed: int
    percent: float
    status: str


@dataclass
class Monitor:
    """Samples a run's progress every ``every`` seconds (until stopped) and records every
    breach of the invariants: failed ≤ processed ≤ total, percent ≤ 100, nothing moving
    backwards."""

    sp: SyncPay
    run_id: int
    every: float = 0.05
    samples: list[Sample] = field(default_factory=list)
    breaches: list[str] = field(default_factory=list)
    extra: list[Progress] = field(default_factory=list)
    keep: Callable[[Progress], bool] | None = None
    _task: asyncio.Task[None] | None = None

    def start(self) -> Monitor:
        self._task = asyncio.create_task(self._run())
        return self

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.sample()  # the final state too

    async def _run(self) -> None:
        while True:
            await self.sample()
            await asyncio.sleep(self.every)

    async def sample(self) -> None:
        p = await self.sp.progress(self.run_id)
        s = Sample(time.monotonic(), p.total, p.processed, p.failed, p.percent, p.status)
        if self.keep is not None and self.keep(p):
            self.extra.append(p)
        problems = []
        if not 0 <= s.failed <= s.processed <= s.total:
            problems.append("failed <= processed <= total broken")
        if s.percent > 100.0:
            problems.append("percent above 100")
        if self.samples:
            last = self.samples[-1]
            if s.processed < last.processed or s.failed < last.failed:
                problems.append(f"moved backwards from {last}")
            if s.percent < last.percent:
                problems.append(f"percent moved backwards from {last.percent}")
        if problems:
            self.breaches.append(f"{s}: {'; '.join(problems)}")
        self.samples.append(s)


class Harness:
    """One test's simulators, SyncPay objects, extra connections and workers; all of
    them closed at the end (the ``db`` fixture's own connection is left to it)."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = teach(db, settings.db_queue_table)
        self.sims: list[Simulator] = []
        self.pays: list[SyncPay] = []
        self.dbs: list[Database] = []
        self.workers: list[Worker] = []

    async def setup(self) -> Harness:
        await clear_sync_tables(self.db)
        return self

    async def simulator(self, **options: Any) -> Simulator:
        sim = Simulator(SimulatorOptions(**options))
        await sim.start()
        self.sims.append(sim)
        return sim

    def sync_settings(self, sim: Simulator, **extra: Any) -> Settings:
        base: dict[str, Any] = {
            "payment_source": "http",
            "payment_api_url": sim.payments_url,
            "sync_backoff": "0",
            "sync_tries": "3",
            "payment_api_timeout": "0.5",
            "payment_api_retry_after_max": "1",
        }
        return self.settings.replace(**(base | extra))

    def syncpay(self, sim: Simulator, db: Database | None = None, **extra: Any) -> SyncPay:
        sp = SyncPay(self.sync_settings(sim, **extra), db or self.db)
        self.pays.append(sp)
        return sp

    async def connection(self) -> Database:
        """A second connection (pool) to the same database."""
        other = await connect(self.settings)
        teach(other, self.settings.db_queue_table)
        self.dbs.append(other)
        return other

    async def students(self, n: int, seed: int = 0) -> list[dict[str, str]]:
        roster = demo_students(n, seed)
        report = await import_rows(self.db, enumerate(roster, start=2))
        assert not report.invalid, report.invalid
        return roster

    def worker(self, sp: SyncPay, concurrency: int, **options: Any) -> Worker:
        worker = sp.worker(concurrency, **({"sleep": 0.2} | options))
        self.workers.append(worker)
        return worker

    def track(self, worker: Worker) -> Worker:
        self.workers.append(worker)
        return worker

    async def close(self) -> None:
        for worker in self.workers:
            worker.stop("test over")
            worker.cancel_jobs(lambda _p: True)
        for worker in self.workers:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(worker.close(), 10)
        for sp in self.pays:
            with contextlib.suppress(Exception):
                await sp.runtime.close()
        for sim in self.sims:
            await sim.close()
        for other in self.dbs:
            with contextlib.suppress(Exception):
                await other.close()


async def run_next_job(sp: SyncPay) -> str:
    """Take the next job of the queue and run it to its ack, by hand (the queue's own
    verbs, no worker): exact control of which job runs. The job's name."""
    s = sp.settings
    claimed = await sp.db.transact(
        lambda tx: sp.queue.claim(
            tx, (s.db_queue,), 1, "test-by-hand", retry_after=s.db_queue_retry_after
        )
    )
    assert len(claimed) == 1, "no job to run"
    job = claimed[0]
    payload = Payload.parse(job.raw_payload)
    ctx = JobContext(job.id, job.queue, job.attempts, payload, app=sp.runtime)
    await sp.jobs.get(payload.job).handler(ctx)

    async def ack(tx: Any) -> None:
        assert await sp.queue.ack(tx, [job]) == {job.id}
        for hook in ctx.success_hooks:
            await hook(tx)

    await sp.db.transact(ack)
    return payload.job


async def until(
    check: Callable[[], Awaitable[bool]], timeout: float, every: float = 0.02, what: str = ""
) -> float:
    """Wait until ``check()`` is true; the seconds it took (AssertionError on timeout)."""
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or check}")
        await asyncio.sleep(every)
    return time.monotonic() - started
