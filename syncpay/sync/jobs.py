"""The sync's two jobs: the dispatcher (queues a run's students) and the per-student job
(fetch, parse, compute, store), plus the runtime they need (source, parser, settings).

Both are job types (:func:`~syncpay.queue.job_type`) that ``SyncPay`` collects into its
own registry; a worker pool that runs them is given the :class:`SyncRuntime` of its
``SyncPay`` (``Worker(..., app=sp.runtime)``, as ``SyncPay.worker`` does) and each handler
finds it on its job's context (:func:`runtime_of`). Nothing here is process-wide: two
``SyncPay`` objects on two databases sync side by side in one process.
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
from ..db.cache import Cache
from ..officers import scope_params
from ..queue import (
    FailureReason,
    JobContext,
    Payload,
    PermanentFailure,
    Queue,
    RetryLater,
    job_type,
)
from ..queue.payload import new_uuid
from . import ended
from .accounting import prefetch_covering, record_failure, record_retry, record_success
from .activity import log_completion, log_line
from .keys import DISPATCH_JOB, STUDENT_JOB, STUDENT_KEY_PREFIX
from .money import Totals, compute_totals
from .parsers import Parser, parser_for, storable_answer
from .records import Run
from .runs import Sync
from .sources import PaymentSource, RateLimits, SourceError, open_source

log = logging.getLogger("syncpay.sync")


@dataclass
class SyncRuntime:
    settings: Settings
    db: Database
    queue: Queue
    sync: Sync
    parser: Parser
    #: Students the dispatcher queues per transaction (``SYNC_CHUNK``). Each chunk is two
    #: INSERT … SELECT statements (the run's items from ``siswa``, then their jobs from
    #: those items): no student id or payload goes through Python, so the size is bounded
    #: by how long a transaction may hold its locks, not by parameters or packet sizes.
    dispatch_chunk: int
    #: The payment API's rate budget, kept across a source closed and opened again.
    rate_limits: RateLimits = field(default_factory=RateLimits)
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
            sync=Sync(db, queue, notify_urls=settings.sync_notify_url),
            parser=parser_for(settings),
            dispatch_chunk=settings.sync_chunk,
        )

    async def source(self) -> PaymentSource:
        """The payment source, opened on first use (once, however many jobs ask)."""
        if self._source is None:
            async with self._opening:
                if self._source is None:
                    self._source = await open_source(self.settings, self.rate_limits)
        return self._source

    async def close(self) -> None:
        source, self._source = self._source, None
        if source is not None:
            await source.close()


def runtime_of(job: JobContext) -> SyncRuntime:
    """The runtime the worker running ``job`` was given (``JobContext.app``)."""
    runtime = job.app
    if not isinstance(runtime, SyncRuntime):
        raise RuntimeError(
            "the sync jobs need a worker given the SyncRuntime (Worker(..., app=sp.runtime))"
        )
    return runtime


# --- the dispatcher -------------------------------------------------------------------------

_UUID_MARK = "@uuid@"
_ID_MARK = "@idperson@"


class _Cancelled(Exception):
    """The run was cancelled while a chunk was being queued: roll the chunk back."""


@dataclass(frozen=True, slots=True)
class StudentPayload:
    """A student job's payload JSON cut around its uuid and its ``idperson``, so that SQL
    can write it the way ``Queue.push_many`` would (the queue keeps its format)."""

    head: str
    middle: str
    tail: str

    @classmethod
    def for_tries(cls, max_tries: int) -> StudentPayload:
        template = Payload.create(STUDENT_JOB, max_tries=max_tries)
        probe = template.encode_with(_UUID_MARK, {"idperson": _ID_MARK})
        head, _, rest = probe.partition(_UUID_MARK)
        middle, _, tail = rest.partition(f'"{_ID_MARK}"')
        if not tail or _UUID_MARK in rest or _ID_MARK in tail:
            raise RuntimeError(f"unexpected payload layout: {probe}")
        return cls(head, middle, tail)

    def chunk_params(self) -> dict[str, str]:
        """The parameters of one chunk: a fresh random uuid head (a v4 uuid's first 24
        characters); SQL appends the row's number in the chunk as its last 12 digits."""
        return {"head": self.head + new_uuid()[:24], "middle": self.middle, "tail": self.tail}


