"""Live progress for the sync page: one hub per process pushes the progress object to
every open WebSocket.

Progress lives in the database and may be made by workers in other processes or on
other machines, so the hub does not wait for local events: while at least one page is
connected it asks the database a cheap "has anything changed?" question every
:data:`POLL` seconds (one query for all pages, :meth:`Sync.fingerprint`). When the answer
changes it computes the progress object once per run being watched and sends it to the
pages watching that run. The polling interval also coalesces bursts: at most one message
per page per interval.

Messages are the progress object of SPEC §6 plus ``"type": "progress"`` and
``"logs_mode"``: ``"replace"`` (``logs`` is the run's latest lines; the first message, a
different run, or a page that fell too far behind) or ``"append"`` (``logs`` holds only
the lines the page has not received yet, newest first). A page may send
``{"run_id": N}`` to watch run N, ``{"run_id": null}`` to follow the latest run again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from dataclasses import dataclass
from typing import Any

from aiohttp import WSCloseCode, web

from ..sync.runs import RunNotFound
from .keys import SYNCPAY

log = logging.getLogger("syncpay.web.live")

#: Seconds between two "has anything changed?" queries while a page is connected.
POLL = 0.1
#: A running run's object is recomputed at least this often (elapsed time, rate, ETA).
REFRESH = 1.0
#: A page that has not taken a message within this many seconds is dropped.
SEND_TIMEOUT = 10.0
#: The log lines a progress object carries (``Sync.progress``'s own limit).
LOG_LIMIT = 200


@dataclass
class View:
    """The progress object of one watched run (``None``: the latest run)."""

    version: int
    progress: dict[str, Any]
    at: float


@dataclass(eq=False)
class LiveClient:
    """One open page: what it watches and what it has been sent."""

    ws: web.WebSocketResponse
    watch: int | None = None
    #: The view version, run and newest log line the page has.
    version: int = -1
    run_id: int | None = None
    last_log: int | None = None
    sending: bool = False
    sent: int = 0

    def forget(self) -> None:
        """Start over: the next message replaces everything the page shows."""
        self.version = -1
        self.last_log = None


@dataclass
class _Stats:
    ticks: int = 0
    changes: int = 0
    computed: int = 0
    messages: int = 0


class LiveHub:
    """Pushes the progress object to every connected sync page."""

    def __init__(self, app: web.Application, *, poll: float = POLL) -> None:
        self.app = app
        self.poll = poll
        self.clients: set[LiveClient] = set()
        self.stats = _Stats()
        self._views: dict[int | None, View] = {}
        self._fingerprint: tuple[Any, ...] | None = None
        self._versions = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._sends: set[asyncio.Task[None]] = set()
        self._closing = False

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
        for send in list(self._sends):
            send.cancel()
        if self._sends:
            await asyncio.gather(*self._sends, return_exceptions=True)
        await self.shutdown()

    async def shutdown(self) -> None:
        """Close every page's socket with 1001 (going away); the pages reconnect later."""
        self._closing = True
        clients, self.clients = list(self.clients), set()
        await asyncio.gather(
            *(
                c.ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutting down")
                for c in clients
            ),
            return_exceptions=True,
        )

    # --- pages ----------------------------------------------------------------------------

    @property
    def closing(self) -> bool:
        return self._closing

    def attach(self, ws: web.WebSocketResponse, watch: int | None = None) -> LiveClient:
        """A new page: it gets the current object at once, then every change."""
        client = LiveClient(ws, watch)
        self.clients.add(client)
        if not self._deliver(client):
            self.nudge()
        return client

    def detach(self, client: LiveClient) -> None:
        self.clients.discard(client)

    def watch(self, client: LiveClient, run_id: int | None) -> None:
        """The page wants run ``run_id`` (``None``: the latest) from now on."""
        client.watch = run_id
        client.forget()
        if not self._deliver(client):
            self.nudge()

    def nudge(self) -> None:
        """Look now instead of at the next poll (a route just changed something)."""
        self._wake.set()

    # --- the loop -------------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        failures = 0
        while True:
            if not self.clients:
                # Nobody watches: no queries at all until a page connects.
                self._views.clear()
                self._fingerprint = None
                self._wake.clear()
                await self._wake.wait()
            started = loop.time()
            self._wake.clear()
            try:
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
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)

    async def _tick(self, now: float) -> None:
        sync = self.app[SYNCPAY].sync
        self.stats.ticks += 1
        fingerprint = await sync.fingerprint()
        changed = fingerprint != self._fingerprint
        self._fingerprint = fingerprint
        if changed:
            self.stats.changes += 1
        watched = {c.watch for c in self.clients}
        for key in list(self._views):
            if key not in watched:
                del self._views[key]
        for key in watched:
            view = self._views.get(key)
            due = view is not None and view.progress["isRunning"] and now - view.at >= REFRESH
            if view is not None and not changed and not due:
                continue
            try:
                progress = await sync.progress(key)
            except RunNotFound:
                # The watched run is gone (tables emptied): follow the latest again.
                for client in self.clients:
                    if client.watch == key:
                        client.watch = None
                        client.forget()
                continue
            self.stats.computed += 1
            if view is None or progress != view.progress:
                self._versions += 1
                self._views[key] = View(self._versions, progress, now)
            else:
                view.at = now
        encoded: dict[tuple[Any, ...], str] = {}
        for client in list(self.clients):
            self._deliver(client, encoded)

    # --- sending --------------------------------------------------------------------------

    def _deliver(
        self, client: LiveClient, encoded: dict[tuple[Any, ...], str] | None = None
    ) -> bool:
        """Send the page what it lacks, unless a send to it is still in flight (the page
        then gets everything it missed after that send). Whether a view was there."""
        view = self._views.get(client.watch)
        if view is None:
            return False
        if client.sending or client.version == view.version or client.ws.closed:
            return True
        text, last_log = self._message(client, view.progress, {} if encoded is None else encoded)
        client.sending = True
        task = asyncio.create_task(
            self._send(client, text, view.version, view.progress["run_id"], last_log)
        )
        self._sends.add(task)
        task.add_done_callback(self._sends.discard)
        return True

    def _message(
        self, client: LiveClient, progress: dict[str, Any], encoded: dict[tuple[Any, ...], str]
    ) -> tuple[str, int]:
        logs: list[dict[str, Any]] = progress["logs"]  # newest first
        newest = int(logs[0]["id"]) if logs else 0
        mode = "replace"
        after = 0
        if client.last_log is not None and client.run_id == progress["run_id"]:
            newer = sum(1 for line in logs if int(line["id"]) > client.last_log)
            # All LOG_LIMIT lines new: lines may be missing in between, so replace.
            if not (newer == len(logs) and len(logs) >= LOG_LIMIT):
                mode, after = "append", client.last_log
        key = (id(progress), mode, after)
        text = encoded.get(key)
        if text is None:
            body = dict(progress)
            if mode == "append":
                body["logs"] = [line for line in logs if int(line["id"]) > after]
            body["type"] = "progress"
            body["logs_mode"] = mode
            text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
            encoded[key] = text
        return text, max(newest, after)

    async def _send(
        self, client: LiveClient, text: str, version: int, run_id: int | None, last_log: int
    ) -> None:
        try:
            await asyncio.wait_for(client.ws.send_str(text), SEND_TIMEOUT)
        except Exception as exc:  # gone or too slow: drop the page (it reconnects)
            client.sending = False
            self.detach(client)
            log.debug("live progress: dropping a page (%s)", type(exc).__name__)
            if not client.ws.closed:
                with contextlib.suppress(Exception):
                    await client.ws.close(code=WSCloseCode.TRY_AGAIN_LATER)
            return
        client.sending = False
        client.version, client.run_id, client.last_log = version, run_id, last_log
        client.sent += 1
        self.stats.messages += 1
        if client in self.clients:
            self._deliver(client)  # anything that changed while this was in flight


#: The application's hub.
HUB = web.AppKey("hub", LiveHub)
