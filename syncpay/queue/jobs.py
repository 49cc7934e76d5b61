"""Job types: one record per kind of job (name, handler, hooks, defaults), and the
registry a worker pool looks them up in.

A handler is ``async def handler(job: JobContext) -> None``. A module defines its jobs
with the :func:`job_type` decorator, which only marks the handler with its record;
nothing is registered by importing a module. The registry a worker runs from is an
object of its owner (``SyncPay.jobs``), filled with :meth:`JobRegistry.collect` (every
marked handler of a module) or :meth:`JobRegistry.add`.

A handler can put writes into the transaction that acks its job
(:meth:`JobContext.on_success`); those writes commit together with the job's removal,
or not at all. Writes on failure are the job type's ``failed`` hook (run also when the
job never got to run: its workers kept vanishing).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from ..db import Tx
from .payload import Payload, PayloadError

Handler = Callable[["JobContext"], Awaitable[None]]
Hook = Callable[[Tx], Awaitable[None]]


class FailureReason(str):
    """The one-line error a failure (or retry) hook receives. ``cut_off`` is true when
    the job failed because its attempts ran out without an error of its own: the
    workers that took it vanished (killed, lease lapsed) before it could finish."""

    __slots__ = ("cut_off",)
    cut_off: bool

    def __new__(cls, text: str, *, cut_off: bool = False) -> FailureReason:
        reason = super().__new__(cls, text)
        reason.cut_off = cut_off
        return reason


#: Called in the transaction that fails a job for good: (tx, payload, reason, attempts).
FailureHook = Callable[[Tx, Payload, FailureReason, int], Awaitable[None]]
#: Runs once per round for a job name, before the hooks of that name's jobs settled in
#: the round, with their payloads: one read for all of them instead of one each.
PrepareHook = Callable[[Tx, list[Payload]], Awaitable[None]]


class RetryLater(Exception):
    """Raised by a handler: put the job back, to run again after ``delay`` seconds.

    With ``count_attempt=False`` the attempt is given back (for a 429 or 503 with
    ``Retry-After``: the job did nothing wrong).
    """

    def __init__(self, delay: int, reason: str = "", *, count_attempt: bool = True) -> None:
        super().__init__(reason or f"retry in {delay}s")
        self.delay = max(0, int(delay))
        self.count_attempt = count_attempt


class PermanentFailure(Exception):
    """Raised by a handler: fail the job now, whatever attempts are left."""


@dataclass(slots=True)
class JobContext:
    """What a running handler sees of its job. ``app``: what the worker pool was given
    for its handlers (``Worker(..., app=...)``; for ``SyncPay.worker`` and ``syncpay
    work`` the :class:`syncpay.sync.jobs.SyncRuntime`: settings, database, queue, sync)."""

    id: int
    queue: str
    attempts: int
    payload: Payload
    app: Any = None
    success_hooks: list[Hook] = field(default_factory=list)

    @property
    def data(self) -> dict[str, Any]:
        return self.payload.data

    @property
    def uuid(self) -> str:
        return self.payload.uuid

    def on_success(self, hook: Hook) -> None:
        """Run ``hook(tx)`` inside the transaction that acks this job."""
        self.success_hooks.append(hook)


@dataclass(frozen=True, slots=True)
class JobType:
    """One kind of job. ``failed`` runs (like Laravel's ``failed()``) in the transaction
    that moves a job to ``failed_jobs`` — also when the job never got to run (its
    workers kept vanishing). ``retried`` runs in the transaction that puts a job back
    after a failed attempt (with that attempt's error), for example to keep the last
    error where a page shows it. ``prepare`` runs once per round, in the round's
    transaction, before the hooks (success, failed, retried) of this name's jobs that
    the round settles, with their payloads: one read that serves all of those hooks.

    ``tries``, ``timeout`` and ``backoff`` are this job type's defaults, used when a
    job's payload does not set its own (and before the worker's options)."""

    name: str
    handler: Handler
    failed: FailureHook | None = None
    retried: FailureHook | None = None
    prepare: PrepareHook | None = None
    tries: int | None = None
    timeout: float | None = None
    backoff: tuple[int, ...] | None = None


#: The attribute :func:`job_type` sets on a handler: its :class:`JobType`.
_MARK = "__syncpay_job_type__"


def job_type(
    name: str,
    *,
    failed: FailureHook | None = None,
    retried: FailureHook | None = None,
    prepare: PrepareHook | None = None,
    tries: int | None = None,
    timeout: float | None = None,
    backoff: Sequence[int] | None = None,
) -> Callable[[Handler], Handler]:
    """Mark ``handler`` as the job type ``name`` (see :class:`JobType`); registers
    nothing: a registry takes it with :meth:`JobRegistry.collect`."""

    def mark(handler: Handler) -> Handler:
        steps = tuple(backoff) if backoff is not None else None
        record = JobType(name, handler, failed, retried, prepare, tries, timeout, steps)
        setattr(handler, _MARK, record)
        return handler

    return mark


def job_type_of(obj: object) -> JobType | None:
    """The job type ``obj`` is (a :class:`JobType`) or was marked as (a handler)."""
    if isinstance(obj, JobType):
        return obj
    found = getattr(obj, _MARK, None)
    return found if isinstance(found, JobType) else None


class JobRegistry:
    """Job types by name: what one worker pool can run."""

    def __init__(self, types: Iterable[JobType] = ()) -> None:
        self._types: dict[str, JobType] = {}
        for record in types:
            self.include(record)

    def include(self, record: JobType) -> None:
        """Add a job type; a second, different one of the same name is refused."""
        existing = self._types.get(record.name)
        if existing is not None and existing.handler is not record.handler:
            raise ValueError(f"a job named {record.name!r} is already registered")
        self._types[record.name] = record

    def collect(self, *modules: ModuleType | object) -> list[str]:
        """Add every job type the modules define (handlers marked with :func:`job_type`,
        :class:`JobType` values), in the order they are defined; their names."""
        names: list[str] = []
        for module in modules:
            for value in list(vars(module).values()):
                record = job_type_of(value)
                if record is not None:
                    self.include(record)
                    names.append(record.name)
        return names

    def add(
        self,
        name: str,
        handler: Handler,
        *,
        failed: FailureHook | None = None,
        retried: FailureHook | None = None,
        prepare: PrepareHook | None = None,
        tries: int | None = None,
        timeout: float | None = None,
        backoff: Sequence[int] | None = None,
    ) -> None:
        """Add ``handler`` as the job type ``name`` (see :class:`JobType`)."""
        steps = tuple(backoff) if backoff is not None else None
        self.include(JobType(name, handler, failed, retried, prepare, tries, timeout, steps))

    def register(
        self,
        name: str,
        *,
        failed: FailureHook | None = None,
        retried: FailureHook | None = None,
        prepare: PrepareHook | None = None,
    ) -> Callable[[Handler], Handler]:
        """Decorator form of :meth:`add` (for a registry built in place, as tests do)."""

        def decorate(handler: Handler) -> Handler:
            self.add(name, handler, failed=failed, retried=retried, prepare=prepare)
            return handler

        return decorate

    def get(self, name: str) -> JobType:
        try:
            return self._types[name]
        except KeyError:
            raise PayloadError(f"job {name!r} is not registered") from None

    def find(self, name: str) -> JobType | None:
        return self._types.get(name)

    def names(self) -> list[str]:
        return sorted(self._types)

    def __contains__(self, name: object) -> bool:
        return name in self._types
