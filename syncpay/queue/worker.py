"""The worker pool: N jobs at a time in one process, embeddable or standalone.

*Pump* tasks do all of the pool's queue writes (one on SQLite). Each round is one transaction
that settles every job finished since the last round (ack, release or fail, with
the handlers' own writes) and claims as many new jobs as there are free slots. Under
load a round settles and claims many jobs at once; when idle a round costs nothing.
A *heartbeat* task renews the leases of the jobs being run, so a long job is never
handed to a second worker while this one is alive.

Delivery is at least once: a job may run again after a crash, or when its lease
lapsed while the database was unreachable. Accounting is exactly once: the writes a
job registers with ``on_success`` commit with its removal from ``jobs``, fenced by
the lease, so a second run of the same job cannot commit them again.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ..db import Database, DatabaseError, Tx
from ..db.cache import RESTART_KEY, Cache
from ..text import clean
from .jobs import (
    FailureReason,
    Hook,
    JobContext,
    JobRegistry,
    Payload,
    PayloadError,
    PermanentFailure,
    RetryLater,
)
from .queue import ClaimedJob, FailedItem, Queue, describe_exception, refusal

log = logging.getLogger("syncpay.worker")
job_log = logging.getLogger("syncpay.jobs")

#: A pool's presence: its row in ``workers`` (name, queues), written every PRESENCE_EVERY
#: seconds and expiring PRESENCE_TTL seconds later (the database's clock), deleted when
#: the pool stops. Whoever reads the database — any process, any machine — can tell
#: whether some pool serves a queue (:func:`serving`).
PRESENCE_EVERY = 2.0
PRESENCE_TTL = 10
#: Rows of pools that vanished (killed) are deleted this long after they expired.
PRESENCE_KEEP = 86400


async def serving(db: Database, queue: str) -> bool:
    """Whether a live worker pool (of any process or machine) serves ``queue``."""
    for row in await db.fetch_all("workers_live"):
        try:
            queues = json.loads(str(row["queues"]))
        except ValueError:
            continue
        if isinstance(queues, list) and queue in queues:
            return True
    return False


class JobTimedOut(Exception):
    """The job ran longer than its timeout and was cancelled."""


class MaxAttemptsExceeded(Exception):
    """The job was taken more often than it may be tried (its workers kept vanishing)."""


class ResultNotStored(Exception):
    """The writes a job registered with ``on_success`` were refused by the database (a
    CHECK, a column too short, text that is not valid Unicode): a failed attempt, whose
    reason says what was refused in words (the driver's error is its cause)."""


#: The reason stored for a failure whose own reason could not be stored either.
UNSTORABLE_REASON = "UnstorableFailure: the job failed, but its error could not be stored"


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    queues: tuple[str, ...] = ("sync-pembayaran",)
    concurrency: int = 8
    #: Jobs claimed ahead of the free slots, so jobs run while a round is in flight
    #: (None: one per slot on SQLite, three per slot on MySQL, where a round costs a
    #: network round trip per statement and a disk flush per commit).
    prefetch: int | None = None
    #: Rounds in flight at most (None: 1 on SQLite, which has one writer anyway; 4 on
    #: MySQL, where concurrent commits share their disk flush). A round starts beside
    #: one in flight only when work has piled up for it (see ``Worker._worth_a_round``):
    #: jobs that finish slowly are settled by one round at a time, in fewer statements.
    pumps: int | None = None
    tries: int = 3
    timeout: float = 600.0
    backoff: tuple[int, ...] = (10, 30, 60)
    sleep: float = 3.0
    retry_after: int = 660
    max_jobs: int = 0
    max_time: float = 0.0
    stop_when_empty: bool = False
    grace: float = 30.0
    expired_check: float = 1.0
    restart_check: float = 1.0
    #: Stop when ``queue:restart`` (or ``cache:clear``) asks. A server's in-process pool
    #: says no: stopping it would leave the server running without workers; the server
    #: process itself is restarted instead (``systemctl restart syncpay``).
    obey_restart: bool = True

    def __post_init__(self) -> None:
        if self.retry_after <= self.timeout:
            raise ValueError(
                f"retry_after ({self.retry_after}s) must be greater than the job timeout "
                f"({self.timeout:g}s): a job still running would be handed to a second worker"
            )
        if self.concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if not self.queues:
            raise ValueError("at least one queue is needed")

    @property
    def renew_every(self) -> float:
        return max(0.2, min(30.0, self.retry_after / 4))

    def delay_for(self, attempts: int, backoff: tuple[int, ...] | None) -> int:
        """Backoff after attempt ``attempts`` (1-based): the n-th value, then the last."""
        steps = backoff if backoff else self.backoff
        if not steps:
            return 0
        return steps[min(attempts, len(steps)) - 1]


Kind = Literal["ack", "release", "fail"]


@dataclass(slots=True)
class _Outcome:
    job: ClaimedJob
    kind: Kind
    hooks: list[Hook] = field(default_factory=list)
    delay: int = 0
    count_attempt: bool = True
    exception: str = ""
    done: asyncio.Future[bool] | None = None
    #: The job's payload when its hooks come from the registry's job (for ``prepare``).
    payload: Payload | None = None
    #: Settled once already in a transaction whose commit went unseen (it may have landed).
    unsure: bool = False


class WorkerObserver(Protocol):
    """What a pool reports as it happens, to whoever subscribed (``Worker.subscribe``):
    the metrics count it (``syncpay.metrics.JobEvents``). An observer must be quick and
    must not raise; it is called in the pool's own tasks."""

    def job_settled(self, kind: str, job: ClaimedJob, payload: Payload | None) -> None:
        """``job`` was settled for this pool: ``kind`` is ack, fail or release
        (``payload``: the job's, when the pool had parsed it)."""

    def job_ran(self, name: str, started: float) -> None:
        """The handler of a job named ``name`` returned or raised (``started``: its
        ``time.perf_counter()`` when it began)."""


@dataclass(slots=True)
class WorkerStats:
    done: int = 0
    failed: int = 0
    released: int = 0
    lost: int = 0


class Worker:
    """Runs jobs from ``queue`` with handlers from ``registry``."""

    def __init__(
        self,
        queue: Queue,
        registry: JobRegistry,
        options: WorkerOptions | None = None,
        *,
        name: str | None = None,
        observers: Iterable[WorkerObserver] = (),
    ) -> None:
        self.queue = queue
        self.registry = registry
        self.options = options or WorkerOptions()
        self.name = name or f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"
        # The lease tokens' prefix, unique per pool start; each round adds its own number
        # (``{worker_id}-{round}.{job id}.{attempt}``).
        self.worker_id = secrets.token_hex(6)
        self.stats = WorkerStats()
        self.observers: list[WorkerObserver] = list(observers)
        self._cache = Cache(queue.db)
        # By lease token: a job released and claimed again at once is a new attempt
        # while the old attempt's task is still settling.
        self._running: dict[str, tuple[ClaimedJob, asyncio.Task[None], Payload | None]] = {}
        self._outbox: list[_Outcome] = []
        self._ready: collections.deque[ClaimedJob] = collections.deque()
        # Jobs claimed ahead that started since the last round: their attempt is written
        # with the next round (Queue.count_started).
        self._started_ahead: list[ClaimedJob] = []
        self._settling = 0
        self._claiming = 0
        self._rounds = 0  # rounds in flight
        self._round_seq = 0
        # The tags of rounds whose transaction failed while it may have committed: a
        # later round claims under one again and adopts what it reserved (Queue.claim).
        self._unsure_tags: list[str] = []
        mysql = queue.db.dialect == "mysql"
        opts = self.options
        default_buffer = opts.concurrency * (3 if mysql else 1)
        self._buffer = default_buffer if opts.prefetch is None else max(0, opts.prefetch)
        self._pumps = opts.pumps or (4 if mysql else 1)
        self._wake = asyncio.Event()
        self._stopping = False
        self._stop_requested = asyncio.Event()
        self._stopped = asyncio.Event()
        self._idle_until = 0.0
        self._claimed = 0
        self._last_expired = 0.0
        self._last_restart_check = 0.0
        self._restart_mark: str | None = None
        self._task: asyncio.Task[None] | None = None
        self.stop_reason = ""

    def subscribe(self, observer: WorkerObserver) -> None:
        """Tell ``observer`` what this pool does from now on (see :class:`WorkerObserver`)."""
        self.observers.append(observer)

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> asyncio.Task[None]:
        """Run in the background (for a host process such as the web server)."""
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name=f"worker {self.name}")
        return self._task

    async def close(self) -> None:
        """Stop gracefully and wait (the counterpart of :meth:`start`)."""
        self.stop("closed")
        if self._task is not None:
            await self._task

    def stop(self, reason: str = "stop requested") -> None:
        """Stop claiming; running jobs get ``grace`` seconds to finish."""
        if not self._stopping:
            self._stopping = True
            self.stop_reason = reason
            log.info("Worker %s stopping: %s", self.name, reason)
        self._stop_requested.set()
        self._wake.set()

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The task :meth:`start` made (None before it)."""
        return self._task

    @property
    def running(self) -> int:
        return len(self._running)

    def cancel_jobs(self, predicate: Callable[[Payload], bool]) -> int:
        """Cancel the jobs whose payload matches, running or claimed but not started
        (those go back to the queue unstarted); how many."""
        count = 0
        for _job, task, payload in list(self._running.values()):
            if payload is not None and predicate(payload) and not task.done():
                task.cancel()
                count += 1
        for job in list(self._ready):
            try:
                payload = Payload.parse(job.raw_payload)
            except PayloadError:
                continue
            if predicate(payload):
                self._ready.remove(job)
                self._outbox.append(_Outcome(job, "release", count_attempt=False))
                count += 1
        if count:
            self._wake.set()
        return count

    async def run(self) -> None:
        """Work until stopped (signal, ``queue:restart``, a ``max_*`` or empty queue)."""
        opts = self.options
        self.queue.add_listener(self._on_push)
        pumps = [
            asyncio.create_task(self._pump(), name=f"queue pump {i}") for i in range(self._pumps)
        ]
        heartbeat = asyncio.create_task(self._heartbeat(), name="lease heartbeat")
        presence = asyncio.create_task(self._presence(), name="worker presence")
        stop_wait = asyncio.create_task(self._stop_requested.wait())
        log.info(
            "Worker %s processing %s with %d slots",
            self.name,
            ",".join(opts.queues),
            opts.concurrency,
        )
        try:
            done, _ = await asyncio.wait(
                {*pumps, stop_wait},
                timeout=opts.max_time or None,
                return_when=asyncio.FIRST_COMPLETED,
            )
            if not done:
                self.stop("max time reached")
            for pump in pumps:
                if pump in done:
                    pump.result()
        finally:
            stop_wait.cancel()
            self._stopping = True
            self._wake.set()
            await self._drain(pumps)
            self._stopped.set()
            self._wake.set()
            for pump in pumps:
                if not pump.done():
                    with contextlib.suppress(asyncio.CancelledError):
                        await pump
            heartbeat.cancel()
            presence.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            with contextlib.suppress(asyncio.CancelledError):
                await presence
            with contextlib.suppress(Exception):
                await self.queue.db.execute("worker_gone", {"name": self.name[:191]})
            self.queue.remove_listener(self._on_push)
            log.info(
                "Worker %s stopped (%s): %d done, %d failed, %d released",
                self.name,
                self.stop_reason or "finished",
                self.stats.done,
                self.stats.failed,
                self.stats.released,
            )

    async def _drain(self, pumps: list[asyncio.Task[None]]) -> None:
        """Let running jobs finish within the grace period; put back what is left."""
        while self._ready:
            # Claimed but never started: back to the queue, the attempt given back.
            self._outbox.append(_Outcome(self._ready.popleft(), "release", count_attempt=False))
        self._wake.set()
        tasks = [task for _job, task, _p in self._running.values()]
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=self.options.grace)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending)
        # Settle the last outcomes (and what claims in flight bring back) before the
        # pumps go.
        while (self._outbox or self._claiming) and not all(pump.done() for pump in pumps):
            self._wake.set()
            await asyncio.sleep(0.01)

    def _on_push(self) -> None:
        self._idle_until = 0.0
        self._wake.set()

    # --- the pump: one transaction per round ----------------------------------------------

    @property
    def _active(self) -> int:
        # A job whose outcome waits in the outbox has done its work: its slot is free.
        return len(self._running) - self._settling

    def _free_slots(self) -> int:
        """How many jobs the next round may claim."""
        if self._stopping:
            return 0
        opts = self.options
        free = opts.concurrency + self._buffer - self._active - len(self._ready) - self._claiming
        if self.options.max_jobs:
            free = min(free, self.options.max_jobs - self._claimed - self._claiming)
        if time.monotonic() < self._idle_until:
            return 0
        return max(0, free)

    async def _pump(self) -> None:
        while True:
            if self._stopped.is_set() and not self._outbox:
                return
            if self._rounds and not self._stopped.is_set() and not self._worth_a_round():
                # One is in flight: what comes meanwhile goes with the next round.
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.options.restart_check)
                continue
            outcomes, self._outbox = self._outbox, []
            started, self._started_ahead = self._started_ahead, []
            want = self._free_slots()
            if not outcomes and not want and not started:
                await self._check_restart()
                await self._sleep_until_woken()
                continue
            now = time.monotonic()
            expired = want > 0 and now - self._last_expired >= self.options.expired_check
            if expired:
                self._last_expired = now
            # The claimed jobs that will start at once (free slots); the rest wait ahead
            # and spend their attempt only when they run (see Queue.claim).
            start_now = self.options.concurrency - self._active - len(self._ready)
            start_now = max(0, min(want, start_now - self._claiming))
            tag, adopt = None, False
            if want and self._unsure_tags:
                tag, adopt = self._unsure_tags.pop(0), True
            if tag is None:
                self._round_seq += 1
                tag = f"{self.worker_id}-{self._round_seq:x}"
            self._claiming += want
            self._rounds += 1
            try:
                claimed = await self._round(
                    outcomes, want, expired, start_now, started, tag=tag, adopt=adopt
                )
            except Exception as exc:
                if isinstance(exc, DatabaseError):
                    log.error("Queue database unavailable: %s", exc)
                else:
                    log.exception("Queue round failed")
                for outcome in outcomes:
                    outcome.unsure = True
                self._outbox = outcomes + self._outbox
                self._started_ahead = started + self._started_ahead
                if want:
                    self._unsure_tags.append(tag)
                await asyncio.sleep(1.0)
                continue
            finally:
                self._claiming -= want
                self._rounds -= 1
                self._wake.set()  # a pump held back meanwhile may go now
            self._claimed += len(claimed)
            if self._stopping:
                # Stopped while this claim was in flight: back to the queue, unstarted.
                for job in claimed:
                    self._outbox.append(_Outcome(job, "release", count_attempt=False))
                claimed = []
            self._ready.extend(claimed)
            self._fill_slots()
            if want and not claimed:
                idle = not (self._running or self._outbox or self._ready or self._claiming)
                if self.options.stop_when_empty and idle:
                    self.stop("queue empty")
                else:
                    # Nothing to take: poll again after --sleep, or sooner when a push
                    # of this process (or, with --stop-when-empty, a finished job) wakes us.
                    self._idle_until = time.monotonic() + self.options.sleep
            await self._check_restart()

    def _worth_a_round(self) -> bool:
        """Whether a round beside the one in flight pays: every slot's worth of jobs
        finished since it started. Jobs that finish fast (thousands a second) keep
        several rounds in flight; jobs that wait on a remote API (a few hundred a
        second) go by one round at a time, each settling more of them (and the jobs
        claimed ahead keep the slots busy meanwhile)."""
        return len(self._outbox) >= self.options.concurrency

    async def _sleep_until_woken(self) -> None:
        # Wake for the next poll, and in time for the next queue:restart check.
        timeout = self.options.restart_check
        if self._idle_until:
            timeout = min(timeout, max(0.0, self._idle_until - time.monotonic()))
        self._wake.clear()
        if self._outbox or self._stopped.is_set():
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout)
        if self._idle_until and time.monotonic() >= self._idle_until:
            self._idle_until = 0.0

    async def _round(
        self,
        outcomes: list[_Outcome],
        want: int,
        expired: bool,
        start_now: int | None = None,
        started: list[ClaimedJob] | None = None,
        *,
        tag: str,
        adopt: bool = False,
    ) -> list[ClaimedJob]:
        tries = 0

        def attempt(tx: Tx) -> Awaitable[tuple[set[int], list[ClaimedJob]]]:
            # A transaction run again (its connection was lost) may have committed the
            # first time, unseen: its claim adopts what that one reserved.
            nonlocal tries
            tries += 1
            return self._settle_and_claim(
                tx,
                outcomes,
                want,
                expired,
                start_now,
                started or [],
                tag=tag,
                adopt=adopt or tries > 1,
            )

        try:
            held, claimed = await self.queue.db.transact(attempt)
        except DatabaseError:
            raise
        except Exception as exc:
            if not outcomes:
                raise
            # One outcome's writes failed: settle each alone so the others still land.
            log.warning(
                "A round's writes failed (%s); settling its %d jobs one by one",
                _readable(exc),
                len(outcomes),
            )
            if started:
                await self.queue.db.transact(lambda tx: self.queue.count_started(tx, started))
            for outcome in outcomes:
                await self._settle_alone(outcome)
            return []
        if tries > 1:
            for outcome in outcomes:
                outcome.unsure = True
        self._resolve(outcomes, held)
        return claimed

    async def _settle_and_claim(
        self,
        tx: Tx,
        outcomes: list[_Outcome],
        want: int,
        expired: bool,
        start_now: int | None = None,
        started: list[ClaimedJob] | None = None,
        *,
        tag: str,
        adopt: bool = False,
    ) -> tuple[set[int], list[ClaimedJob]]:
        await self.queue.count_started(tx, started or [])
        held = await self._settle(tx, outcomes)
        claimed: list[ClaimedJob] = []
        if want:
            claimed = await self.queue.claim(
                tx,
                self.options.queues,
                want,
                tag,
                retry_after=self.options.retry_after,
                expired=expired,
                start_now=start_now,
                adopt=adopt,
            )
        return held, claimed

    async def _settle(self, tx: Tx, outcomes: list[_Outcome]) -> set[int]:
        acks = [o.job for o in outcomes if o.kind == "ack"]
        fails = [FailedItem(o.job, o.exception) for o in outcomes if o.kind == "fail"]
        held = await self.queue.ack(tx, acks)
        held |= await self.queue.fail(tx, fails)
        for outcome in outcomes:
            if outcome.kind == "release" and await self.queue.release(
                tx, outcome.job, outcome.delay, count_attempt=outcome.count_attempt
            ):
                held.add(outcome.job.id)
        await self._prepare(tx, [o for o in outcomes if o.job.id in held and o.hooks])
        for outcome in outcomes:
            if outcome.job.id in held:
                for hook in outcome.hooks:
                    await hook(tx)
        return held

    async def _prepare(self, tx: Tx, outcomes: list[_Outcome]) -> None:
        """Each job name's ``prepare`` hook, once, with the payloads of its settled jobs."""
        by_job: dict[str, list[Payload]] = {}
        for outcome in outcomes:
            if outcome.payload is not None:
                by_job.setdefault(outcome.payload.job, []).append(outcome.payload)
        for name, payloads in by_job.items():
            prepare = self.registry.prepare_hook(name)
            if prepare is not None:
                await prepare(tx, payloads)

    async def _settle_alone(self, outcome: _Outcome) -> None:
        """Settle one job in a transaction of its own (its round's failed). Never raises
        on the job's own data, so one job cannot stop the others' rounds: an ack whose
        writes are refused is a failed attempt; a failure or release whose writes are
        refused is settled without them (see :meth:`_settle_plainly`)."""
        try:
            held = await self.queue.db.transact(lambda tx: self._settle(tx, [outcome]))
        except DatabaseError:
            self._outbox.append(outcome)
            return
        except Exception as exc:
            if outcome.kind == "ack":
                self._ack_refused(outcome, exc)
                return
            settled = await self._settle_plainly(outcome, exc)
            if settled is None:
                return
            held = settled
        self._resolve([outcome], held)

    def _ack_refused(self, outcome: _Outcome, exc: Exception) -> None:
        """The writes of a finished job failed: that is a failed attempt of the job,
        retried or failed like any other, with one log line (no traceback: the
        failure's stored text keeps it)."""
        error: Exception = exc
        said = refusal(exc)
        if said is not None:
            error = ResultNotStored(f"the result could not be stored: {said}")
            error.__cause__ = exc
        entry = self._running.get(outcome.job.token)
        payload = outcome.payload or (entry[2] if entry else None)
        retry = self._after_error(outcome.job, payload, error)
        retry.done = outcome.done
        then = "failed" if retry.kind == "fail" else f"retry in {retry.delay}s"
        log.warning(
            "Job #%s: its writes failed: %s (attempt %s, %s)",
            outcome.job.id,
            _short(error),
            outcome.job.attempts,
            then,
        )
        self._outbox.append(retry)
        self._wake.set()

    async def _settle_plainly(self, outcome: _Outcome, exc: Exception) -> set[int] | None:
        """A failure or release whose hooks' writes failed: settle it without them; a
        failure whose reason still cannot be stored, with :data:`UNSTORABLE_REASON`.
        The ids held, or None when it went back to the outbox (database unavailable) or
        could not be settled at all (left to its lease; one log line)."""
        log.warning(
            "Job #%s: the writes of its %s failed (%s); settling it without them",
            outcome.job.id,
            "failure" if outcome.kind == "fail" else "retry",
            _readable(exc),
        )
        outcome.hooks = []
        reasons = [outcome.exception]
        if outcome.kind == "fail":
            reasons.append(UNSTORABLE_REASON)
        for reason in reasons:
            outcome.exception = reason
            try:
                return await self.queue.db.transact(lambda tx: self._settle(tx, [outcome]))
            except DatabaseError:
                self._outbox.append(outcome)
                return None
            except Exception as again:
                exc = again
        log.error(
            "Job #%s could not be settled (%s); it is left to its lease",
            outcome.job.id,
            _readable(exc),
        )
        self.stats.lost += 1
        if outcome.done is not None and not outcome.done.done():
            outcome.done.set_result(False)
        return None

    def _resolve(self, outcomes: list[_Outcome], held: set[int]) -> None:
        for outcome in outcomes:
            is_held = outcome.job.id in held
            if is_held:
                entry = self._running.get(outcome.job.token)
                for observer in self.observers:
                    observer.job_settled(outcome.kind, outcome.job, entry[2] if entry else None)
                if outcome.kind == "ack":
                    self.stats.done += 1
                elif outcome.kind == "fail":
                    self.stats.failed += 1
                else:
                    self.stats.released += 1
            elif outcome.unsure:
                self.stats.lost += 1
                log.info(
                    "Job #%s was settled by a commit whose answer was lost (or is no longer "
                    "ours); it is not settled again",
                    outcome.job.id,
                )
            else:
                self.stats.lost += 1
                log.info(
                    "Job #%s is no longer ours (deleted by a cancel or a queue:clear, or "
                    "taken by another worker after its lease lapsed); its result is dropped",
                    outcome.job.id,
                )
            if outcome.done is not None and not outcome.done.done():
                outcome.done.set_result(is_held)

    async def _submit(self, outcome: _Outcome) -> bool:
        outcome.done = asyncio.get_running_loop().create_future()
        self._outbox.append(outcome)
        if self.options.stop_when_empty:
            self._idle_until = 0.0
        self._wake.set()
        self._settling += 1
        self._fill_slots()
        try:
            # If this task is cancelled now, the pump still settles the outcome.
            return await outcome.done
        finally:
            self._settling -= 1

    # --- running one job ------------------------------------------------------------------

    def _fill_slots(self) -> None:
        while self._ready and self._active < self.options.concurrency and not self._stopping:
            self._start_job(self._ready.popleft())

    def _start_job(self, job: ClaimedJob) -> None:
        payload: Payload | None = None
        try:
            payload = Payload.parse(job.raw_payload)
            self.registry.get(payload.job)
        except PayloadError as exc:
            work = self._fail_unrunnable(job, payload, str(exc))
            payload = None
        else:
            work = self._run_job(job, payload)
            if job.ahead:
                self._started_ahead.append(job)
                self._wake.set()
        task = asyncio.create_task(self._job_task(job.token, work))
        self._running[job.token] = (job, task, payload)

    async def _job_task(self, token: str, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        finally:
            # Here rather than in a done-callback, which runs a loop turn later and
            # would keep the slot looking busy for one more round.
            self._finished(token)

    def _finished(self, token: str) -> None:
        self._running.pop(token, None)
        if self.options.stop_when_empty:
            self._idle_until = 0.0
        limit = self.options.max_jobs
        if limit and self._claimed >= limit and not self._running and not self._ready:
            self.stop("max jobs reached")
        self._fill_slots()
        self._wake.set()

    async def _fail_unrunnable(self, job: ClaimedJob, payload: Payload | None, reason: str) -> None:
        _say(f"{payload.display_name if payload else '(unreadable)'} #{job.id}", "FAIL")
        outcome = _Outcome(job, "fail", exception=clean(f"PayloadError: {reason}"))
        await self._submit(outcome)

    async def _run_job(self, job: ClaimedJob, payload: Payload) -> None:
        label = f"{payload.display_name} #{job.id}"
        max_tries = payload.max_tries or self.options.tries
        exc: MaxAttemptsExceeded | None = None
        if job.cut_offs >= max_tries:
            # Each time it ran, its worker stopped: it may be what stops them.
            exc = MaxAttemptsExceeded(
                f"{payload.display_name} was cut off {job.cut_offs} times: its worker "
                f"stopped while running it ({max_tries} tries)"
            )
        elif job.tries > max_tries:
            exc = MaxAttemptsExceeded(
                f"{payload.display_name} has been attempted too many times ({max_tries} tries)"
            )
        if exc is not None:
            _say(label, "FAIL")
            await self._submit(self._failure(job, payload, exc))
            return
        timeout = payload.timeout or self.options.timeout
        ctx = JobContext(job.id, job.queue, job.attempts, payload)
        handler = self.registry.get(payload.job)
        _say(label, "RUNNING")
        started = time.perf_counter()
        try:
            try:
                async with asyncio.timeout(timeout):
                    await handler(ctx)
            except TimeoutError as exc:
                raise JobTimedOut(f"{payload.display_name} ran longer than {timeout:g}s") from exc
        except asyncio.CancelledError:
            # Cancelled by shutdown or by the caller (a cancelled run): put it back, the
            # attempt given back. If its row was deleted meanwhile the fence drops this.
            await self._submit(_Outcome(job, "release", count_attempt=False))
            _say(label, "CANCELLED")
            return
        except Exception as exc:
            self._ran(payload.job, started)
            outcome = self._after_error(job, payload, exc)
            await self._submit(outcome)
            status = "FAIL" if outcome.kind == "fail" else f"RETRY in {outcome.delay}s"
            _say(label, status, started)
            if outcome.kind == "fail":
                job_log.warning("%s failed: %s", label, outcome.exception.splitlines()[0])
            return
        self._ran(payload.job, started)
        held = await self._submit(_Outcome(job, "ack", hooks=ctx.success_hooks, payload=payload))
        _say(label, "DONE" if held else "LOST", started)

    def _ran(self, name: str, started: float) -> None:
        for observer in self.observers:
            observer.job_ran(name, started)

    def _after_error(self, job: ClaimedJob, payload: Payload | None, exc: Exception) -> _Outcome:
        """Release with backoff, or fail for good when no attempt is left."""
        if payload is None:
            return _Outcome(job, "fail", exception=describe_exception(exc))
        max_tries = payload.max_tries or self.options.tries
        if isinstance(exc, RetryLater):
            if not exc.count_attempt:
                return _Outcome(job, "release", delay=exc.delay, count_attempt=False)
            if job.tries < max_tries:
                return self._retry(job, payload, exc, exc.delay)
        elif not isinstance(exc, PermanentFailure) and job.tries < max_tries:
            return self._retry(
                job, payload, exc, self.options.delay_for(job.tries, payload.backoff)
            )
        return self._failure(job, payload, exc)

    def _retry(self, job: ClaimedJob, payload: Payload, exc: BaseException, delay: int) -> _Outcome:
        hooks: list[Hook] = []
        retried = self.registry.retry_hook(payload.job)
        if retried is not None:
            short = _short(exc)
            hooks.append(lambda tx: retried(tx, payload, short, job.attempts))
        return _Outcome(job, "release", delay=delay, hooks=hooks, payload=payload)

    def _failure(self, job: ClaimedJob, payload: Payload, exc: BaseException) -> _Outcome:
        hooks: list[Hook] = []
        failed = self.registry.failure_hook(payload.job)
        reason = describe_exception(exc)
        if failed is not None:
            short = _short(exc)
            hooks.append(lambda tx: failed(tx, payload, short, job.attempts))
        return _Outcome(job, "fail", hooks=hooks, exception=reason, payload=payload)

    # --- leases and restart signal --------------------------------------------------------

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.options.renew_every)
            jobs = [job for job, _t, _p in self._running.values()] + list(self._ready)
            if not jobs:
                continue
            try:
                await self.queue.renew(jobs)
            except Exception as exc:
                log.warning("Could not renew leases: %s", exc)

    async def _presence(self) -> None:
        """Say "this pool serves these queues" in the database every few seconds."""
        db = self.queue.db
        row = {
            "name": self.name[:191],
            "queues": json.dumps(list(self.options.queues)),
            "slots": self.options.concurrency,
            "ttl": PRESENCE_TTL,
        }
        with contextlib.suppress(Exception):
            await db.execute("workers_prune", {"age": PRESENCE_KEEP})
        while True:
            try:
                await db.execute("worker_seen", row)
            except Exception as exc:  # the database is away: the leases say the rest
                log.debug("Could not write the worker's presence: %s", exc)
            await asyncio.sleep(PRESENCE_EVERY)

    async def _check_restart(self) -> None:
        if not self.options.obey_restart:
            return
        now = time.monotonic()
        if now - self._last_restart_check < self.options.restart_check:
            return
        self._last_restart_check = now
        try:
            mark = await self._cache.get(RESTART_KEY)
        except Exception:
            return
        if self._restart_mark is None:
            self._restart_mark = mark or ""
        elif (mark or "") != self._restart_mark:
            self.stop("queue:restart signal")


def _say(label: str, status: str, started: float | None = None) -> None:
    if job_log.isEnabledFor(logging.INFO):
        job_log.info("%s", _line(label, status, started))


def _line(label: str, status: str, started: float | None = None) -> str:
    """One artisan-style line: ``Name #12 ........ DONE 12ms``."""
    if started is not None:
        status = f"{status} {(time.perf_counter() - started) * 1000:.0f}ms"
    dots = "." * max(3, 60 - len(label))
    return f"{label} {dots} {status}"


def _short(exc: BaseException) -> FailureReason:
    """An error in one line, for the hooks (and the pages they write to); storable
    (:func:`syncpay.text.clean`) whatever text from outside the error quotes."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return FailureReason(clean(line), cut_off=isinstance(exc, MaxAttemptsExceeded))


def _readable(exc: BaseException) -> str:
    """An error for a log line: a refused write in words, else its first line."""
    said = refusal(exc)
    if said is not None:
        return said
    text = str(exc).strip()
    return clean(text.splitlines()[0] if text else type(exc).__name__, 300)
