"""Waiting for an event with a time limit, without losing a cancellation.

On Python 3.11 ``asyncio.wait_for(event.wait(), timeout)`` returns normally when the
task is cancelled at the moment the event is set: the cancellation is swallowed, and a
background loop (the live hub, a pool's pump) then goes on — in one CI run the live
hub's task, cancelled at the server's shutdown, went back to waiting for pages and the
shutdown waited for it for ever. ``asyncio.wait`` never swallows a cancellation."""

from __future__ import annotations

import asyncio


async def wait_any(*events: asyncio.Event, timeout: float | None) -> bool:
    """Until one of ``events`` is set, or ``timeout`` seconds (None: no limit); whether
    one is set. A cancellation of the caller is always raised."""
    if any(event.is_set() for event in events):
        return True
    waiters = [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
    return any(event.is_set() for event in events)
