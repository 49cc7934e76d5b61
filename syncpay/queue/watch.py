"""An idle pool's watch: it wakes the pool as soon as any process, on any machine,
pushes a job, instead of at its next ``--sleep`` poll.

A claim that finds nothing has read, just before it, the newest job id (the pool's
*mark*, ``jobs_mark``). While the pool idles, the watch looks at the newest id every
``interval`` (``db/watch.py``: a few microseconds on SQLite, one index lookup on MySQL);
an id above the mark is a job pushed since, and the pool claims at once. Ids only grow,
so nothing pushed after the mark's read can hide below it. A push that changes no id
(a job released by another worker, a delayed job coming due) is found by the ``--sleep``
poll, as before; so is everything when the database cannot be looked at, and, on
MySQL, a push that took its id before the mark's read but committed after the claim
(SQLite has one writer: a claim and a push never overlap).

The watch runs only while the pool idles (its claims paused until the next poll): a
busy pool claims after every round anyway, and its watch costs nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ..db import Database
from ..db.watch import JobsWatch, SqliteWatch, open_watch

log = logging.getLogger("syncpay.worker")


class IdleWatch:
    """Calls ``wake()`` when a job newer than the mark appears while ``idle()`` holds."""

    def __init__(
        self,
        db: Database,
        interval: float | None,
        *,
        wake: Callable[[], None],
        idle: Callable[[], bool],
    ) -> None:
        self._watch: JobsWatch | None = None if interval == 0 else open_watch(db, interval)
        self._wake = wake
        self._idle = idle
        self._idling = asyncio.Event()
        #: The newest job id read before the pool's last empty claim.
        self.mark: int | None = None
        #: How many times the watch woke the pool.
        self.wakes = 0

    @property
    def enabled(self) -> bool:
        """Whether the pool's claims should read the mark (there is something to watch)."""
        return self._watch is not None

    def idle(self, mark: int) -> None:
        """The pool idles after a claim that found nothing; ``mark``: read before it."""
        self.mark = mark
        self._idling.set()

    async def run(self) -> None:
        """The watch's task, for the pool's life."""
        watch = self._watch
        if watch is None:
            return
        try:
            if isinstance(watch, SqliteWatch):
                await self._by_timer(watch)
            while True:
                self._idling.clear()
                if not self._idle() or self.mark is None:
                    await watch.pause()
                    await self._idling.wait()
                    continue
                try:
                    newest = await watch.newest()
                except Exception:  # never the pool's end: its --sleep polls go on
                    log.debug("The idle watch could not look", exc_info=True)
                    newest = None
                if not self._woken_by(newest):
                    await asyncio.sleep(watch.interval)
        finally:
            await watch.close()

    async def _by_timer(self, watch: SqliteWatch) -> None:
        """SQLite's looks need no I/O wait: each is a plain timer callback, one turn of
        the event loop (a task's sleep takes two, and the turns are what an idle
        process spends its CPU on)."""
        loop = asyncio.get_running_loop()
        timer: asyncio.TimerHandle | None = None

        def look() -> None:
            nonlocal timer
            timer = None
            if self._idle() and self.mark is not None and not self._woken_by(watch.look()):
                timer = loop.call_later(watch.interval, look)

        try:
            while True:
                self._idling.clear()
                if timer is None:
                    look()
                await self._idling.wait()
        finally:
            if timer is not None:
                timer.cancel()

    def _woken_by(self, newest: int | None) -> bool:
        """Wake the pool when ``newest`` is above the mark; whether it did."""
        if newest is None or self.mark is None or newest <= self.mark or not self._idle():
            return False
        log.debug("Job #%s was pushed elsewhere: claiming now", newest)
        self.wakes += 1
        self._wake()
        return True
