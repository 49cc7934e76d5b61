"""The library API: ``import syncpay`` and drive syncs from a script.

    import asyncio, syncpay

    async def main() -> None:
        async with await syncpay.open() as sp:          # settings from .env / environment
            run = await sp.start(unit="SMP", started_by="script")
            run = await sp.wait(run.id, on_progress=lambda p: print(p.percent))
            print(run.status, run.succeeded, run.failed)

    asyncio.run(main())

``wait`` runs a worker pool of its own while it waits (``workers``, default
``SYNC_WORKERS``; 0 leaves the work to servers and workers running elsewhere).
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any

from . import metrics
from .config import Settings, load_settings
from .db import Database, connect, migrate, tables_for
from .officers import OfficerScope
from .queue import JobRegistry, Queue, Worker, WorkerOptions, builtin
from .students import Students
from .sync import jobs as sync_jobs
from .sync import notify
from .sync.jobs import STUDENT_JOB, SyncRuntime
from .sync.progress import Progress
from .sync.records import FailedStudent, Run
from .sync.scope import Scope

OnProgress = Callable[[Progress], Awaitable[None] | None]


class SyncPay:
    """One database, its queue and the sync over it. Nothing of it is process-wide: two
    of them on two databases work side by side in one process."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        self.runtime = SyncRuntime.create(settings, db)
        self.queue: Queue = self.runtime.queue
        self.sync = self.runtime.sync
        #: The students' list and pages (``syncpay/students/``).
        self.students = Students(db, settings)
        #: The job types this object's workers run: ``syncpay.noop``, the sync's two and
        #: its webhook (``sync.notify``); add your own with ``sp.jobs.collect(module)`` or
        #: ``sp.jobs.add(...)``.
        self.jobs = JobRegistry()
        self.jobs.collect(builtin, sync_jobs, notify)

    # --- runs ---------------------------------------------------------------------------

    async def start(
        self,
        *,
        unit: str | None = None,
        kelas: str | None = None,
        idpersons: Sequence[str] | None = None,
        started_by: str = "script",
        officer: OfficerScope | None = None,
    ) -> Run:
        """Start a run over everyone, a unit, a class or a list of students. With
        ``officer`` (a scoped petugas's scope, issue #15): over their own students when
        no scope is given, never everyone, and refused (``OutsideScope``) when a student
        of the scope asked for is not theirs."""
        scope = Scope(unit, kelas, tuple(idpersons) if idpersons is not None else None)
        if officer is not None and not officer.is_empty:
            scope = await self.sync.officer_scope(officer, started_by, scope)
        return await self.sync.start(scope, started_by)

    async def wait(
        self, run_id: int, on_progress: OnProgress | None = None, *, workers: int | None = None
    ) -> Run:
        """Until the run ends, running ``workers`` jobs at a time in this process."""
        count = self.settings.sync_workers if workers is None else workers
        if count <= 0:
            return await self.sync.wait(run_id, on_progress)
        worker = self.worker(count)
        worker.start()
        try:
            return await self.sync.wait(run_id, on_progress)
        finally:
            await worker.close()

    async def progress(self, run_id: int | None = None) -> Progress:
        return await self.sync.progress(run_id)

    async def cancel(
        self, run_id: int | None = None, *, by: str = "script", owner: str | None = None
    ) -> Run:
        """Cancel a run (the all-students one, else the newest, without ``run_id``);
        with ``owner``, only one that ``owner`` started."""
        return await self.sync.cancel(run_id, by, owner)

    async def reset(self) -> None:
        await self.sync.reset()

    async def failed_students(self, run_id: int, *, limit: int = 1000) -> list[FailedStudent]:
        return await self.sync.failed_students(run_id, limit=limit)

    async def retry_failed(
        self, run_id: int, *, started_by: str = "script", officer: OfficerScope | None = None
    ) -> Run:
        return await self.sync.retry_failed(run_id, started_by, officer)

    async def sync_one(self, idperson: str, *, workers: int | None = None) -> Run:
        """Sync one student now and wait for it (a couple of seconds)."""
        run = await self.start(idpersons=[idperson], started_by="script")
        return await self.wait(run.id, workers=1 if workers is None else workers)

    # --- workers ------------------------------------------------------------------------

    def worker(self, concurrency: int | None = None, **options: Any) -> Worker:
        """A worker pool for this database's queue (``start()`` it, ``close()`` it)."""
        s = self.settings
        opts = WorkerOptions(
            queues=(s.db_queue,),
            concurrency=concurrency or s.sync_workers,
            tries=s.sync_tries,
            timeout=s.sync_timeout,
            backoff=s.sync_backoff,
            retry_after=s.db_queue_retry_after,
            **({"sleep": 1.0} | options),
        )
        return Worker(self.queue, self.jobs, opts, app=self.runtime, observers=[metrics.JOB_EVENTS])

    async def cancel_in_flight(self, worker: Worker) -> int:
        """Cancel the running student jobs no active run needs any more."""
        needed = await self.sync.still_needed()
        return worker.cancel_jobs(
            lambda p: p.job == STUDENT_JOB and not needed(str(p.data.get("idperson")))
        )

    # --- the database --------------------------------------------------------------------

    async def ping(self) -> None:
        """Ask the database something; raises when it cannot answer."""
        await self.db.fetch_value("sync_now")

    def free_space(self) -> int | None:
        """Free bytes where an SQLite database is written (None: not SQLite, or unknown)."""
        return self.db.free_space()

    # --- lifecycle ----------------------------------------------------------------------

    async def close_runtime(self) -> None:
        """Release the payment source and the job runtime (the database stays open)."""
        with contextlib.suppress(Exception):
            await self.runtime.close()

    async def close(self) -> None:
        await self.close_runtime()
        await self.db.close()

    async def __aenter__(self) -> SyncPay:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


async def open(settings: Settings | None = None, **overrides: str) -> SyncPay:
    """Connect (settings from ``.env`` and the environment unless given), migrate, ready."""
    if settings is None:
        settings = load_settings({k.upper(): v for k, v in overrides.items()} or None)
    db = await connect(settings, create=True)
    try:
        await migrate(db, tables_for(settings))
    except BaseException:
        await db.close()
        raise
    return SyncPay(settings, db)


__all__ = ["SyncPay", "open"]
