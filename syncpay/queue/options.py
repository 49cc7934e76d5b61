"""What a worker pool is told (its options) and what it tells (its observers, its stats)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from .payload import Payload
from .queue import ClaimedJob

#: Seconds running jobs get to finish when a pool stops (``WorkerOptions.grace``).
DEFAULT_GRACE = 30.0


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    #: Queues to take jobs from, first first (empty: the Queue's ``default_queue``).
    queues: tuple[str, ...] = ()
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
    #: Seconds between polls of an empty queue (``--sleep``): the longest an idle pool
    #: waits when nothing wakes it (see ``watch``).
    sleep: float = 3.0
    #: Seconds between an idle pool's looks for jobs pushed by other processes or
    #: machines (``queue/watch.py``; None: 0.05 on SQLite, 0.1 on MySQL); 0: no watch,
    #: only this process's pushes wake it before ``sleep``.
    watch: float | None = None
    retry_after: int = 660
    max_jobs: int = 0
    max_time: float = 0.0
    stop_when_empty: bool = False
    grace: float = DEFAULT_GRACE
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

    @property
    def renew_every(self) -> float:
        return max(0.2, min(30.0, self.retry_after / 4))

    def delay_for(self, attempts: int, backoff: tuple[int, ...] | None) -> int:
        """Backoff after attempt ``attempts`` (1-based): the n-th value, then the last."""
        steps = backoff if backoff else self.backoff
        if not steps:
            return 0
        return steps[min(attempts, len(steps)) - 1]


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

    def pool_stopped(self, name: str, reason: str, stats: WorkerStats) -> None:
        """The pool named ``name`` stopped (``reason``: why, e.g. ``closed``, ``queue
        empty``, ``max time reached``; ``finished`` when nothing asked) after settling
        what it had: ``stats`` are its final counts. Called once, last."""


@dataclass(slots=True)
class WorkerStats:
    done: int = 0
    failed: int = 0
    released: int = 0
    lost: int = 0
