"""The worker pool: N jobs at a time in one process, embeddable or standalone.

*Pump* tasks do all of the pool's queue writes (one on SQLite). Each round is one transaction
that settles every job finished since the last round (ack, release or fail, with
the handlers' own writes) and claims as many new jobs as there are free slots. Under
load a round settles and claims many jobs at once; when idle a round costs nothing
(``rounds.py``). Each job runs as a task of its own (``runner.py``).
A *heartbeat* task renews the leases of the jobs being run, so a long job is never
handed to a second worker while this one is alive.

Delivery is at least once: a job may run again after a crash, or when its lease
lapsed while the database was unreachable. Accounting is exactly once: the writes a
job registers with ``on_success`` commit with its removal from ``jobs``, fenced by
the lease, so a second run of the same job cannot commit them again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable

from ..db import Database
from ..db.cache import RESTART_KEY
from .options import WorkerObserver
from .payload import Payload, PayloadError
from .pool import Outcome, log
from .rounds import Rounds
from .runner import Runner

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


class Worker(Rounds, Runner):
    """Runs jobs from ``queue`` with the job types of ``registry``, giving each handler
    ``app`` (``JobContext.app``): ``Worker(queue, registry, options, app=..., name=...,
    observers=[...])``."""

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
                self._outbox.append(Outcome(job, "release", count_attempt=False))
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
        watch = asyncio.create_task(self._watch.run(), name="idle watch")
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
            watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watch
            with contextlib.suppress(asyncio.CancelledError):
                await heartbeat
            with contextlib.suppress(asyncio.CancelledError):
                await presence
            with contextlib.suppress(Exception):
                await self.queue.db.execute("worker_gone", {"name": self.name[:191]})
            self.queue.remove_listener(self._on_push)
            reason = self.stop_reason or "finished"
            log.info(
                "Worker %s stopped (%s): %d done, %d failed, %d released",
                self.name,
                reason,
                self.stats.done,
                self.stats.failed,
                self.stats.released,
            )
            for observer in self.observers:
                observer.pool_stopped(self.name, reason, self.stats)

    async def _drain(self, pumps: list[asyncio.Task[None]]) -> None:
        """Let running jobs finish within the grace period; put back what is left."""
        while self._ready:
            # Claimed but never started: back to the queue, the attempt given back.
            self._outbox.append(Outcome(self._ready.popleft(), "release", count_attempt=False))
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
