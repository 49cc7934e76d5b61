"""A worker pool's rounds: its *pump* tasks do all of the pool's queue writes. Each round
is one transaction that settles every job finished since the last round (ack, release or
fail, with the handlers' own writes and the job types' hooks) and claims as many new jobs
as there are free slots; a round whose writes are refused settles its jobs one by one."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from dataclasses import dataclass

from ..db import DatabaseError, Tx
from ..waiting import wait_any
from .errors import refusal
from .payload import Payload
from .pool import Outcome, PoolBase, log, readable, short_reason
from .queue import ClaimedJob, FailedItem


class ResultNotStored(Exception):
    """The writes a job registered with ``on_success`` were refused by the database (a
    CHECK, a column too short, text that is not valid Unicode): a failed attempt, whose
    reason says what was refused in words (the driver's error is its cause)."""


#: The reason stored for a failure whose own reason could not be stored either.
UNSTORABLE_REASON = "UnstorableFailure: the job failed, but its error could not be stored"


@dataclass(frozen=True, slots=True)
class _Plan:
    """One round's claim: ``want`` jobs (``start_now`` of them start at once), lapsed
    leases too when ``expired``, under ``tag`` (``adopt``: a tag whose earlier round may
    have committed unseen; ``mark``: read the newest job id first, for the watch)."""

    want: int
    expired: bool
    start_now: int
    tag: str
    adopt: bool = False
    mark: bool = False


class Rounds(PoolBase):
    """The pump and the settling of outcomes (a part of :class:`~.worker.Worker`)."""

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
                await wait_any(self._wake, timeout=self.options.restart_check)
                continue
            outcomes = self._outcomes_for_a_round()
            started, self._started_ahead = self._started_ahead, []
            want = self._free_slots()
            if not outcomes and not want and not started:
                await self._check_restart()
                await self._sleep_until_woken()
                continue
            plan = self._plan(want)
            self._claiming += want
            self._rounds += 1
            starting = {job.id for job in started}
            self._starting |= starting
            try:
                claimed, mark = await self._round(outcomes, started, plan)
            except Exception as exc:
                self._starting -= starting
                await self._round_failed(exc, outcomes, started, plan)
                continue
            finally:
                self._starting -= starting
                self._claiming -= want
                self._rounds -= 1
                self._wake.set()  # a pump held back meanwhile may go now
            self._take(claimed, want, mark)
            await self._check_restart()

    def _plan(self, want: int) -> _Plan:
        """What the next round claims: how many, whether lapsed leases too, how many of
        them start at once, and under which tag."""
        now = time.monotonic()
        expired = want > 0 and now - self._last_expired >= self.options.expired_check
        if expired:
            self._last_expired = now
        # The claimed jobs that will start at once (free slots); the rest wait ahead
        # and spend their attempt only when they run (see Queue.claim).
        start_now = self.options.concurrency - self._active - len(self._ready)
        start_now = max(0, min(want, start_now - self._claiming))
        # The last claim came back short: this one may find nothing and idle the pool,
        # whose watch then needs the newest job id read before it.
        mark = want > 0 and self._claim_short and self._watch.enabled
        if want and self._unsure_tags:
            tag = self._unsure_tags.pop(0)
            return _Plan(want, expired, start_now, tag, adopt=True, mark=mark)
        self._round_seq += 1
        tag = f"{self.worker_id}-{self._round_seq:x}"
        return _Plan(want, expired, start_now, tag, mark=mark)

    async def _round_failed(
        self, exc: Exception, outcomes: list[Outcome], started: list[ClaimedJob], plan: _Plan
    ) -> None:
        """A round's transaction failed (maybe after it committed, unseen): its outcomes
        and started jobs go with a later round, which claims under its tag again."""
        if isinstance(exc, DatabaseError):
            log.error("Queue database unavailable: %s", exc)
        else:
            log.exception("Queue round failed")
        for outcome in outcomes:
            outcome.unsure = True
        self._outbox = outcomes + self._outbox
        self._started_ahead = started + self._started_ahead
        if plan.want:
            self._unsure_tags.append(plan.tag)
        await asyncio.sleep(1.0)

    def _take(self, claimed: list[ClaimedJob], want: int, mark: int | None = None) -> None:
        """Start (or hold ahead) what a round claimed; idle or stop when it got none
        (``mark``: the newest job id the round read before its claim, if it did)."""
        self._claimed += len(claimed)
        if want:
            self._claim_short = len(claimed) < want
        if self._stopping:
            # Stopped while this claim was in flight: back to the queue, unstarted.
            for job in claimed:
                self._outbox.append(Outcome(job, "release", count_attempt=False))
            claimed = []
        self._ready.extend(claimed)
        self._fill_slots()
        if want and not claimed:
            idle = not (self._running or self._outbox or self._ready or self._claiming)
            if self.options.stop_when_empty and idle:
                self.stop("queue empty")
            elif mark is None and self._watch.enabled:
                pass  # claim once more at once, reading the mark for the watch this time
            else:
                # Nothing to take: poll again after --sleep, or sooner when a push of
                # this process or one the watch sees (or, with --stop-when-empty, a
                # finished job) wakes us.
                self._idle_until = time.monotonic() + self.options.sleep
                if mark is not None:
                    self._watch.idle(mark)

    def _outcomes_for_a_round(self) -> list[Outcome]:
        """The outbox, but for the outcomes of jobs whose start a round in flight is
        writing (``Queue.count_started`` updates the job's row): settled beside it, the
        ack's locking read of that row would wait for the other round's COMMIT, and the
        claim of this round with it (on MariaDB that wait was half of a round's time at
        32 slots). They go with the next round."""
        if not self._starting:
            taken, self._outbox = self._outbox, []
            return taken
        outcomes: list[Outcome] = []
        waiting: list[Outcome] = []
        for outcome in self._outbox:
            (waiting if outcome.job.id in self._starting else outcomes).append(outcome)
        self._outbox = waiting
        return outcomes

    def _worth_a_round(self) -> bool:
        """Whether a round beside the one in flight pays: every slot's worth of jobs
        finished since it started. Jobs that finish fast (thousands a second) keep
        several rounds in flight; jobs that wait on a remote API (a few hundred a
        second) go by one round at a time, each settling more of them (and the jobs
        claimed ahead keep the slots busy meanwhile)."""
        ready = len(self._outbox)
        if self._starting:
            ready = sum(1 for outcome in self._outbox if outcome.job.id not in self._starting)
        return ready >= self.options.concurrency

    async def _sleep_until_woken(self) -> None:
        # Wake for the next poll, and in time for the next queue:restart check.
        timeout = self.options.restart_check
        if self._idle_until:
            timeout = min(timeout, max(0.0, self._idle_until - time.monotonic()))
        self._wake.clear()
        if self._outbox or self._stopped.is_set():
            return
        await wait_any(self._wake, timeout=timeout)
        if self._idle_until and time.monotonic() >= self._idle_until:
            self._idle_until = 0.0

    async def _round(
        self, outcomes: list[Outcome], started: list[ClaimedJob], plan: _Plan
    ) -> tuple[list[ClaimedJob], int | None]:
        tries = 0
        mark: list[int] = []  # the newest job id the claim's transaction read first

        def attempt(tx: Tx) -> Awaitable[tuple[set[int], list[ClaimedJob]]]:
            # A transaction run again (its connection was lost) may have committed the
            # first time, unseen: its claim adopts what that one reserved.
            nonlocal tries
            tries += 1
            mark.clear()
            return self._settle_and_claim(tx, outcomes, started, plan, tries > 1, mark)

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
                readable(exc),
                len(outcomes),
            )
            if started:
                await self.queue.db.transact(lambda tx: self.queue.count_started(tx, started))
            for outcome in outcomes:
                await self._settle_alone(outcome)
            return [], None
        if tries > 1:
            for outcome in outcomes:
                outcome.unsure = True
        self._resolve(outcomes, held)
        return claimed, (mark[0] if mark else None)

    async def _settle_and_claim(
        self,
        tx: Tx,
        outcomes: list[Outcome],
        started: list[ClaimedJob],
        plan: _Plan,
        adopt: bool,
        mark: list[int],
    ) -> tuple[set[int], list[ClaimedJob]]:
        await self.queue.count_started(tx, started)
        held = await self._settle(tx, outcomes)
        claimed: list[ClaimedJob] = []
        if plan.mark:
            # Read before the claim: a job pushed after it has a larger id (watch.py).
            mark.append(int(await tx.fetch_value("jobs_mark") or 0))
        if plan.want:
            claimed = await self.queue.claim(
                tx,
                self.options.queues,
                plan.want,
                plan.tag,
                retry_after=self.options.retry_after,
                expired=plan.expired,
                start_now=plan.start_now,
                adopt=plan.adopt or adopt,
            )
        return held, claimed

    async def _settle(self, tx: Tx, outcomes: list[Outcome]) -> set[int]:
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

    async def _prepare(self, tx: Tx, outcomes: list[Outcome]) -> None:
        """Each job name's ``prepare`` hook, once, with the payloads of its settled jobs."""
        by_job: dict[str, list[Payload]] = {}
        for outcome in outcomes:
            if outcome.payload is not None:
                by_job.setdefault(outcome.payload.job, []).append(outcome.payload)
        for name, payloads in by_job.items():
            record = self.registry.find(name)
            if record is not None and record.prepare is not None:
                await record.prepare(tx, payloads)

    async def _settle_alone(self, outcome: Outcome) -> None:
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

    def _ack_refused(self, outcome: Outcome, exc: Exception) -> None:
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
            short_reason(error),
            outcome.job.attempts,
            then,
        )
        self._outbox.append(retry)
        self._wake.set()

    async def _settle_plainly(self, outcome: Outcome, exc: Exception) -> set[int] | None:
        """A failure or release whose hooks' writes failed: settle it without them; a
        failure whose reason still cannot be stored, with :data:`UNSTORABLE_REASON`.
        The ids held, or None when it went back to the outbox (database unavailable) or
        could not be settled at all (left to its lease; one log line)."""
        log.warning(
            "Job #%s: the writes of its %s failed (%s); settling it without them",
            outcome.job.id,
            "failure" if outcome.kind == "fail" else "retry",
            readable(exc),
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
            readable(exc),
        )
        self.stats.lost += 1
        if outcome.done is not None and not outcome.done.done():
            outcome.done.set_result(False)
        return None

    def _resolve(self, outcomes: list[Outcome], held: set[int]) -> None:
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

    async def _submit(self, outcome: Outcome) -> bool:
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
