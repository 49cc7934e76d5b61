"""Failed jobs: list, retry, forget, flush (``queue:failed`` and friends)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..db import Database, Tx
from .payload import Payload, PayloadError
from .queue import Queue


class UnknownFailedJob(LookupError):
    """No failed job has the given id or uuid."""


@dataclass(frozen=True, slots=True)
class FailedJob:
    id: int
    uuid: str
    connection: str
    queue: str
    payload: str
    exception: str
    failed_at: str

    @property
    def job_name(self) -> str:
        try:
            return Payload.parse(self.payload).display_name
        except PayloadError:
            return "(malformed payload)"

    @property
    def reason(self) -> str:
        """The first line of the stored exception."""
        return self.exception.splitlines()[0] if self.exception else ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "uuid": self.uuid,
            "connection": self.connection,
            "queue": self.queue,
            "job": self.job_name,
            "failed_at": self.failed_at,
            "reason": self.reason,
            "exception": self.exception,
        }


def _row(row: dict[str, Any]) -> FailedJob:
    failed_at = row["failed_at"]
    if isinstance(failed_at, datetime):
        failed_at = failed_at.strftime("%Y-%m-%d %H:%M:%S")
    return FailedJob(
        id=int(row["id"]),
        uuid=str(row["uuid"]),
        connection=str(row["connection"]),
        queue=str(row["queue"]),
        payload=str(row["payload"]),
        exception=str(row["exception"]),
        failed_at=str(failed_at),
    )


class FailedJobs:
    def __init__(self, queue: Queue) -> None:
        self.queue = queue
        self.db: Database = queue.db

    async def all(self) -> list[FailedJob]:
        return [_row(r) for r in await self.db.fetch_all("failed_list")]

    async def find(self, ids: Sequence[str], tx: Tx | None = None) -> list[FailedJob]:
        """Failed jobs by numeric id or uuid; :class:`UnknownFailedJob` names any missing."""
        numbers = [int(i) for i in ids if i.isdigit()]
        params = {"ids": numbers, "uuids": list(ids)}
        found = [_row(r) for r in await (tx or self.db).fetch_all("failed_find", params)]
        known = {str(f.id) for f in found} | {f.uuid for f in found}
        missing = [i for i in ids if i not in known]
        if missing:
            raise UnknownFailedJob(", ".join(missing))
        return found

    async def select(
        self, ids: Sequence[str] | None = None, *, queue: str | None = None, tx: Tx | None = None
    ) -> list[FailedJob]:
        """Failed jobs by id or uuid (:class:`UnknownFailedJob` names any missing), or all
        when ``ids`` is None; only those of ``queue`` when given."""
        if ids is not None:
            chosen = await self.find(ids, tx)
            if queue is not None:
                chosen = [f for f in chosen if f.queue == queue]
            return chosen
        source = tx or self.db
        if queue is not None:
            return [_row(r) for r in await source.fetch_all("failed_in_queue", {"queue": queue})]
        return [_row(r) for r in await source.fetch_all("failed_list")]

    async def retry(
        self, ids: Sequence[str] | None = None, *, queue: str | None = None
    ) -> list[FailedJob]:
        """Push failed jobs back (attempts reset) and remove them from ``failed_jobs``,
        in one transaction. ``ids`` None means all (of ``queue`` when given)."""

        async def move(tx: Tx) -> list[FailedJob]:
            chosen = await self.select(ids, queue=queue, tx=tx)
            if not chosen:
                return []
            rows = [
                {"queue": f.queue, "payload": _reset(f.payload), "delay": 0, "sort_key": 0}
                for f in chosen
            ]
            await tx.insert_many("push", rows)
            await tx.execute("failed_delete", {"ids": [f.id for f in chosen]})
            tx.after_commit(self.queue.wake_workers)
            return chosen

        return await self.db.transact(move)

    async def delete(self, jobs: Sequence[FailedJob]) -> int:
        """Remove these failed jobs (handled another way); how many were still there."""
        if not jobs:
            return 0
        return await self.db.execute("failed_delete", {"ids": [f.id for f in jobs]})

    async def forget(self, ident: str) -> FailedJob:
        (found,) = await self.find([ident])
        await self.db.execute("failed_delete", {"ids": [found.id]})
        return found

    async def flush(self, hours: float | None = None) -> int:
        """Delete failed jobs (only those older than ``hours`` when given); how many."""
        if hours is None:
            return await self.db.execute("failed_flush_all")
        seconds = round(hours * 3600)
        return await self.db.execute("failed_flush_older", {"seconds": seconds})


async def forget_failed(
    tx: Tx, job: str, data: Mapping[str, Any], *, keep_latest: bool = False
) -> int:
    """Delete, in ``tx``, the failed jobs of ``job`` whose payload carries exactly ``data``
    (any uuid, any attempt); with ``keep_latest``, all but the newest (the one ``tx``
    itself may just have failed). How many. A scan of ``failed_jobs``: call it only when
    there is something to find (see ``syncpay.sync.accounting.forget_failures``)."""
    rows = await tx.fetch_all("failed_ids_of", forget_patterns(job, data))
    ids = [int(row["id"]) for row in rows]
    if keep_latest:
        ids = ids[:-1]
    if not ids:
        return 0
    return await tx.execute("failed_delete", {"ids": ids})


def forget_patterns(job: str, data: Mapping[str, Any]) -> dict[str, str]:
    """The LIKE patterns of ``failed_ids_of``: the payload names ``job`` and ends with
    ``data`` as :class:`Payload` writes it (compact JSON, ``data`` last)."""
    name = json.dumps(job, ensure_ascii=False)
    tail = json.dumps(dict(data), ensure_ascii=False, separators=(",", ":"))
    return {
        "job": f'%"job":{_like(name)}%',
        "data": f'%"data":{_like(tail)}}}',
    }


def _like(text: str) -> str:
    """``text`` literally in a LIKE pattern whose ESCAPE is ``!``."""
    return text.replace("!", "!!").replace("%", "!%").replace("_", "!_")


def _reset(raw: str) -> str:
    """The payload to queue again: unchanged (attempts live in their own column)."""
    try:
        json.loads(raw)
    except ValueError:
        return raw
    return raw