@dataclass
class _Dispatch:
    """One dispatcher job's way through its run's students: the chunks it queues, each
    one transaction, from ``cursor`` (the last idperson queued) on."""

    rt: SyncRuntime
    run: Run
    payload: StudentPayload
    cursor: str = ""
    #: Students queued before this chunk: the chunk's sort keys start after theirs.
    offset: int = 0

    async def push(self, tx: Tx) -> tuple[str, int] | None:
        """Queue the chunk after ``cursor``; its last student and size (None: done)."""
        run = self.run
        jobs = {
            "run_id": run.id,
            "queue": self.rt.queue.default_queue,
            "sort_key": run.sort_base + self.offset,
            "key_prefix": STUDENT_KEY_PREFIX,
            **self.payload.chunk_params(),
        }
        if run.scope.idpersons is not None:
            chunk = await self._push_ids(tx, run.scope.idpersons, jobs)
        else:
            chunk = await self._push_range(tx, jobs)
        if chunk is None:
            return None
        # Last, and locking the run row on MySQL (jobs first, then the run: the order
        # the students' acks take): a cancel that committed meanwhile rolls this chunk
        # back; one that comes later finds these jobs to delete.
        if await tx.fetch_value("sync_run_status", {"id": run.id}) != "running":
            raise _Cancelled
        await tx.execute("sync_run_set_cursor", {"id": run.id, "cursor": chunk[0]})
        tx.after_commit(self.rt.queue.wake_workers)  # wake this process's idle workers
        return chunk

    @property
    def limit(self) -> int:
        return max(1, self.rt.dispatch_chunk)

    async def _push_ids(
        self, tx: Tx, ids: tuple[str, ...], jobs: dict[str, Any]
    ) -> tuple[str, int] | None:
        """The next chunk of a run over a list of ids."""
        chunk = [i for i in ids if i > self.cursor][: self.limit]
        if not chunk:
            return None
        # Ids that are not (or no longer) students still move the cursor on.
        await tx.execute("sync_items_queue_ids", {"run_id": self.run.id, "ids": chunk})
        await tx.execute("sync_jobs_push_ids", {**jobs, "ids": chunk})
        return chunk[-1], len(chunk)

    async def _push_range(self, tx: Tx, jobs: dict[str, Any]) -> tuple[str, int] | None:
        """The next chunk of a run over a unit, a class or everyone (by idperson)."""
        run = self.run
        where = {"run_id": run.id, "cursor": self.cursor, "limit": self.limit}
        scope = {"unit": run.scope.unit, "kelas": run.scope.kelas}
        query = "sync_items_queue_next"
        if run.scope.officer is not None:  # an officer's students (issue #15)
            query, scope = "sync_items_queue_next_officer", scope_params(run.scope.officer)
        await tx.execute(query, {**where, **scope})
        end = await tx.fetch_one("sync_items_chunk_end", where)
        if end is None or end["last"] is None:
            return None
        last = str(end["last"])
        await tx.execute("sync_jobs_push_range", {**jobs, "cursor": self.cursor, "last": last})
        return last, int(end["n"])


async def dispatch_failed(tx: Tx, payload: Payload, reason: str, attempts: int) -> None:
    """A run whose students cannot be queued would never end: cancel it, saying why."""
    run_id: Any = payload.data.get("run_id")
    if run_id is None:
        return
    await log_line(tx, int(run_id), "dispatch_failed", "error", reason=str(reason))
    if await tx.execute("sync_run_cancel", {"id": int(run_id)}):
        await log_line(tx, int(run_id), "cancelled_by_system", "warning")
        await ended.run_ended(tx, int(run_id))


@job_type(DISPATCH_JOB, failed=dispatch_failed)
async def dispatch(job: JobContext) -> None:
    """Queue one student job per student of the run, a chunk at a time (flat memory).

    A chunk is one transaction of two INSERT … SELECT: the run's items (the students it
    counts, decided here once) from ``siswa``, then one job per item. Resumable: the
    cursor (last idperson queued) is saved with each chunk, and pushing a student
    already queued only moves that job forward."""
    rt = runtime_of(job)
    run = await rt.sync.get(int(job.data["run_id"]))
    if not run.is_running:
        return
    payload = StudentPayload.for_tries(rt.settings.sync_tries)
    work = _Dispatch(rt, run, payload, cursor=run.dispatch_cursor or "")
    if work.cursor:
        work.offset = int(await rt.db.fetch_value("sync_items_count", {"run_id": run.id}) or 0)
    while True:
        try:
            done = await rt.db.transact(work.push)
        except _Cancelled:
            return
        if done is None:
            break
        work.cursor = done[0]
        work.offset += done[1]

    async def finish(tx: Tx) -> None:
        if not await tx.execute("sync_run_dispatched", {"id": run.id}):
            return
        queued = await tx.fetch_one("sync_run_get", {"id": run.id})
        assert queued is not None
        await log_line(tx, run.id, "queued", "info", total=int(queued["total"]))
        if await tx.execute("sync_run_complete", {"id": run.id}):
            await log_completion(tx, run.id)
            await ended.run_ended(tx, run.id)

    await rt.db.transact(finish)


