"""A worker pool's job runner: starts claimed jobs in free slots, runs each handler (with
its job type's timeout and the pool's ``app`` on its context) and turns what it did into
an outcome for the next round: ack, release with backoff, or fail."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine
from typing import Any

from ..text import clean
from .errors import describe_exception
from .jobs import Hook, JobContext, JobType, PermanentFailure, RetryLater
from .payload import Payload, PayloadError
from .pool import MaxAttemptsExceeded, Outcome, PoolBase, job_log, say, short_reason
from .queue import ClaimedJob


class JobTimedOut(Exception):
    """The job ran longer than its timeout and was cancelled."""


class Runner(PoolBase):
    """Running one job (a part of :class:`~.worker.Worker`)."""

    def _fill_slots(self) -> None:
        while self._ready and self._active < self.options.concurrency and not self._stopping:
            self._start_job(self._ready.popleft())

    def _start_job(self, job: ClaimedJob) -> None:
        payload: Payload | None = None
        try:
            payload = Payload.parse(job.raw_payload)
            record = self.registry.get(payload.job)
        except PayloadError as exc:
            work = self._fail_unrunnable(job, payload, str(exc))
            payload = None
        else:
            work = self._run_job(job, payload, record)
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
        say(f"{payload.display_name if payload else '(unreadable)'} #{job.id}", "FAIL")
        outcome = Outcome(job, "fail", exception=clean(f"PayloadError: {reason}"))
        await self._submit(outcome)

    def _max_tries(self, payload: Payload) -> int:
        """The payload's own, else its job type's default, else the pool's."""
        record = self.registry.find(payload.job)
        default = record.tries if record is not None else None
        return payload.max_tries or default or self.options.tries

    def _too_often(self, job: ClaimedJob, payload: Payload) -> MaxAttemptsExceeded | None:
        """Why the job may not run again, if it may not."""
        max_tries = self._max_tries(payload)
        if job.cut_offs >= max_tries:
            # Each time it ran, its worker stopped: it may be what stops them.
            return MaxAttemptsExceeded(
                f"{payload.display_name} was cut off {job.cut_offs} times: its worker "
                f"stopped while running it ({max_tries} tries)"
            )
        if job.tries > max_tries:
            return MaxAttemptsExceeded(
                f"{payload.display_name} has been attempted too many times ({max_tries} tries)"
            )
        return None

    async def _run_job(self, job: ClaimedJob, payload: Payload, record: JobType) -> None:
        label = f"{payload.display_name} #{job.id}"
        refused = self._too_often(job, payload)
        if refused is not None:
            say(label, "FAIL")
            await self._submit(self._failure(job, payload, refused))
            return
        timeout = payload.timeout or record.timeout or self.options.timeout
        ctx = JobContext(job.id, job.queue, job.attempts, payload, app=self.app)
        say(label, "RUNNING")
        started = time.perf_counter()
        try:
            try:
                async with asyncio.timeout(timeout):
                    await record.handler(ctx)
            except TimeoutError as exc:
                raise JobTimedOut(f"{payload.display_name} ran longer than {timeout:g}s") from exc
        except asyncio.CancelledError:
            # Cancelled by shutdown or by the caller (a cancelled run): put it back, the
            # attempt given back. If its row was deleted meanwhile the fence drops this.
            await self._submit(Outcome(job, "release", count_attempt=False))
            say(label, "CANCELLED")
            return
        except Exception as exc:
            self._ran(payload.job, started)
            outcome = self._after_error(job, payload, exc)
            await self._submit(outcome)
            status = "FAIL" if outcome.kind == "fail" else f"RETRY in {outcome.delay}s"
            say(label, status, started)
            if outcome.kind == "fail":
                job_log.warning("%s failed: %s", label, outcome.exception.splitlines()[0])
            return
        self._ran(payload.job, started)
        held = await self._submit(Outcome(job, "ack", hooks=ctx.success_hooks, payload=payload))
        say(label, "DONE" if held else "LOST", started)

    def _ran(self, name: str, started: float) -> None:
        for observer in self.observers:
            observer.job_ran(name, started)

    def _after_error(self, job: ClaimedJob, payload: Payload | None, exc: Exception) -> Outcome:
        """Release with backoff, or fail for good when no attempt is left."""
        if payload is None:
            return Outcome(job, "fail", exception=describe_exception(exc))
        max_tries = self._max_tries(payload)
        if isinstance(exc, RetryLater):
            if not exc.count_attempt:
                return Outcome(job, "release", delay=exc.delay, count_attempt=False)
            if job.tries < max_tries:
                return self._retry(job, payload, exc, exc.delay)
        elif not isinstance(exc, PermanentFailure) and job.tries < max_tries:
            record = self.registry.find(payload.job)
            backoff = payload.backoff or (record.backoff if record else None)
            return self._retry(job, payload, exc, self.options.delay_for(job.tries, backoff))
        return self._failure(job, payload, exc)

    def _retry(self, job: ClaimedJob, payload: Payload, exc: BaseException, delay: int) -> Outcome:
        hooks: list[Hook] = []
        record = self.registry.find(payload.job)
        retried = record.retried if record else None
        if retried is not None:
            short = short_reason(exc)
            hooks.append(lambda tx: retried(tx, payload, short, job.attempts))
        return Outcome(job, "release", delay=delay, hooks=hooks, payload=payload)

    def _failure(self, job: ClaimedJob, payload: Payload, exc: BaseException) -> Outcome:
        hooks: list[Hook] = []
        record = self.registry.find(payload.job)
        failed = record.failed if record else None
        reason = describe_exception(exc)
        if failed is not None:
            short = short_reason(exc)
            hooks.append(lambda tx: failed(tx, payload, short, job.attempts))
        return Outcome(job, "fail", hooks=hooks, exception=reason, payload=payload)
