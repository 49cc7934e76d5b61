"""The state a worker pool's parts share: the pool's base class (its rounds in
``rounds.py``, its job runner in ``runner.py``, its lifecycle in ``worker.py``), the
outcome of a job waiting to be settled, and the pool's log-line helpers."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import os
import secrets
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from ..db.cache import Cache
from ..text import clean
from .errors import refusal
from .jobs import FailureReason, Hook, JobRegistry
from .options import WorkerObserver, WorkerOptions, WorkerStats
from .payload import Payload
from .queue import ClaimedJob, Queue
from .watch import IdleWatch

log = logging.getLogger("syncpay.worker")
job_log = logging.getLogger("syncpay.jobs")

Kind = Literal["ack", "release", "fail"]


class MaxAttemptsExceeded(Exception):
    """The job was taken more often than it may be tried (its workers kept vanishing)."""


@dataclass(slots=True)
class Outcome:
    job: ClaimedJob
    kind: Kind
    hooks: list[Hook] = field(default_factory=list)
    delay: int = 0
    count_attempt: bool = True
    exception: str = ""
    done: asyncio.Future[bool] | None = None
    #: The job's payload when its hooks come from its job type (for ``prepare``).
    payload: Payload | None = None
    #: Settled once already in a transaction whose commit went unseen (it may have landed).
    unsure: bool = False


class PoolBase:
    """What every part of a worker pool reads and writes; the parts' methods that the
    others call are declared here."""

    def __init__(
        self,
        queue: Queue,
        registry: JobRegistry,
        options: WorkerOptions | None = None,
        *,
        name: str | None = None,
        observers: Iterable[WorkerObserver] = (),
        app: Any = None,
    ) -> None:
        self.queue = queue
        self.registry = registry
        opts = options or WorkerOptions()
        if not opts.queues:
            opts = dataclasses.replace(opts, queues=(queue.default_queue,))
        self.options = opts
        #: Given to every handler as ``JobContext.app`` (what the handlers need).
        self.app = app
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
        self._outbox: list[Outcome] = []
        self._ready: collections.deque[ClaimedJob] = collections.deque()
        # Jobs claimed ahead that started since the last round: their attempt is written
        # with the next round (Queue.count_started).
        self._started_ahead: list[ClaimedJob] = []
        # The ids of jobs whose start a round in flight is writing: their outcomes wait
        # for that round (see Rounds._outcomes_for_a_round).
        self._starting: set[int] = set()
        self._settling = 0
        self._claiming = 0
        self._rounds = 0  # rounds in flight
        self._round_seq = 0
        # The tags of rounds whose transaction failed while it may have committed: a
        # later round claims under one again and adopts what it reserved (Queue.claim).
        self._unsure_tags: list[str] = []
        mysql = queue.db.dialect == "mysql"
        default_buffer = opts.concurrency * (3 if mysql else 1)
        self._buffer = default_buffer if opts.prefetch is None else max(0, opts.prefetch)
        self._pumps = opts.pumps or (4 if mysql else 1)
        self._wake = asyncio.Event()
        self._stopping = False
        self._stop_requested = asyncio.Event()
        self._stopped = asyncio.Event()
        self._idle_until = 0.0
        # Idle, a watch wakes the pool for jobs pushed by other processes (watch.py);
        # a claim reads its mark when the one before came back short.
        self._watch = IdleWatch(queue.db, opts.watch, wake=self._on_push, idle=self._idling)
        self._claim_short = True
        self._claimed = 0
        self._last_expired = 0.0
        self._last_restart_check = 0.0
        self._restart_mark: str | None = None
        self._task: asyncio.Task[None] | None = None
        self.stop_reason = ""

    @property
    def _active(self) -> int:
        # A job whose outcome waits in the outbox has done its work: its slot is free.
        return len(self._running) - self._settling

    def _on_push(self) -> None:
        """Jobs were pushed (by this process, or seen by the watch): claim now."""
        self._idle_until = 0.0
        self._wake.set()

    def _idling(self) -> bool:
        """Whether the pool's claims are paused until its next poll (the queue was empty)."""
        return not self._stopping and self._idle_until > time.monotonic()

    def stop(self, reason: str = "stop requested") -> None:
        """Stop claiming; running jobs get ``grace`` seconds to finish."""
        if not self._stopping:
            self._stopping = True
            self.stop_reason = reason
            log.info("Worker %s stopping: %s", self.name, reason)
        self._stop_requested.set()
        self._wake.set()

    # --- implemented by the parts ---------------------------------------------------------

    def _fill_slots(self) -> None:
        raise NotImplementedError  # runner.py

    def _after_error(self, job: ClaimedJob, payload: Payload | None, exc: Exception) -> Outcome:
        raise NotImplementedError  # runner.py

    async def _submit(self, outcome: Outcome) -> bool:
        raise NotImplementedError  # rounds.py

    async def _check_restart(self) -> None:
        raise NotImplementedError  # worker.py


def say(label: str, status: str, started: float | None = None) -> None:
    if job_log.isEnabledFor(logging.INFO):
        job_log.info("%s", artisan_line(label, status, started))


def artisan_line(label: str, status: str, started: float | None = None) -> str:
    """One artisan-style line: ``Name #12 ........ DONE 12ms``."""
    if started is not None:
        status = f"{status} {(time.perf_counter() - started) * 1000:.0f}ms"
    dots = "." * max(3, 60 - len(label))
    return f"{label} {dots} {status}"


def short_reason(exc: BaseException) -> FailureReason:
    """An error in one line, for the hooks (and the pages they write to); storable
    (:func:`syncpay.text.clean`) whatever text from outside the error quotes."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return FailureReason(clean(line), cut_off=isinstance(exc, MaxAttemptsExceeded))


def readable(exc: BaseException) -> str:
    """An error for a log line: a refused write in words, else its first line."""
    said = refusal(exc)
    if said is not None:
        return said
    text = str(exc).strip()
    return clean(text.splitlines()[0] if text else type(exc).__name__, 300)