# --- one student ----------------------------------------------------------------------------


def payment_digest(answer: str, totals: Totals) -> str:
    """What "unchanged" compares: the answer *and* the totals it gives today, so a bill
    that falls due is counted even when the finance system's answer stayed the same."""
    row = ";".join(f"{k}={v}" for k, v in totals.as_row().items())
    return hashlib.sha256(f"{answer}\n{row}".encode()).hexdigest()


#: The cache key counting a student job's Retry-After waits (by the job's uuid, which
#: stays the same across its attempts), and how long it is kept.
RETRY_AFTER_WAITS_KEY = "syncpay:retry-after-waits:{uuid}"
RETRY_AFTER_WAITS_TTL = 7 * 86400


async def spend_retry_after_wait(rt: SyncRuntime, job: JobContext) -> bool:
    """Count one Retry-After wait of this job; whether it is still a free one (within
    PAYMENT_API_RETRY_AFTER_WAITS). The count lives in the database (``cache``), so it
    holds across workers, processes and restarts. Only the job's current holder writes
    it; a duplicate delivery may count one wait twice, which only ends the free waits
    one early."""
    allowed = rt.settings.payment_api_retry_after_waits
    if allowed <= 0:
        return False
    cache = Cache(rt.db)
    key = RETRY_AFTER_WAITS_KEY.format(uuid=job.uuid)
    waited = int(await cache.get(key) or 0)
    if waited >= allowed:
        return False
    await cache.put(key, str(waited + 1), RETRY_AFTER_WAITS_TTL)
    return True


async def student_failed(tx: Tx, payload: Payload, reason: FailureReason, attempts: int) -> None:
    idperson = str(payload.data.get("idperson"))
    await record_failure(tx, idperson, reason, attempts, cut_off=reason.cut_off)


async def student_retried(tx: Tx, payload: Payload, reason: str, attempts: int) -> None:
    await record_retry(tx, str(payload.data.get("idperson")), reason, attempts)


async def students_settling(tx: Tx, payloads: list[Payload]) -> None:
    await prefetch_covering(tx, [str(p.data.get("idperson")) for p in payloads])


@job_type(STUDENT_JOB, failed=student_failed, retried=student_retried, prepare=students_settling)
async def sync_student(job: JobContext) -> None:
    """Fetch, parse and compute one student's payments; store and count them with the
    job's ack. Errors are retried by the queue; 429/503 wait their Retry-After without
    spending an attempt, up to PAYMENT_API_RETRY_AFTER_WAITS times per student (after
    that each one is a failed attempt, so an API answering 429 for ever cannot keep a run
    open); an answer that cannot get better (4xx, too large, too many items) fails at
    once."""
    rt = runtime_of(job)
    idperson = str(job.data["idperson"])
    source = await rt.source()
    try:
        answer = await source.fetch(idperson)
    except SourceError as exc:
        if exc.permanent:
            raise PermanentFailure(exc.reason) from exc
        if exc.retry_after is not None:
            delay = math.ceil(exc.retry_after)
            free = await spend_retry_after_wait(rt, job)
            raise RetryLater(delay, exc.reason, count_attempt=not free) from exc
        raise
    # Made storable and printable once, here: what is stored, parsed and shown.
    answer = storable_answer(answer)
    parsed = rt.parser(answer)
    most = rt.settings.payment_api_max_items
    if len(parsed.items) > most:  # asking again gets the same answer
        raise PermanentFailure(
            f"answer with {len(parsed.items)} items, more than {most} (PAYMENT_API_MAX_ITEMS)"
        )
    totals = compute_totals(parsed.items, date.today())
    digest = payment_digest(answer, totals)
    attempts = job.attempts

    async def store(tx: Tx) -> None:
        await record_success(tx, idperson, answer, digest, totals, attempts)

    job.on_success(store)
