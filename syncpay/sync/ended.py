"""A run's end: queued notifications, and whoever waits for the run in this process
woken at the COMMIT instead of at its next poll (a waiter in another process keeps
polling; see :meth:`SyncRuns.wait <syncpay.sync.runs.SyncRuns.wait>`)."""

from __future__ import annotations

import asyncio
from functools import partial

from ..db import Tx
from . import notify

#: The events of this process's waiters, by run id.
_waiters: dict[int, set[asyncio.Event]] = {}


async def run_ended(tx: Tx, run_id: int) -> None:
    """In every transaction that ends a run (completed, cancelled, failed)."""
    await notify.run_ended(tx, run_id)
    tx.after_commit(partial(_announce, run_id))


def _announce(run_id: int) -> None:
    for event in _waiters.get(run_id, ()):
        event.set()


def watch(run_id: int) -> asyncio.Event:
    """An event set when a transaction of this process ends ``run_id``."""
    event = asyncio.Event()
    _waiters.setdefault(run_id, set()).add(event)
    return event


def unwatch(run_id: int, event: asyncio.Event) -> None:
    events = _waiters.get(run_id)
    if events is not None:
        events.discard(event)
        if not events:
            del _waiters[run_id]
