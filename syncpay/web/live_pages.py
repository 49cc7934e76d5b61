"""The open sync pages of the live hub (:mod:`.live`): what each page watches and has
been sent, whose session it belongs to, and sending each page what it lacks.

A message is the progress object of SPEC §6 plus ``"type": "progress"`` and
``"logs_mode"``: ``"replace"`` (``logs`` is the run's latest lines; the first message, a
different run, or a page that fell too far behind) or ``"append"`` (``logs`` holds only
the lines the page has not received yet, newest first).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import WSCloseCode, web

from ..sync.activity import LOG_LIMIT
from ..sync.progress import Progress

log = logging.getLogger("syncpay.web.live")

#: A page that has not taken a message within this many seconds is dropped.
SEND_TIMEOUT = 10.0
#: Seconds between two checks that the open pages' sessions and tokens still count (a
#: logout here closes its pages at once; an expiry, a revocation or a logout elsewhere
#: within this time).
SESSION_CHECK = 5.0
#: The close code of a page whose session or token ended (the page does not reconnect).
SESSION_ENDED = WSCloseCode.POLICY_VIOLATION
#: Bytes waiting in a page's socket buffer beyond which the page counts as slow.
SLOW_BUFFER = 32 * 1024


@dataclass
class View:
    """The progress object of one run (key ``None``: the latest run)."""

    version: int
    progress: Progress
    #: Loop times: when it was computed, when the database last confirmed it.
    computed: float
    checked: float
    #: The ids of its log lines (what a page that got this view has).
    log_ids: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        self.log_ids = frozenset(line.id for line in self.progress.logs)


@dataclass(frozen=True, slots=True)
class LatestOf:
    """What a scoped petugas's page follows instead of the latest run: the newest run
    ``started_by`` started (they see no other run)."""

    started_by: str


#: What a page watches: a run by id, the latest run (None), or :class:`LatestOf` a user.
Watch = int | LatestOf | None


@dataclass(eq=False)
class LiveClient:
    """One open page: what it watches and what it has been sent."""

    ws: web.WebSocketResponse
    watch: Watch = None
    #: What "the latest run" means for this page (``{"run_id": null}``, a watched run
    #: gone): None, or :class:`LatestOf` the scoped petugas whose page it is.
    latest: Watch = None
    #: The view version, run and log lines the page has.
    version: int = -1
    run_id: int | None = None
    log_ids: frozenset[int] | None = None
    sending: bool = False
    sent: int = 0
    #: The connection (its write buffer tells a page that does not read).
    transport: asyncio.Transport | None = None
    slow_since: float | None = None
    #: Whose page it is ("s:<session id>" or "t:<token hash>") and whether that session
    #: or token still counts: the socket closes when it ends.
    owner: str | None = None
    signed_in: Callable[[], Awaitable[bool]] | None = None

    def forget(self) -> None:
        """Start over: the next message replaces everything the page shows."""
        self.version = -1
        self.log_ids = None


@dataclass
class Stats:
    """What the hub did (tests and the metrics read them)."""

    ticks: int = 0
    changes: int = 0
    computed: int = 0
    messages: int = 0
    served: int = 0


class LivePages:
    """The open pages and the sending to them (the hub's base class)."""

    def __init__(self) -> None:
        self.clients: set[LiveClient] = set()
        self.stats = Stats()
        self.session_check = SESSION_CHECK
        self._owners_checked = float("-inf")
        self._sends: set[asyncio.Task[None]] = set()
        self._closing = False
        self._wake = asyncio.Event()

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

    def attach(
        self,
        ws: web.WebSocketResponse,
        watch: Watch = None,
        transport: asyncio.Transport | None = None,
        owner: str | None = None,
        signed_in: Callable[[], Awaitable[bool]] | None = None,
        latest: Watch = None,
    ) -> LiveClient:
        """A new page: it gets the current object at once, then every change."""
        client = LiveClient(
            ws, watch, latest, transport=transport, owner=owner, signed_in=signed_in
        )
        self.clients.add(client)
        self._wake.set()
        return client

    def detach(self, client: LiveClient) -> None:
        self.clients.discard(client)

    async def end(self, owner: str) -> None:
        """A session or token ended (logout): its pages' sockets close now."""
        ended = [c for c in self.clients if c.owner == owner]
        await asyncio.gather(*(self.close_ended(c) for c in ended), return_exceptions=True)

    async def close_ended(self, client: LiveClient) -> None:
        self.detach(client)
        if not client.ws.closed:
            with contextlib.suppress(Exception):
                await client.ws.close(code=SESSION_ENDED, message=b"session ended")

    async def check_owners(self, now: float) -> None:
        """Close the pages whose session or token no longer counts (one check per owner)."""
        if now - self._owners_checked < self.session_check:
            return
        self._owners_checked = now
        pages: dict[str, list[LiveClient]] = {}
        for client in self.clients:
            if client.owner is not None and client.signed_in is not None:
                pages.setdefault(client.owner, []).append(client)
        for clients in pages.values():
            assert clients[0].signed_in is not None
            if not await clients[0].signed_in():
                for client in clients:
                    await self.close_ended(client)

    def watch(self, client: LiveClient, run_id: Watch) -> None:
        """The page wants run ``run_id`` (``None``: the latest) from now on."""
        client.watch = run_id
        client.forget()
        self._wake.set()

    # --- sending --------------------------------------------------------------------------

    async def deliver(
        self,
        client: LiveClient,
        view: View | None,
        encoded: dict[tuple[Any, ...], str],
        now: float,
    ) -> None:
        """Send the page what it lacks. Small messages are written here, one page after
        the other (a write to a page that reads does not wait); a page whose socket
        buffer is filling up is skipped until it drains, and dropped if it does not
        within :data:`SEND_TIMEOUT`. A large message (a whole log) goes in a task.
        ``view``: the copy of the run the page watches."""
        if view is None or client.sending or client.version == view.version:
            return
        transport = client.transport
        if client.ws.closed or transport is None or transport.is_closing():
            self.detach(client)
            return
        if transport.get_write_buffer_size() > SLOW_BUFFER:
            if client.slow_since is None:
                client.slow_since = now
            elif now - client.slow_since > SEND_TIMEOUT:
                await self._drop(client, "not reading")
            return
        client.slow_since = None
        text = self._message(client, view, encoded)
        if len(text) > SLOW_BUFFER:
            client.sending = True
            task = asyncio.create_task(self._send(client, text, view))
            self._sends.add(task)
            task.add_done_callback(self._sends.discard)
            return
        try:
            await client.ws.send_str(text)
        except Exception as exc:
            await self._drop(client, type(exc).__name__)
            return
        self._sent(client, view)

    async def _send(self, client: LiveClient, text: str, view: View) -> None:
        try:
            await asyncio.wait_for(client.ws.send_str(text), SEND_TIMEOUT)
        except Exception as exc:  # gone or too slow: drop the page (it reconnects)
            client.sending = False
            await self._drop(client, type(exc).__name__)
            return
        client.sending = False
        self._sent(client, view)

    def _sent(self, client: LiveClient, view: View) -> None:
        client.version, client.run_id = view.version, view.progress.run_id
        client.log_ids = view.log_ids
        client.sent += 1
        self.stats.messages += 1

    async def _drop(self, client: LiveClient, why: str) -> None:
        self.detach(client)
        log.debug("live progress: dropping a page (%s)", why)
        if not client.ws.closed:
            with contextlib.suppress(Exception):
                await client.ws.close(code=WSCloseCode.TRY_AGAIN_LATER)

    def _message(self, client: LiveClient, view: View, encoded: dict[tuple[Any, ...], str]) -> str:
        """The JSON for this page: the lines it lacks ("append"), or everything. Lines are
        compared by id, not by "newer than the newest": on MySQL a line can commit after
        a line with a higher id."""
        progress = view.progress
        logs = progress.logs  # newest first
        has = client.log_ids if client.run_id == progress.run_id else None
        key = (view.version, None if has is None else id(has))
        text = encoded.get(key)
        if text is None:
            body = progress.to_json()
            body["type"] = "progress"
            body["logs_mode"] = "replace"
            if has is not None:
                lacking = [line for line in logs if line.id not in has]
                # Every line new: some in between may be missing, so replace.
                if not (len(lacking) == len(logs) >= LOG_LIMIT):
                    body["logs"] = [line.to_json() for line in lacking]
                    body["logs_mode"] = "append"
            text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
            encoded[key] = text
        return text
