"""The sync's two jobs: the dispatcher (queues a run's students) and the per-student job
(fetch, parse, compute, store), plus the runtime they need (source, parser, settings).

A process that runs them (``syncpay work``, the web server, ``syncpay sync``) opens a
:class:`SyncRuntime` and installs it with :func:`install` before its workers start.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from ..config import Settings
from ..db import Database, Tx
from ..queue import JobContext, Payload, PermanentFailure, Queue, RetryLater, registry
from .money import compute_totals
from .parsers import Parser, parser_for
from .runs import (
    DISPATCH_JOB,
    STUDENT_JOB,
    Run,
    Sync,
    log_completion,
    log_line,
    record_failure,
    record_success,
)
from .runs import student_key as _student_key
from .sources import PaymentSource, SourceError, open_source

log = logging.getLogger("syncpay.sync")

#: Students pushed per transaction by the dispatcher (several SYNC_CHUNK inserts each).
ROWS_PER_TRANSACTION = 2000


@dataclass
class SyncRuntime:
    settings: Settings
    db: Database
    queue: Queue
    sync: Sync
    parser: Parser
    _source: PaymentSource | None = None
    _opening: asyncio.Lock = field(default_factory=asyncio.Lock)

    @classmethod
    def create(cls, settings: Settings, db: Database, queue: Queue | None = None) -> SyncRuntime:
        queue = queue or Queue(
            db, default_queue=settings.db_queue, connection=settings.queue_connection
        )
        return cls(
            settings=settings,
            db=db,
            queue=queue,
            sync=Sync(db, queue, chunk=settings.sync_chunk),
            parser=parser_for(settings),
        )

    async def source(self) -> PaymentSource:
        """The payment source, opened on first use (once, however many jobs ask)."""
        if self._source is None:
            async with self._opening:
                if self._source is None:
                    self._source = await open_source(self.settings)
        return self._source

    async def close(self) -> None:
        source, self._source = self._source, None
        if source is not None:
            await source.close()


_runtime: SyncRuntime | None = None


def install(runtime: SyncRuntime | None) -> None:
    """Make ``runtime`` the one the sync jobs of this process use (None: uninstall)."""
    global _runtime
    _runtime = runtime


def current() -> SyncRuntime:
    if _runtime is None:
        raise RuntimeError("the sync runtime is not installed in this process")
    return _runtime


# --- the dispatcher -------------------------------------------------------------------------


class _Cancelled(Exception):
    """The run was cancelled while a chunk was being queued: roll the chunk back."""


async def dispatch(job: JobContext) -> None:
    """Queue one student job per student of the run, a chunk at a time (flat memory).

    Resumable: the cursor (last idperson queued) is saved with each chunk, and pushing
    a student already queued only moves that job forward."""
    rt = current()
    run = await rt.sync.get(int(job.data["run_id"]))
    if not run.is_running:
        return
    cursor = run.dispatch_cursor or ""
    offset = 0
    chunk = rt.settings.sync_chunk
    while True:
        batch = await _next_students(rt.db, run, cursor, ROWS_PER_TRANSACTION)
        if not batch:
            break
        last = batch[-1]

        async def push(
            tx: Tx, batch: list[str] = batch, last: str = last, at: int = offset
        ) -> bool:
            await tx.insert_many(
                "sync_items_queue", [{"run_id": run.id, "idperson": i} for i in batch]
            )
            for start in range(0, len(batch), chunk):
                await rt.queue.push_many(
                    STUDENT_JOB,
                    ({"idperson": i} for i in batch[start : start + chunk]),
                    sort_key=run.sort_base + at + start,
                    sort_step=1,
                    unique_key=lambda data: _student_key(data["idperson"]),
                    max_tries=rt.settings.sync_tries,
                    tx=tx,
                    chunk=chunk,
                )
            # Last, and locking the run row on MySQL (jobs first, then the run: the
            # order the students' acks take): a cancel that committed meanwhile rolls
            # this chunk back; one that comes later finds these jobs to delete.
            if await tx.fetch_value("sync_run_status", {"id": run.id}) != "running":
                raise _Cancelled
            await tx.execute("sync_run_set_cursor", {"id": run.id, "cursor": last})
            return True

        try:
            await rt.db.transact(push)
        except _Cancelled:
            return
        offset += len(batch)
        cursor = last

    async def finish(tx: Tx) -> None:
        if not await tx.execute("sync_run_dispatched", {"id": run.id}):
            return
        queued = await tx.fetch_one("sync_run_get", {"id": run.id})
        assert queued is not None
        await log_line(tx, run.id, f"{queued['total']} siswa masuk antrean")
        if await tx.execute("sync_run_complete", {"id": run.id}):
            await log_completion(tx, run.id)

    await rt.db.transact(finish)


async def _next_students(db: Database, run: Run, cursor: str, limit: int) -> list[str]:
    scope = run.scope
    if scope.idpersons is not None:
        ids = [i for i in scope.idpersons if i > cursor][:limit]
        if not ids:
            return []
        rows = await db.fetch_all("siswa_ids_in", {"ids": ids})
        found = [str(r["idperson"]) for r in rows]
        # Ids that are not (or no longer) students still move the cursor on.
        return found if found else (await _next_students(db, run, ids[-1], limit))
    rows = await db.fetch_all(
        "siswa_ids_after",
        {"cursor": cursor, "unit": scope.unit, "kelas": scope.kelas, "limit": limit},
    )
    return [str(r["idperson"]) for r in rows]


# --- one student ----------------------------------------------------------------------------


async def sync_student(job: JobContext) -> None:
    """Fetch, parse and compute one student's payments; store and count them with the
    job's ack. Errors are retried by the queue; 429/503 wait their Retry-After without
    spending an attempt; an answer that cannot get better (4xx) fails at once."""
    rt = current()
    idperson = str(job.data["idperson"])
    source = await rt.source()
    try:
        answer = await source.fetch(idperson)
    except SourceError as exc:
        if exc.permanent:
            raise PermanentFailure(exc.reason) from exc
        if exc.retry_after is not None:
            delay = math.ceil(exc.retry_after)
            raise RetryLater(delay, exc.reason, count_attempt=False) from exc
        raise
    parsed = rt.parser(answer)
    totals = compute_totals(parsed.items, date.today())
    digest = hashlib.sha256(answer.encode("utf-8")).hexdigest()
    attempts = job.attempts

    async def store(tx: Tx) -> None:
        await record_success(tx, idperson, answer, digest, totals, attempts)

    job.on_success(store)


async def student_failed(tx: Tx, payload: Payload, reason: str, attempts: int) -> None:
    await record_failure(tx, str(payload.data.get("idperson")), reason, attempts)


async def dispatch_failed(tx: Tx, payload: Payload, reason: str, attempts: int) -> None:
    """A run whose students cannot be queued would never end: cancel it, saying why."""
    run_id: Any = payload.data.get("run_id")
    if run_id is None:
        return
    await log_line(tx, int(run_id), f"Penjadwalan siswa gagal: {reason}", "error")
    if await tx.execute("sync_run_cancel", {"id": int(run_id)}):
        await log_line(tx, int(run_id), "Sinkronisasi dibatalkan oleh sistem", "warning")


registry.add(DISPATCH_JOB, dispatch, failed=dispatch_failed)
registry.add(STUDENT_JOB, sync_student, failed=student_failed)
