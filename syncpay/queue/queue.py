"""The queue's verbs: push, claim, ack, fail, release, renew — each one named query.

Every write that concerns a reserved job is *fenced* by its lease token
(``reserved_by`` = the claiming round's tag, job id and attempt number): a worker whose lease
lapsed and whose job another worker took since can no longer ack, fail or release
it. The verbs take the caller's transaction (``tx``) so that a caller's own writes
commit together with the job's removal.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..db import Database, Tx
from .batches import Replayable, chunks
from .payload import Payload, PayloadError, new_uuid

log = logging.getLogger("syncpay.queue")

PUSH_CHUNK = 1000


@dataclass(frozen=True, slots=True)
class ClaimedJob:
    """A job this worker holds: ``attempts`` counts this attempt. ``ahead``: claimed
    ahead of the free slots, its attempt not yet written (see :meth:`Queue.claim`).
    ``cut_offs``: how many of the earlier attempts were cut off (their worker stopped
    mid-job and the lease lapsed): they are not tries (see :attr:`tries`)."""

    id: int
    queue: str
    attempts: int
    token: str
    raw_payload: str
    ahead: bool = False
    cut_offs: int = 0

    @property
    def tries(self) -> int:
        """The tries this attempt makes, counting it: the attempts that were not cut off."""
        return self.attempts - self.cut_offs


@dataclass(frozen=True, slots=True)
class QueueStats:
    queue: str
    pending: int
    delayed: int
    reserved: int
    oldest_seconds: int | None


@dataclass(frozen=True, slots=True)
class FailedItem:
    job: ClaimedJob
    exception: str


def _was_cut_off(row: Mapping[str, Any]) -> int:
    """1 when a row claimed after its lease lapsed had started its attempt (the lapsed
    token names the attempt the row has written), as the reserve statements count it."""
    lapsed = row.get("reserved_by")
    return int(lapsed is not None and str(lapsed).endswith(f".{int(row['attempts'])}"))


def _adopted(row: Mapping[str, Any]) -> ClaimedJob:
    """A job reserved by a claim whose commit went unseen, as that claim made it: its
    token names the attempt; an attempt not written yet means it was claimed ahead."""
    token = str(row["reserved_by"])
    attempt = int(token.rsplit(".", 1)[1])
    return ClaimedJob(
        id=int(row["id"]),
        queue=row["queue"],
        attempts=attempt,
        token=token,
        raw_payload=_text(row["payload"]),
        ahead=int(row["attempts"]) < attempt,
        cut_offs=int(row["cut_offs"]),
    )


class Queue:
    """Pushes and takes jobs in the ``jobs`` table of one database."""

    def __init__(self, db: Database, *, default_queue: str, connection: str = "database") -> None:
        """``default_queue``: where a push without ``queue=`` goes (the settings'
        ``DB_QUEUE`` for syncpay's own callers)."""
        self.db = db
        self.default_queue = default_queue
        self.connection = connection
        self._listeners: list[Callable[[], None]] = []

    # --- waking workers of this process -------------------------------------------------

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` after each push committed by this process."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[], None]) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def wake_workers(self) -> None:
        """Tell this process's idle workers that jobs were pushed (after the push's
        commit: ``tx.after_commit(queue.wake_workers)`` for a push written by hand)."""
        for listener in list(self._listeners):
            listener()

    # --- push ----------------------------------------------------------------------------

    async def push(
        self,
        job: str,
        data: Mapping[str, Any] | None = None,
        *,
        queue: str | None = None,
        delay: int = 0,
        sort_key: int = 0,
        max_tries: int | None = None,
        timeout: float | None = None,
        backoff: Sequence[int] | None = None,
        unique_key: str | None = None,
        tx: Tx | None = None,
    ) -> int:
        """Queue one job; its id. ``unique_key``: see :meth:`push_many`."""
        payload = Payload.create(job, data, max_tries=max_tries, timeout=timeout, backoff=backoff)
        row = self._row(payload, queue, delay, sort_key)
        query = "push"
        if unique_key is not None:
            row["unique_key"] = unique_key
            query = "push_unique"
        if tx is None:
            job_id = await self.db.insert(query, row)
            self.wake_workers()
            return job_id
        job_id = await tx.insert(query, row)
        tx.after_commit(self.wake_workers)
        return job_id

    async def push_many(
        self,
        job: str,
        items: Iterable[Mapping[str, Any]],
        *,
        queue: str | None = None,
        delay: int = 0,
        sort_key: int = 0,
        sort_step: int = 0,
        unique_key: Callable[[Mapping[str, Any]], str] | None = None,
        max_tries: int | None = None,
        timeout: float | None = None,
        backoff: Sequence[int] | None = None,
        tx: Tx | None = None,
        chunk: int = PUSH_CHUNK,
    ) -> int:
        """Queue one ``job`` per item of data, one multi-row INSERT per ``chunk``.

        Without ``tx`` all chunks go in one transaction of their own: all or nothing,
        also when it runs again after a lost connection (a generator's items are kept
        until then, see :class:`Replayable`; only a chunk's rows are in memory at once).
        The n-th item (from 0) gets ``sort_key + n * sort_step``: workers take the
        lowest sort key first, so two batches pushed with steps interleave.
        ``unique_key(item)``: at most one queued job per key; pushing a key that is
        queued already only moves that job forward (the lower sort key wins).
        Returns how many rows were written (an upsert that moved a job counts).
        """
        template = Payload.create(job, max_tries=max_tries, timeout=timeout, backoff=backoff)
        name = queue or self.default_queue
        wait = max(0, int(delay))
        query = "push" if unique_key is None else "push_unique"

        source = Replayable(items)

        def rows() -> Iterator[dict[str, Any]]:
            for n, data in enumerate(source):
                row = {
                    "queue": name,
                    "delay": wait,
                    "sort_key": sort_key + n * sort_step,
                    "payload": template.encode_with(new_uuid(), data),
                }
                if unique_key is not None:
                    row["unique_key"] = unique_key(data)
                yield row

        async def write(tx: Tx) -> int:
            count = 0
            for batch in chunks(rows(), chunk):
                count += await tx.insert_many(query, batch)
            if count:
                tx.after_commit(self.wake_workers)
            return count

        if tx is not None:
            return await write(tx)
        return await self.db.transact(write)

    def _row(
        self, payload: Payload, queue: str | None, delay: int, sort_key: int
    ) -> dict[str, Any]:
        return {
            "queue": queue or self.default_queue,
            "payload": payload.to_json(),
            "delay": max(0, int(delay)),
            "sort_key": sort_key,
        }

    # --- the worker's verbs --------------------------------------------------------------

    async def claim(
        self,
        tx: Tx,
        queues: Sequence[str],
        limit: int,
        worker: str,
        *,
        retry_after: int,
        expired: bool = True,
        start_now: int | None = None,
        adopt: bool = False,
    ) -> list[ClaimedJob]:
        """Reserve up to ``limit`` jobs, first queue first; ``expired`` also takes jobs
        whose lease lapsed (their worker vanished).

        ``start_now``: how many of them (the first ones) the worker starts at once; their
        attempt counts now. The rest are claimed ahead (prefetch, ``ahead=True``): their
        attempt is written when they start (:meth:`count_started`, with the worker's next
        round) or settle, so the jobs a killed worker held ahead and never started come
        back with no attempt spent. None: all of them count now.

        ``adopt``: this claim runs again after an earlier try of it may have committed
        unseen (the connection was lost while it committed). ``worker`` must be the same
        tag, unique to the claim: the jobs it already reserved are returned as they were
        reserved, and nothing more is taken. Without this, they would wait out their
        lease (``retry_after``, minutes) reserved by a worker that does not know them."""
        if adopt:
            own = await tx.fetch_all("claim_own", {"pattern": f"{worker}.%"})
            if own:
                log.warning(
                    "Took back %d jobs (#%s and on) that a claim reserved in a commit whose "
                    "answer was lost",
                    len(own),
                    own[0]["id"],
                )
                return [_adopted(row) for row in own]
        rows: list[dict[str, Any]] = []
        for name in queues:
            if expired and len(rows) < limit:
                rows += await tx.fetch_all(
                    "claim_expired",
                    {"queue": name, "retry_after": retry_after, "limit": limit - len(rows)},
                )
            if len(rows) < limit:
                rows += await tx.fetch_all(
                    "claim_available", {"queue": name, "limit": limit - len(rows)}
                )
            if len(rows) >= limit:
                break
        if not rows:
            return []
        ids = [row["id"] for row in rows]
        now = len(ids) if start_now is None else max(0, start_now)
        if ids[:now]:
            await tx.execute("reserve", {"worker": worker, "ids": ids[:now]})
        if ids[now:]:
            await tx.execute("reserve_ahead", {"worker": worker, "ids": ids[now:]})
        claimed = []
        for n, row in enumerate(rows):
            attempts = int(row["attempts"]) + 1
            claimed.append(
                ClaimedJob(
                    id=int(row["id"]),
                    queue=row["queue"],
                    attempts=attempts,
                    token=f"{worker}.{row['id']}.{attempts}",
                    raw_payload=_text(row["payload"]),
                    ahead=n >= now,
                    cut_offs=int(row["cut_offs"]) + _was_cut_off(row),
                )
            )
        return claimed

    async def count_started(self, tx: Tx, jobs: Sequence[ClaimedJob]) -> None:
        """Write the attempt of jobs claimed ahead that have started (those this worker
        still holds; one settled meanwhile already wrote its attempt)."""
        if jobs:
            await tx.execute(
                "count_started",
                {"ids": [j.id for j in jobs], "tokens": [j.token for j in jobs]},
            )

    async def ack(self, tx: Tx, jobs: Sequence[ClaimedJob]) -> set[int]:
        """Delete finished jobs this worker still holds; the ids it did hold."""
        if not jobs:
            return set()
        rows = await tx.fetch_all(
            "delete_held", {"ids": [j.id for j in jobs], "tokens": [j.token for j in jobs]}
        )
        return {int(row["id"]) for row in rows}

    async def fail(self, tx: Tx, items: Sequence[FailedItem]) -> set[int]:
        """Move jobs this worker still holds to ``failed_jobs``; the ids it did hold."""
        held = await self.ack(tx, [item.job for item in items])
        rows = []
        for item in items:
            if item.job.id not in held:
                continue
            try:
                uuid = Payload.parse(item.job.raw_payload).uuid
            except PayloadError:
                uuid = f"job-{item.job.id}-{item.job.attempts}"
            rows.append(
                {
                    "uuid": uuid,
                    "connection": self.connection,
                    "queue": item.job.queue,
                    "payload": item.job.raw_payload,
                    "exception": item.exception,
                }
            )
        if rows:
            await tx.insert_many("insert_failed", rows)
        return held

    async def release(
        self, tx: Tx, job: ClaimedJob, delay: int, *, count_attempt: bool = True
    ) -> bool:
        """Put a held job back, available after ``delay`` seconds; whether it was held.

        ``count_attempt=False`` gives the attempt back (the job was not at fault). The
        attempt is ``job.attempts`` either way: counted at the claim, or now for a job
        claimed ahead (see :meth:`claim`).
        """
        changed = await tx.execute(
            "release",
            {
                "id": job.id,
                "token": job.token,
                "attempts": job.attempts,
                "delay": max(0, int(delay)),
                "refund": 0 if count_attempt else 1,
            },
        )
        return changed == 1

    async def renew(self, jobs: Sequence[ClaimedJob]) -> int:
        """Extend the leases of running jobs; how many this worker still holds."""
        if not jobs:
            return 0
        params = {"ids": [j.id for j in jobs], "tokens": [j.token for j in jobs]}

        async def renew(tx: Tx) -> int:
            # Counted apart: MySQL reports rows changed, and a renew within the same
            # second changes nothing.
            await tx.execute("renew", params)
            return int(await tx.fetch_value("count_held", params) or 0)

        return await self.db.transact(renew)

    # --- inspection and housekeeping -----------------------------------------------------

    async def stats(self) -> list[QueueStats]:
        rows = await self.db.fetch_all("queue_stats")
        return [
            QueueStats(
                queue=row["queue"],
                pending=int(row["pending"] or 0),
                delayed=int(row["delayed"] or 0),
                reserved=int(row["reserved"] or 0),
                oldest_seconds=None
                if row["oldest_seconds"] is None
                else int(row["oldest_seconds"]),
            )
            for row in rows
        ]

    async def size(self) -> int:
        return int(await self.db.fetch_value("count_jobs") or 0)

    async def clear(self, queue: str | None = None) -> int:
        """Delete every job of ``queue`` (all queues when None); how many."""
        if queue is None:
            return await self.db.execute("clear_all_queues")
        return await self.db.execute("clear_queue", {"queue": queue})


def _text(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", errors="replace")
    return str(value)
