"""``wait_any``: an event, a time limit, and a cancellation that is never swallowed
(``asyncio.wait_for`` on Python 3.11 returns normally when the cancel comes as the event
is set: a background loop then went on, and a server's shutdown waited for it)."""

from __future__ import annotations

import asyncio

import pytest

from syncpay.waiting import wait_any


async def _waiting(*events: asyncio.Event, timeout: float | None = 10) -> asyncio.Task[bool]:
    task = asyncio.ensure_future(wait_any(*events, timeout=timeout))
    for _ in range(3):
        await asyncio.sleep(0)  # the task is waiting now
    assert not task.done()
    return task


async def test_a_cancel_that_comes_as_the_event_is_set_is_raised() -> None:
    event = asyncio.Event()
    task = await _waiting(event)
    event.set()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_it_says_whether_an_event_came_or_the_time_ran_out() -> None:
    first, second = asyncio.Event(), asyncio.Event()
    task = await _waiting(first, second)
    second.set()
    assert await task is True
    assert await wait_any(asyncio.Event(), timeout=0.01) is False
    assert await wait_any(first, second, timeout=0) is True  # set already: at once


async def test_a_plain_cancel_is_raised_and_leaves_no_waiter_behind() -> None:
    event = asyncio.Event()
    task = await _waiting(event, timeout=None)
    before = len(asyncio.all_tasks())
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0)
    assert len(asyncio.all_tasks()) < before  # the event's waiter is gone with it


def test_no_loop_waits_for_an_event_through_wait_for() -> None:
    """The class, not the one place: no ``asyncio.wait_for(<event>.wait(), …)`` is left
    in the package (each long-running loop uses ``wait_any``)."""
    import re
    from pathlib import Path

    import syncpay

    pattern = re.compile(r"wait_for\(\s*[\w.\[\]]+\.wait\(\)")
    root = Path(syncpay.__file__).parent
    found = [
        f"{path.relative_to(root)}:{n}"
        for path in sorted(root.rglob("*.py"))
        if path.name != "waiting.py"  # its docstring names the pattern
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert found == []
