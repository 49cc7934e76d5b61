"""Live progress for the sync page: one hub per process pushes the progress object to
every open WebSocket, and serves ``GET …/progress`` from the same fresh copy.

Progress lives in the database and may be made by workers in other processes or on
other machines, so the hub does not wait for local events: while at least one page is
connected it asks the database a cheap "has anything changed?" question every
:data:`POLL` seconds (one query for all pages, :meth:`Sync.fingerprint`). When the answer
changes it computes the progress object once per run being watched and sends it to the
pages watching that run. The polling interval also coalesces bursts: at most one message
per page per interval.

The same objects answer the polling pages: a copy the database confirmed less than
:data:`FRESH` seconds ago (an unchanged fingerprint confirms every copy) is served as it
is; otherwise one computation is shared by all the requests that arrive meanwhile. A
write made through this process's routes (start, cancel, reset) invalidates every copy
at once (:meth:`LiveHub.nudge`); one made elsewhere is seen within :data:`POLL` seconds.

Messages are the progress object of SPEC §6 plus ``"type": "progress"`` and
``"logs_mode"``: ``"replace"`` (``logs`` is the run's latest lines; the first message, a
different run, or a page that fell too far behind) or ``"append"`` (``logs`` holds only
the lines the page has not received yet, newest first). A page may send
``{"run_id": N}`` to watch run N, ``{"run_id": null}`` to follow the latest run again.
A scoped petugas's page follows :class:`~.live_pages.LatestOf` them instead: the newest
run they started (they see no other run).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from aiohttp import web

from ..sync.activity import LOG_LIMIT
from ..sync.errors import RunNotFound
from ..sync.progress import Progress
from ..waiting import wait_any
from .keys import SYNCPAY
from .live_pages import LatestOf, LivePages, View, Watch

log = logging.getLogger("syncpay.web.live")

#: Seconds between two "has anything changed?" queries while a page is connected.
POLL = 0.1
#: A copy of a progress object is served for this long after the database confirmed it
#: (a little more than POLL, so that a watched run's copies stay fresh between looks).
FRESH = 0.15
#: A running run's object is recomputed at least this often (elapsed time, rate, ETA).
REFRESH = 1.0
#: Log ids read again below a copy's newest line when it is brought up to date.
LOG_OVERLAP = 20
#: Copies kept for runs nobody watches (pages asking ``progress?run_id=``).
MAX_VIEWS = 64
#: Encoded ``progress`` answers kept (cleared when full).
MAX_BODIES = 256
#: ``LOG_LIMIT`` (imported above) is the log lines a progress object carries
#: (``Sync.progress``'s own limit).
__all__ = ["HUB", "LOG_LIMIT", "LatestOf", "LiveHub", "Watch"]


class LiveHub(LivePages):
    """Pushes the progress object to every connected sync page (the pages themselves
    and the sending: :class:`~.live_pages.LivePages`)."""

    def __init__(self, app: web.Application, *, poll: float = POLL) -> None:
        super().__init__()
        self.app = app
        self.poll = poll
        self._views: dict[Watch, View] = {}
        #: Encoded answers by (run asked for, view version, after_log).
        self._bodies: dict[tuple[Watch, int, int], bytes] = {}
        self._pending: dict[Watch, tuple[int, float, asyncio.Future[View]]] = {}
        self._generation = 0
        self._fingerprint: tuple[Any, ...] | None = None
        self._checked_at = float("-inf")
        self._versions = 0
        self._task: asyncio.Task[None] | None = None

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="syncpay-live-hub")

    async def close(self) -> None:
        """Stop polling (after :meth:`shutdown`, or when the app is torn down)."""
        self._closing = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        running: list[asyncio.Future[Any]] = [
            *self._sends,
            *(entry[2] for entry in self._pending.values()),
        ]
        for pending in running:
            pending.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)
        await self.shutdown()

    # --- the progress object, fresh -------------------------------------------------------

    async def progress(self, run_id: Watch = None, after_log: int = 0) -> Progress:
        """SPEC §6's progress object, as ``Sync.progress(run_id, after_log)`` answers it,
        from a copy at most :data:`FRESH` seconds past its last confirmation."""
        return await self._answer(await self._fresh(run_id), run_id, after_log)

    async def _answer(self, view: View, run_id: Watch, after_log: int) -> Progress:
        self.stats.served += 1
        if not after_log:
            return view.progress
        logs = view.progress.logs
        newer = [line for line in logs if line.id > after_log]
        if len(newer) == len(logs) >= LOG_LIMIT:
            # More new lines than a copy holds: the database has the ones in between.
            return await self.app[SYNCPAY].sync.progress(view.progress.run_id, after_log)
        return view.progress.with_logs(newer)

    async def progress_body(self, run_id: Watch = None, after_log: int = 0) -> bytes:
        """:meth:`progress` as the JSON the route answers. Pages polling in step ask the
        same question twice a second (the same run, copy and newest line): one encoding
        serves them all."""
        view = await self._fresh(run_id)
        key = (run_id, view.version, after_log)
        body = self._bodies.get(key)
        if body is not None:
            self.stats.served += 1
            return body
        logs = view.progress.logs
        # An answer that needs lines the copy does not hold is read from the database.
        from_copy = not after_log or not (
            len(logs) >= LOG_LIMIT and all(line.id > after_log for line in logs)
        )
        body = json.dumps((await self._answer(view, run_id, after_log)).to_json()).encode()
        if from_copy:
            if len(self._bodies) >= MAX_BODIES:
                self._bodies.clear()
            self._bodies[key] = body
        return body

    async def _fresh(self, key: Watch) -> View:
        view = self._views.get(key)
        now = asyncio.get_running_loop().time()
        if view is not None and now - view.checked <= FRESH and not self._due(view, now):
            return view
        return await self._compute_shared(key)

    @staticmethod
    def _due(view: View, now: float) -> bool:
        return view.progress.is_running and now - view.computed >= REFRESH

    async def _compute_shared(self, key: Watch, since: float = float("-inf")) -> View:
        """One computation for everybody asking at the same time: the one in flight
        unless it began before the last write made here, or before ``since``."""
        pending = self._pending.get(key)
        if pending is None or pending[0] != self._generation or pending[1] < since:
            now = asyncio.get_running_loop().time()
            task = asyncio.ensure_future(self._compute(key))
            entry = (self._generation, now, task)
            self._pending[key] = entry

            def done(task: asyncio.Future[View], key: Watch = key) -> None:
                if self._pending.get(key) is entry:
                    del self._pending[key]
                if not task.cancelled():
                    task.exception()  # retrieved: the callers got it

            task.add_done_callback(done)
            pending = entry
        return await asyncio.shield(pending[2])

    async def _compute(self, key: Watch) -> View:
        generation = self._generation
        started = asyncio.get_running_loop().time()
        view = self._views.get(key)
        progress = await self._read(key, view)
        self.stats.computed += 1
        if view is None or progress != view.progress:
            self._versions += 1
            view = View(self._versions, progress, started, started)
        else:
            view.computed = view.checked = started
        if generation == self._generation:
            self._views[key] = view
            if len(self._views) > MAX_VIEWS:
                watched = {c.watch for c in self.clients}
                oldest = sorted(self._views, key=lambda k: self._views[k].checked)
                for old in oldest[: len(self._views) - MAX_VIEWS]:
                    if old not in watched:
                        del self._views[old]
        return view

    async def _read(self, watched: Watch, view: View | None) -> Progress:
        """The progress object from the database. With a previous copy of the same run,
        only the log lines from a little before its newest are read and merged in (the
        overlap catches a line that committed after one with a higher id)."""
        sync = self.app[SYNCPAY].sync
        if isinstance(watched, LatestOf):
            latest = await sync.latest(watched.started_by)
            if latest is None:
                return Progress.idle()
            key: int | None = latest.id
        else:
            key = watched
        if view is not None and view.progress.run_id is not None and view.log_ids:
            after = max(0, max(view.log_ids) - LOG_OVERLAP)
            progress = await sync.progress(key, after)
            newer = progress.logs
            if progress.run_id == view.progress.run_id and len(newer) < LOG_LIMIT:
                lines = {line.id: line for line in view.progress.logs}
                lines.update((line.id, line) for line in newer)
                return progress.with_logs(lines[i] for i in sorted(lines, reverse=True)[:LOG_LIMIT])
        return await sync.progress(key)

    def nudge(self) -> None:
        """Something was just written here (a route): no copy is fresh any more, and the
        pages hear of it now rather than at the next poll."""
        self._generation += 1
        for view in self._views.values():
            view.checked = float("-inf")
        self._wake.set()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        failures = 0
        while True:
            if not self.clients:
                # Nobody watches: no queries at all until a page connects.
                self._fingerprint = None
                self._wake.clear()
                await self._wake.wait()
                continue
            started = loop.time()
            self._wake.clear()
            try:
                await self.check_owners(started)
                await self._tick(started)
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception:
                failures += 1
                if failures == 1 or failures % 100 == 0:
                    log.exception("live progress: polling the database failed (%d)", failures)
                await asyncio.sleep(min(5.0, self.poll * 2**failures))
                continue
            wait = self.poll - (loop.time() - started)
            if wait > 0:
                await wait_any(self._wake, timeout=wait)

    async def _tick(self, started: float) -> None:
        """One look: has anything changed? Then bring the watched runs' copies up to
        date and send each page what it lacks."""
        self.stats.ticks += 1
        await self._look(started)
        now = asyncio.get_running_loop().time()
        for key in {c.watch for c in self.clients}:
            cached = self._views.get(key)
            if cached is None or cached.checked < started or self._due(cached, now):
                await self._refresh(key, started)
        encoded: dict[tuple[Any, ...], str] = {}
        for client in list(self.clients):
            await self.deliver(client, self._views.get(client.watch), encoded, now)

    async def _look(self, started: float) -> None:
        """Ask the database whether anything changed; when nothing did, every copy
        confirmed at the last look (or made since) is confirmed again."""
        generation = self._generation
        fingerprint = await self.app[SYNCPAY].sync.fingerprint()
        if fingerprint != self._fingerprint:
            self.stats.changes += 1
        elif generation == self._generation:
            for view in self._views.values():
                if view.checked >= self._checked_at:
                    view.checked = started
        self._fingerprint = fingerprint
        self._checked_at = started

    async def _refresh(self, key: Watch, started: float) -> None:
        """A watched run's copy, computed again."""
        try:
            await self._compute_shared(key, since=started)
        except RunNotFound:
            # The watched run is gone (tables emptied): follow the latest again.
            for client in self.clients:
                if client.watch == key:
                    client.watch = client.latest
                    client.forget()


#: The application's hub.
HUB = web.AppKey("hub", LiveHub)
